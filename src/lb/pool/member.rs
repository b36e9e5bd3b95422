//! What the pool knows of one backend: its state, weights, agent reports,
//! counters and latency estimates, split into the line a pick touches
//! ([`Member`]) and the rest ([`Record`]).

use std::fmt;
use std::time::{Duration, Instant};

use super::latency::LatencyHistogram;
use crate::lb::strategy::ewma::PeakEwma;

/// Whether a backend takes new work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendState {
    /// In rotation.
    #[default]
    Up,
    /// Failed its health checks: no new work.
    Down,
    /// Finishes its in-flight work and gets no new work.
    Drain,
    /// Like [`BackendState::Drain`], set by an operator or the backend's agent.
    Maint,
}

impl BackendState {
    /// The lowercase name shown on stats pages and accepted by admin commands.
    pub fn name(self) -> &'static str {
        match self {
            BackendState::Up => "up",
            BackendState::Down => "down",
            BackendState::Drain => "drain",
            BackendState::Maint => "maint",
        }
    }
}

impl fmt::Display for BackendState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Counters the strategies read, one set per backend.
#[derive(Debug, Clone, Default)]
pub struct BackendStats {
    /// Connections (requests, in HTTP mode) picked and not yet finished.
    pub active: u32,
    /// The most `active` has been since start.
    pub max_active: u32,
    /// Finished picks with a measured duration.
    pub completed: u64,
    /// Sum of the measured durations.
    pub total_time: Duration,
    /// Connect failures since the last success.
    pub consecutive_failures: u32,
    /// All connect failures.
    pub failures: u64,
    /// Sits out of rotation until then (passive check).
    pub backoff_until: Option<Instant>,
}

impl BackendStats {
    /// Mean of the completed durations; zero before the first one.
    pub fn mean_time(&self) -> Duration {
        if self.completed == 0 {
            Duration::ZERO
        } else {
            let nanos = self.total_time.as_nanos() / u128::from(self.completed);
            Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
        }
    }

    /// True while the backend sits out a passive-check backoff.
    pub fn in_backoff(&self, now: Instant) -> bool {
        self.backoff_until.is_some_and(|until| now < until)
    }
}

/// What a pick, its finish and the strategies read and write of one
/// backend, in one cache line: with 10,000 backends a pick that lands on a
/// backend not in the cache costs one miss, not one per field scattered over
/// a larger record. The rest lives in [`Record`].
#[derive(Debug, Clone)]
#[repr(align(64))]
pub(super) struct Member {
    /// Unique within the pool's life: tells a pick's backend apart from a
    /// backend that took its index after a reload.
    pub serial: u64,
    /// Finished picks with a measured duration.
    pub completed: u64,
    /// Sum of the measured durations, in nanoseconds.
    pub total_nanos: u64,
    pub ewma: PeakEwma,
    /// Picks not yet finished.
    pub active: u32,
    /// The most `active` has been.
    pub max_active: u32,
    /// Connect failures since the last success.
    pub consecutive_failures: u32,
    /// At most this many active picks: the agent's cap, [`NO_CAP`] without one.
    pub cap: u32,
    /// As the agent last set it (the configured weight until then).
    pub effective_weight: u16,
    /// Load in percent the agent reported.
    pub load: Option<u8>,
    pub state: BackendState,
}

/// The cap of a backend without one (no backend holds 2^32 - 1 picks).
pub(super) const NO_CAP: u32 = u32::MAX;

/// What the pool keeps of one backend besides its [`Member`] line: read by
/// stats and reloads, written on failures.
#[derive(Debug, Clone)]
pub(super) struct Record {
    pub name: String,
    /// As configured.
    pub weight: u16,
    /// The agent's cap, as reported.
    pub max_conn: Option<u32>,
    /// All connect failures.
    pub failures: u64,
    /// Sits out of rotation until then (passive check).
    pub backoff_until: Option<Instant>,
    /// All finished picks' latencies.
    pub latency: LatencyHistogram,
}

impl Member {
    pub fn new(serial: u64, weight: u16) -> Self {
        Self {
            serial,
            completed: 0,
            total_nanos: 0,
            ewma: PeakEwma::default(),
            active: 0,
            max_active: 0,
            consecutive_failures: 0,
            cap: NO_CAP,
            effective_weight: weight,
            load: None,
            state: BackendState::Up,
        }
    }

    /// May take new work: up, with a weight, and under its connection cap.
    pub fn available(&self) -> bool {
        self.state == BackendState::Up && self.effective_weight > 0 && self.active < self.cap
    }

    /// Mean of the completed durations; zero before the first one.
    pub fn mean_time(&self) -> Duration {
        Duration::from_nanos(self.total_nanos.checked_div(self.completed).unwrap_or(0))
    }

    /// The counters as [`BackendStats`], with the record's.
    pub fn stats(&self, record: &Record) -> BackendStats {
        BackendStats {
            active: self.active,
            max_active: self.max_active,
            completed: self.completed,
            total_time: Duration::from_nanos(self.total_nanos),
            consecutive_failures: self.consecutive_failures,
            failures: record.failures,
            backoff_until: record.backoff_until,
        }
    }
}

impl Record {
    pub fn new(name: String, weight: u16) -> Self {
        Self {
            name,
            weight,
            max_conn: None,
            failures: 0,
            backoff_until: None,
            latency: LatencyHistogram::default(),
        }
    }

    /// True while the backend sits out a passive-check backoff.
    pub fn in_backoff(&self, now: Instant) -> bool {
        self.backoff_until.is_some_and(|until| now < until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_fills_one_cache_line() {
        assert_eq!(std::mem::size_of::<Member>(), 64);
    }
}
