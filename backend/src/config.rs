//! The backend's settings, their defaults and their validation.
//!
//! Plain data: the binary fills it from flags, the `distloop cluster`
//! command fills it in code, and [`crate::Server::bind`] checks it.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

/// How a backend listens and how fast it answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The address to listen on (port 0 picks a free port).
    pub listen: SocketAddr,
    /// The `X-Backend` value; the bound address when `None`.
    pub name: Option<String>,
    /// How many π computations may run at once (at least 1).
    pub threads: usize,
    /// Every request takes this many times as long as it would (>= 1).
    pub slowdown: f64,
    /// A fixed delay added to every request.
    pub delay: Duration,
}

impl Config {
    /// A backend on `listen` with the defaults: named after its address, one
    /// compute thread per core, no slowdown and no delay.
    pub fn new(listen: SocketAddr) -> Config {
        Config {
            listen,
            name: None,
            threads: default_threads(),
            slowdown: 1.0,
            delay: Duration::ZERO,
        }
    }

    /// Checks the settings that a type cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.threads == 0 {
            return Err(ConfigError::NoThreads);
        }
        if !(self.slowdown.is_finite() && self.slowdown >= 1.0) {
            return Err(ConfigError::BadSlowdown(self.slowdown));
        }
        if self
            .name
            .as_deref()
            .is_some_and(|name| !is_header_safe(name))
        {
            return Err(ConfigError::BadName);
        }
        Ok(())
    }
}

/// The number of cores, or 1 when it cannot be known.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Whether `name` can stand in a header value as it is.
fn is_header_safe(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b == b' ' || b == b'\t' || b.is_ascii_graphic())
}

/// A setting out of range.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigError {
    /// `threads` is 0.
    NoThreads,
    /// `slowdown` is below 1 or not a finite number.
    BadSlowdown(f64),
    /// `name` is empty or holds characters a header value cannot.
    BadName,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::NoThreads => write!(f, "threads must be at least 1"),
            ConfigError::BadSlowdown(value) => {
                write!(f, "slowdown must be a number >= 1, not {value}")
            }
            ConfigError::BadName => {
                write!(
                    f,
                    "name must be non-empty printable ASCII (it goes into X-Backend)"
                )
            }
        }
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config::new("127.0.0.1:0".parse().unwrap())
    }

    #[test]
    fn defaults_are_valid() {
        let config = config();
        assert_eq!(config.validate(), Ok(()));
        assert!(config.threads >= 1);
        assert_eq!(config.slowdown, 1.0);
        assert_eq!(config.delay, Duration::ZERO);
    }

    #[test]
    fn zero_threads_is_refused() {
        let config = Config {
            threads: 0,
            ..config()
        };
        assert_eq!(config.validate(), Err(ConfigError::NoThreads));
    }

    #[test]
    fn slowdown_below_one_or_not_finite_is_refused() {
        for slowdown in [0.5, -1.0, f64::NAN, f64::INFINITY] {
            let config = Config {
                slowdown,
                ..config()
            };
            assert!(matches!(
                config.validate(),
                Err(ConfigError::BadSlowdown(_))
            ));
        }
    }

    #[test]
    fn names_that_would_break_the_header_are_refused() {
        for name in ["", "a\r\nX-Evil: 1", "caf\u{e9}"] {
            let config = Config {
                name: Some(name.to_string()),
                ..config()
            };
            assert_eq!(config.validate(), Err(ConfigError::BadName), "{name:?}");
        }
    }
}
