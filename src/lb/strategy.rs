//! Balancing strategies: which backend serves the next connection or request.
//!
//! Sans-IO: a strategy reads the pool's counters and the current time, and
//! returns an index. It opens no socket and reads no clock.

use std::fmt;
use std::str::FromStr;

/// How the balancer chooses a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Always the first available backend in list order.
    NToOne,
    /// Each backend in turn, in list order.
    RoundRobin,
    /// The backend with the fewest active connections (requests), ties to list order.
    LeastConnections,
    /// The backend with the smallest average completed duration (none yet counts
    /// as zero); ties to the fewest active, then list order.
    LeastResponseTime,
}

impl Strategy {
    /// Every strategy, in the order the documentation lists them.
    pub const ALL: [Strategy; 4] = [
        Strategy::NToOne,
        Strategy::RoundRobin,
        Strategy::LeastConnections,
        Strategy::LeastResponseTime,
    ];

    /// The canonical command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::NToOne => "n-to-1",
            Strategy::RoundRobin => "round-robin",
            Strategy::LeastConnections => "least-connections",
            Strategy::LeastResponseTime => "least-response-time",
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A strategy name that matches no strategy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownStrategy(pub String);

impl fmt::Display for UnknownStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = Strategy::ALL.iter().map(|s| s.name()).collect();
        write!(
            f,
            "unknown strategy `{}` (expected one of: {})",
            self.0,
            names.join(", ")
        )
    }
}

impl std::error::Error for UnknownStrategy {}

impl FromStr for Strategy {
    type Err = UnknownStrategy;

    /// Accepts the canonical names and the original project's class names
    /// (`N2One`, `RoundRobin`, `LeastConnections`, `LeastResponseTime`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "n-to-1" | "n2one" | "N2One" => Ok(Strategy::NToOne),
            "round-robin" | "RoundRobin" => Ok(Strategy::RoundRobin),
            "least-connections" | "LeastConnections" => Ok(Strategy::LeastConnections),
            "least-response-time" | "LeastResponseTime" => Ok(Strategy::LeastResponseTime),
            other => Err(UnknownStrategy(other.to_string())),
        }
    }
}
