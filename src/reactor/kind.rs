//! Typed tokens and timer payloads.
//!
//! mio hands a service one number per socket event (a [`Token`]) and the
//! timers hand back one number per expiry (a payload). A service names the
//! kinds of its sockets and of its timers as two fieldless enums that
//! implement [`Kind`]; this module packs a kind and a key (a slab index, a
//! check slot, or 0 for a kind that has one member) into that number and
//! unpacks it again, so that no service does the arithmetic by hand.
//!
//! A part that runs inside a service with numbers of its own (the health
//! checks inside a balancer) is handed a [`Lane`]: one kind of the
//! service's numbering, in which the part numbers its keys. The service
//! decodes the kind and passes the part its key.
//!
//! ```
//! use distloop::reactor::{Kind, Token};
//!
//! #[derive(Debug, Clone, Copy, PartialEq, Eq)]
//! enum Sockets {
//!     Listener,
//!     Client,
//! }
//!
//! impl Kind for Sockets {
//!     const ALL: &'static [Self] = &[Self::Listener, Self::Client];
//! }
//!
//! let token: Token = Sockets::Client.token(7);
//! assert_eq!(Sockets::of_token(token), Some((Sockets::Client, 7)));
//! ```

use std::fmt::Debug;

use super::{FIRST_RESERVED_TOKEN, Token};

/// The kinds of one service's tokens or timers, listed in [`Kind::ALL`].
///
/// A value is packed as `key * ALL.len() + position in ALL`: the kinds take
/// turns, so small keys make small numbers whatever the kind.
pub trait Kind: Copy + Eq + Debug + 'static {
    /// Every kind, each once. The order is the packing; it is never stored
    /// outside the process, so it may change freely.
    const ALL: &'static [Self];

    /// The token of the socket with this kind and `key`.
    fn token(self, key: usize) -> Token {
        Lane::of(self).token(key)
    }

    /// The timer payload of this kind and `key`.
    fn timer(self, key: usize) -> u64 {
        Lane::of(self).timer(key)
    }

    /// The kind and key packed in `token`; `None` for a token the reactor
    /// keeps for itself.
    fn of_token(token: Token) -> Option<(Self, usize)> {
        if token.0 >= FIRST_RESERVED_TOKEN {
            return None;
        }
        unpack(token.0)
    }

    /// The kind and key packed in a timer payload; `None` when the payload
    /// was not made by [`Kind::timer`] of this type.
    fn of_timer(payload: u64) -> Option<(Self, usize)> {
        usize::try_from(payload).ok().and_then(unpack)
    }
}

fn unpack<K: Kind>(value: usize) -> Option<(K, usize)> {
    let kinds = K::ALL.len();
    Some((*K::ALL.get(value % kinds)?, value / kinds))
}

fn position<K: Kind>(kind: K) -> usize {
    K::ALL
        .iter()
        .position(|k| *k == kind)
        .expect("every kind is listed in Kind::ALL")
}

/// One kind of a service's numbering, handed to a part that numbers its own
/// keys within it (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lane {
    first: usize,
    stride: usize,
}

impl Lane {
    /// The lane of `kind`.
    pub fn of<K: Kind>(kind: K) -> Self {
        Self {
            first: position(kind),
            stride: K::ALL.len(),
        }
    }

    /// The token of `key` in this lane.
    pub fn token(self, key: usize) -> Token {
        Token(self.first + key * self.stride)
    }

    /// The timer payload of `key` in this lane.
    pub fn timer(self, key: usize) -> u64 {
        (self.first + key * self.stride) as u64
    }

    /// The key of `token` when it is in this lane.
    pub fn key_of_token(self, token: Token) -> Option<usize> {
        self.key_of(token.0)
    }

    /// The key of a timer payload when it is in this lane.
    pub fn key_of_timer(self, payload: u64) -> Option<usize> {
        usize::try_from(payload).ok().and_then(|v| self.key_of(v))
    }

    fn key_of(self, value: usize) -> Option<usize> {
        let offset = value.checked_sub(self.first)?;
        (offset % self.stride == 0).then_some(offset / self.stride)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Sockets {
        Listener,
        Client,
        Backend,
    }

    impl Kind for Sockets {
        const ALL: &'static [Self] = &[Self::Listener, Self::Client, Self::Backend];
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Timers {
        Idle,
        Tick,
    }

    impl Kind for Timers {
        const ALL: &'static [Self] = &[Self::Idle, Self::Tick];
    }

    #[test]
    fn every_kind_and_key_comes_back_as_it_went_in() {
        for kind in Sockets::ALL {
            for key in [0, 1, 2, 1000, 1 << 30] {
                assert_eq!(Sockets::of_token(kind.token(key)), Some((*kind, key)));
            }
        }
        for kind in Timers::ALL {
            for key in [0, 5, 1 << 40] {
                assert_eq!(Timers::of_timer(kind.timer(key)), Some((*kind, key)));
            }
        }
    }

    #[test]
    fn distinct_kinds_or_keys_never_share_a_number() {
        let mut seen = std::collections::HashSet::new();
        for kind in Sockets::ALL {
            for key in 0..100 {
                assert!(seen.insert(kind.token(key)), "{kind:?} {key}");
            }
        }
    }

    #[test]
    fn reserved_tokens_belong_to_no_kind() {
        assert_eq!(Sockets::of_token(Token(usize::MAX - 1)), None);
        assert_eq!(Sockets::of_token(Token(FIRST_RESERVED_TOKEN)), None);
    }

    #[test]
    fn a_lane_numbers_a_part_inside_one_kind() {
        let lane = Lane::of(Sockets::Backend);
        let token = lane.token(4);
        assert_eq!(Sockets::of_token(token), Some((Sockets::Backend, 4)));
        assert_eq!(lane.key_of_token(token), Some(4));
        assert_eq!(lane.key_of_token(Sockets::Client.token(4)), None);
        let timers = Lane::of(Timers::Tick);
        assert_eq!(timers.key_of_timer(timers.timer(9)), Some(9));
        assert_eq!(timers.key_of_timer(Timers::Idle.timer(9)), None);
    }
}
