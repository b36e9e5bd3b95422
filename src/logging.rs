//! Leveled logging to stderr, chosen by `RUST_LOG` or `--log-level`.
//!
//! Deliberately tiny: one global level and four macros. Results go to stdout
//! through ordinary prints; everything here goes to stderr.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU8, Ordering};

/// How much to log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Level {
    /// Nothing at all.
    Off = 0,
    /// Failures that lose work.
    Error = 1,
    /// Trouble that was handled (a refused backend, a malformed frame).
    Warn = 2,
    /// Start, stop and configuration.
    Info = 3,
    /// Per-connection events.
    Debug = 4,
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);

/// Sets the global level.
pub fn set_level(level: Level) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

/// Sets the level from `RUST_LOG` (the last `=`-free word or the value after
/// `distloop=`), leaving the default when it is unset or unreadable.
pub fn init_from_env() {
    if let Ok(value) = std::env::var("RUST_LOG") {
        let word = value
            .split(',')
            .map(|part| part.rsplit('=').next().unwrap_or(part))
            .next_back()
            .unwrap_or("");
        if let Ok(level) = word.parse() {
            set_level(level);
        }
    }
}

/// True when messages at `level` are printed.
pub fn enabled(level: Level) -> bool {
    level as u8 <= LEVEL.load(Ordering::Relaxed)
}

/// A level name that is not one of off, error, warn, info, debug.
#[derive(Debug)]
pub struct UnknownLevel(String);

impl fmt::Display for UnknownLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown log level `{}` (expected off, error, warn, info or debug)",
            self.0
        )
    }
}

impl std::error::Error for UnknownLevel {}

impl FromStr for Level {
    type Err = UnknownLevel;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "off" => Ok(Level::Off),
            "error" => Ok(Level::Error),
            "warn" | "warning" => Ok(Level::Warn),
            "info" => Ok(Level::Info),
            "debug" | "trace" => Ok(Level::Debug),
            _ => Err(UnknownLevel(s.to_string())),
        }
    }
}

/// Logs at a level: `log!(Level::Warn, "backend {} refused", addr)`.
#[macro_export]
macro_rules! log {
    ($level:expr, $($arg:tt)*) => {
        if $crate::logging::enabled($level) {
            eprintln!("[{:5}] {}", format!("{:?}", $level).to_lowercase(), format_args!($($arg)*));
        }
    };
}

/// Logs an error.
#[macro_export]
macro_rules! error { ($($arg:tt)*) => { $crate::log!($crate::logging::Level::Error, $($arg)*) }; }
/// Logs a handled problem.
#[macro_export]
macro_rules! warn { ($($arg:tt)*) => { $crate::log!($crate::logging::Level::Warn, $($arg)*) }; }
/// Logs a lifecycle event.
#[macro_export]
macro_rules! info { ($($arg:tt)*) => { $crate::log!($crate::logging::Level::Info, $($arg)*) }; }
/// Logs a per-connection event.
#[macro_export]
macro_rules! debug { ($($arg:tt)*) => { $crate::log!($crate::logging::Level::Debug, $($arg)*) }; }
