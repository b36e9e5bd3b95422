//! Balancing strategies: which backend serves the next connection or request.
//!
//! Sans-IO: a strategy reads the backends' counters, the current time and a
//! key hash, and returns an index. It opens no socket and reads no clock.
//! This module names the strategies ([`Strategy`]); each one's definition
//! lives here, one file per idea:
//!
//! | strategy | definition |
//! |---|---|
//! | `n-to-1` | the first available backend in list order (no state) |
//! | `round-robin` | [`round_robin`] |
//! | `least-connections` | [`least_connections`] |
//! | `least-response-time` | [`least_response_time`] |
//! | `weighted-round-robin` | [`smooth`] (nginx's smooth weighted round-robin) |
//! | `power-of-two`, `peak-ewma` | [`two_choices`], with [`ewma`] for the latency cost |
//! | `consistent-hash` | [`ring`], over [`hash`]'s key hashes |
//! | `random` | [`random`] (also the seeded generator behind every random choice) |
//! | `least-load` | [`least_load`] |
//!
//! [`crate::lb::backend_set`] owns the per-backend counters and applies a
//! strategy: its plain scan hands each backend's figures to these
//! definitions, and its indexed fast paths (O(1) or O(log N) a pick) are
//! checked against that scan by its tests.

pub mod ewma;
pub mod hash;
pub mod least_connections;
pub mod least_load;
pub mod least_response_time;
pub mod random;
pub mod ring;
pub mod round_robin;
pub mod smooth;
pub mod two_choices;

use std::fmt;
use std::str::FromStr;

pub use hash::{hash_ip, hash_key};

/// How the balancer chooses a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Always the first available backend in list order.
    NToOne,
    /// Each backend in turn, in list order.
    RoundRobin,
    /// The backend with the fewest active connections (requests) per unit of
    /// weight, `(active + 1) / weight` as HAProxy's leastconn; ties to list order.
    LeastConnections,
    /// The backend with the smallest average completed duration (none yet counts
    /// as zero); ties to the fewest active, then list order.
    LeastResponseTime,
    /// nginx's smooth weighted round-robin: each backend gets its weight's
    /// share of every cycle, interleaved rather than in bursts.
    WeightedRoundRobin,
    /// Two distinct random candidates; the one with fewer active wins
    /// (Envoy's least request).
    PowerOfTwo,
    /// Two distinct random candidates; the lower `latency EWMA x (active + 1)`
    /// wins (Finagle's peak-EWMA).
    PeakEwma,
    /// A hash ring with virtual nodes per unit of weight: a key always lands
    /// on the same backend while that backend is available.
    ConsistentHash,
    /// A random backend, with probability proportional to its weight.
    Random,
    /// The backend with the lowest load its agent reported, round-robin among
    /// equals.
    LeastLoad,
}

impl Strategy {
    /// Every strategy, in the order the documentation lists them.
    pub const ALL: [Strategy; 10] = [
        Strategy::NToOne,
        Strategy::RoundRobin,
        Strategy::LeastConnections,
        Strategy::LeastResponseTime,
        Strategy::WeightedRoundRobin,
        Strategy::PowerOfTwo,
        Strategy::PeakEwma,
        Strategy::ConsistentHash,
        Strategy::Random,
        Strategy::LeastLoad,
    ];

    /// The canonical command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::NToOne => "n-to-1",
            Strategy::RoundRobin => "round-robin",
            Strategy::LeastConnections => "least-connections",
            Strategy::LeastResponseTime => "least-response-time",
            Strategy::WeightedRoundRobin => "weighted-round-robin",
            Strategy::PowerOfTwo => "power-of-two",
            Strategy::PeakEwma => "peak-ewma",
            Strategy::ConsistentHash => "consistent-hash",
            Strategy::Random => "random",
            Strategy::LeastLoad => "least-load",
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
        if let Some(strategy) = Strategy::ALL.into_iter().find(|x| x.name() == s) {
            return Ok(strategy);
        }
        match s {
            "n2one" | "N2One" => Ok(Strategy::NToOne),
            "RoundRobin" => Ok(Strategy::RoundRobin),
            "LeastConnections" => Ok(Strategy::LeastConnections),
            "LeastResponseTime" => Ok(Strategy::LeastResponseTime),
            other => Err(UnknownStrategy(other.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_canonical_name_parses_back_to_its_strategy() {
        for strategy in Strategy::ALL {
            assert_eq!(strategy.name().parse(), Ok(strategy));
        }
    }

    #[test]
    fn unknown_names_are_refused_with_the_list_of_names() {
        let err = "fastest".parse::<Strategy>().unwrap_err().to_string();
        assert!(
            err.contains("peak-ewma") && err.contains("least-load"),
            "{err}"
        );
    }
}
