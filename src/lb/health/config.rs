//! How health checks are configured: the check kind, interval, timeout and
//! the rise/fall counts, with HAProxy's defaults.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// Time between two checks of one backend (`--health-interval`, HAProxy's `inter`).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(2);
/// Longest a check may take (`--health-timeout`); when not given, this or the
/// interval, whichever is shorter (see [`default_timeout`]).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
/// Consecutive passed checks that bring a down backend back (`--rise`).
pub const DEFAULT_RISE: u32 = 2;
/// Consecutive failed checks that take an up backend down (`--fall`).
pub const DEFAULT_FALL: u32 = 3;
/// The shortest interval accepted: checks more often only load the backends.
pub const MIN_INTERVAL: Duration = Duration::from_millis(10);
/// The longest check path accepted, in bytes.
pub const MAX_PATH_BYTES: usize = 1024;

/// What an active health check does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckKind {
    /// Passes when a TCP connection is accepted (`tcp`).
    Tcp,
    /// Passes when `GET path` answers 2xx or 3xx (`http:/PATH`, or `http` for `/`).
    Http {
        /// The request target, starting with `/`.
        path: String,
    },
}

impl fmt::Display for CheckKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckKind::Tcp => f.write_str("tcp"),
            CheckKind::Http { path } => write!(f, "http:{path}"),
        }
    }
}

impl FromStr for CheckKind {
    type Err = HealthConfigError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || HealthConfigError::BadCheck(text.to_string());
        match text {
            "tcp" => return Ok(CheckKind::Tcp),
            "http" => {
                return Ok(CheckKind::Http {
                    path: "/".to_string(),
                });
            }
            _ => {}
        }
        let path = text.strip_prefix("http:").ok_or_else(bad)?;
        // The path goes into a request line verbatim: no spaces or controls,
        // which would let it smuggle in header fields.
        let valid = path.starts_with('/')
            && path.len() <= MAX_PATH_BYTES
            && path.bytes().all(|b| b.is_ascii_graphic());
        if !valid {
            return Err(bad());
        }
        Ok(CheckKind::Http {
            path: path.to_string(),
        })
    }
}

/// The health-check settings of one balancer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthConfig {
    /// The active check; `None` runs agent checks only (for backends with an agent port).
    pub check: Option<CheckKind>,
    /// Time between the end of one check and the start of the next.
    pub interval: Duration,
    /// Longest a check (connect, send, answer) may take; a timeout is a failure.
    pub timeout: Duration,
    /// Passes in a row that bring a down backend back.
    pub rise: u32,
    /// Failures in a row that take an up backend down.
    pub fall: u32,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            check: None,
            interval: DEFAULT_INTERVAL,
            timeout: default_timeout(DEFAULT_INTERVAL),
            rise: DEFAULT_RISE,
            fall: DEFAULT_FALL,
        }
    }
}

/// The timeout used when none is given: [`DEFAULT_TIMEOUT`], or the interval
/// when that is shorter, so that a check never outlives its turn.
pub fn default_timeout(interval: Duration) -> Duration {
    DEFAULT_TIMEOUT.min(interval)
}

impl HealthConfig {
    /// Checks the values a command line or a config file may get wrong.
    pub fn validate(&self) -> Result<(), HealthConfigError> {
        match self.problems().into_iter().next() {
            Some((_, problem)) => Err(problem),
            None => Ok(()),
        }
    }

    /// Every value out of range, each with its config-file key (`health.rise`).
    pub fn problems(&self) -> Vec<(&'static str, HealthConfigError)> {
        let mut found = Vec::new();
        if self.interval < MIN_INTERVAL {
            found.push((
                "health.interval",
                HealthConfigError::IntervalTooShort(self.interval),
            ));
        }
        if self.timeout.is_zero() {
            found.push(("health.timeout", HealthConfigError::ZeroTimeout));
        }
        if self.rise == 0 {
            found.push(("health.rise", HealthConfigError::ZeroCount("rise")));
        }
        if self.fall == 0 {
            found.push(("health.fall", HealthConfigError::ZeroCount("fall")));
        }
        found
    }
}

/// Why a health-check setting was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthConfigError {
    /// `--health-check` is neither `tcp` nor `http:/PATH`.
    BadCheck(String),
    /// The interval is below [`MIN_INTERVAL`].
    IntervalTooShort(Duration),
    /// The timeout is zero.
    ZeroTimeout,
    /// `rise` or `fall` is zero.
    ZeroCount(&'static str),
}

impl fmt::Display for HealthConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HealthConfigError::BadCheck(text) => write!(
                f,
                "health check `{text}` must be `tcp`, `http` or `http:/PATH` (no spaces)"
            ),
            HealthConfigError::IntervalTooShort(interval) => write!(
                f,
                "health interval {interval:?} is below the minimum of {MIN_INTERVAL:?}"
            ),
            HealthConfigError::ZeroTimeout => f.write_str("health timeout must be above zero"),
            HealthConfigError::ZeroCount(name) => write!(f, "--{name} must be at least 1"),
        }
    }
}

impl std::error::Error for HealthConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_kinds_parse_from_their_flag_values() {
        assert_eq!("tcp".parse(), Ok(CheckKind::Tcp));
        assert_eq!(
            "http:/healthz".parse(),
            Ok(CheckKind::Http {
                path: "/healthz".into()
            })
        );
        assert_eq!("http".parse(), Ok(CheckKind::Http { path: "/".into() }));
        let kind: CheckKind = "http:/a?b=c".parse().unwrap();
        assert_eq!(kind.to_string(), "http:/a?b=c");
    }

    #[test]
    fn check_paths_that_would_break_the_request_are_refused() {
        for text in [
            "udp",
            "http:",
            "http:health",
            "http:/a b",
            "http:/a\r\nX-Evil: 1",
            "HTTP:/x",
        ] {
            let err = text.parse::<CheckKind>().unwrap_err();
            assert!(err.to_string().contains("must be"), "{text}: {err}");
        }
        let long = format!("http:/{}", "a".repeat(MAX_PATH_BYTES));
        assert!(long.parse::<CheckKind>().is_err());
    }

    #[test]
    fn defaults_follow_haproxy() {
        let config = HealthConfig::default();
        assert_eq!(config.interval, Duration::from_secs(2));
        assert_eq!(config.timeout, Duration::from_secs(1));
        assert_eq!((config.rise, config.fall), (2, 3));
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn the_default_timeout_never_exceeds_the_interval() {
        assert_eq!(
            default_timeout(Duration::from_millis(300)),
            Duration::from_millis(300)
        );
        assert_eq!(default_timeout(Duration::from_secs(5)), DEFAULT_TIMEOUT);
    }

    #[test]
    fn validation_refuses_values_that_cannot_work() {
        let base = HealthConfig::default();
        let cases = [
            HealthConfig {
                interval: Duration::from_millis(1),
                ..base.clone()
            },
            HealthConfig {
                timeout: Duration::ZERO,
                ..base.clone()
            },
            HealthConfig {
                rise: 0,
                ..base.clone()
            },
            HealthConfig {
                fall: 0,
                ..base.clone()
            },
        ];
        for config in cases {
            assert!(config.validate().is_err(), "{config:?}");
        }
    }
}
