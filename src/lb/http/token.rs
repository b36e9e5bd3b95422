//! How the HTTP proxy names its sockets to the reactor (tokens) and its
//! deadlines (timer payloads): packed and unpacked here and nowhere else.
//! The health checks' tokens and timers are told apart first, by
//! [`Backends::owns_token`](crate::lb::backends::Backends::owns_token) and
//! [`Backends::owns_timer`](crate::lb::backends::Backends::owns_timer).

use crate::reactor::{FIRST_RESERVED_TOKEN, Token};

/// The listening socket.
pub(super) const LISTENER: Token = Token(FIRST_RESERVED_TOKEN - 1);

/// Whose socket a token names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Socket {
    Listener,
    /// A client connection, by its key.
    Client(usize),
    /// A backend connection, by its key.
    Backend(usize),
}

impl Socket {
    pub fn token(self) -> Token {
        match self {
            Socket::Listener => LISTENER,
            Socket::Client(key) => Token(key * 2),
            Socket::Backend(key) => Token(key * 2 + 1),
        }
    }

    pub fn of(token: Token) -> Self {
        match token {
            LISTENER => Socket::Listener,
            Token(n) if n % 2 == 0 => Socket::Client(n / 2),
            Token(n) => Socket::Backend(n / 2),
        }
    }
}

/// What a timer is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Timer {
    /// A client connection's deadline, by its key.
    Client(usize),
    /// Periodic upkeep: parked connections' age, stats, the access log,
    /// accept retries.
    Tick,
    /// The end of a graceful stop's drain.
    Drain,
}

const KIND_BITS: u32 = 2;
const KIND_CLIENT: u64 = 0;
const KIND_TICK: u64 = 1;
const KIND_DRAIN: u64 = 2;

impl Timer {
    pub fn payload(self) -> u64 {
        match self {
            Timer::Client(key) => ((key as u64) << KIND_BITS) | KIND_CLIENT,
            Timer::Tick => KIND_TICK,
            Timer::Drain => KIND_DRAIN,
        }
    }

    pub fn of(payload: u64) -> Self {
        match payload & ((1 << KIND_BITS) - 1) {
            KIND_CLIENT => Timer::Client((payload >> KIND_BITS) as usize),
            KIND_DRAIN => Timer::Drain,
            _ => Timer::Tick,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_timer_payloads_round_trip() {
        for socket in [Socket::Listener, Socket::Client(7), Socket::Backend(7)] {
            assert_eq!(Socket::of(socket.token()), socket);
        }
        for timer in [
            Timer::Client(0),
            Timer::Client(12345),
            Timer::Tick,
            Timer::Drain,
        ] {
            assert_eq!(Timer::of(timer.payload()), timer);
        }
    }
}
