//! How the TCP balancer names its sockets to the reactor (tokens) and its
//! deadlines (timer payloads): two kinds enums packed by
//! [`Kind`](crate::reactor::Kind), as in HTTP mode.

use crate::reactor::Kind;

/// What a token of the TCP balancer stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Socket {
    /// The listener (key 0).
    Listener,
    /// The client side of session `key`.
    Client,
    /// The backend side of session `key`.
    Backend,
    /// A health or agent check (key: its slot).
    Health,
    /// Not a socket: the queue's wake-up (key 0), see `tcp/waiting.rs`.
    Queue,
}

impl Kind for Socket {
    const ALL: &'static [Self] = &[
        Self::Listener,
        Self::Client,
        Self::Backend,
        Self::Health,
        Self::Queue,
    ];
}

/// What a timer of the TCP balancer stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Timer {
    /// Session `key`'s backend did not accept in time (or, while it waits
    /// in the queue, the queue timeout passed).
    Connect,
    /// Session `key` may have been idle too long.
    Idle,
    /// The periodic tick (stats, pool upkeep).
    Tick,
    /// A graceful stop's drain time is over.
    Drain,
    /// Accepting again after an accept error.
    AcceptRetry,
    /// A health or agent check (key: its slot).
    Health,
}

impl Kind for Timer {
    const ALL: &'static [Self] = &[
        Self::Connect,
        Self::Idle,
        Self::Tick,
        Self::Drain,
        Self::AcceptRetry,
        Self::Health,
    ];
}
