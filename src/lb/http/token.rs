//! How the HTTP proxy names its sockets to the reactor (tokens) and its
//! deadlines (timer payloads): two kinds enums packed by
//! [`Kind`](crate::reactor::Kind). The health checks number their probes
//! in the `Health` kind of each, handed to them as lanes.

use crate::reactor::Kind;

/// Whose socket a token names; the key is a slab index (0 for the listener).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Socket {
    Listener,
    /// A client connection.
    Client,
    /// A backend connection.
    Upstream,
    /// A health or agent check (key: its slot).
    Health,
    /// Not a socket: deferred when a slot frees while requests wait in the
    /// queue, to let the oldest in (key 0).
    Queue,
}

impl Kind for Socket {
    const ALL: &'static [Self] = &[
        Self::Listener,
        Self::Client,
        Self::Upstream,
        Self::Health,
        Self::Queue,
    ];
}

/// What a timer is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Timer {
    /// A client connection's deadline (key: the client's slab index).
    Client,
    /// Periodic upkeep: parked connections' age, stats, the access log.
    Tick,
    /// The end of a graceful stop's drain.
    Drain,
    /// Accepting again after an accept error.
    AcceptRetry,
    /// A health or agent check (key: its slot).
    Health,
}

impl Kind for Timer {
    const ALL: &'static [Self] = &[
        Self::Client,
        Self::Tick,
        Self::Drain,
        Self::AcceptRetry,
        Self::Health,
    ];
}
