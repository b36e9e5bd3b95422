//! What the set knows of one backend: its state, weights, agent reports,
//! counters and latency figures, split into what a pick touches
//! ([`Member`]) and the rest ([`Record`]).

use std::fmt;
use std::time::{Duration, Instant};

use crate::lb::strategy::ring::HashRing;

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

/// What a pick, its finish and the strategies read and write of every
/// backend they land on, in 16 bytes: four backends to a cache line, so the
/// lines of 10,000 backends (160 KiB) stay in the core's own cache where
/// 64-byte lines (640 KiB) did not, and a pick that lands on a random backend
/// reads that cache instead of a farther one. The rest lives in [`Record`],
/// the serials, counts, peak-EWMA estimates, reported loads and latency
/// histograms in dense lists of their own (see `BackendSet`).
#[derive(Debug, Clone)]
#[repr(align(16))]
pub(super) struct Member {
    /// Picks not yet finished.
    pub active: u32,
    /// At most this many active picks: the agent's cap, [`NO_CAP`] without one.
    pub cap: u32,
    /// The most `active` has been.
    pub max_active: u32,
    /// As the agent last set it (the configured weight until then).
    pub effective_weight: u16,
    pub state: BackendState,
    /// Failed since its last success (`consecutive_failures` in the record
    /// is not zero): only then does a finish read the record.
    pub failing: bool,
}

/// The cap of a backend without one (no backend holds 2^32 - 1 picks).
pub(super) const NO_CAP: u32 = u32::MAX;

/// What the set keeps of one backend besides its [`Member`] and its dense
/// figures: read by stats and reloads, written on failures.
#[derive(Debug, Clone)]
pub(super) struct Record {
    pub name: String,
    /// As configured.
    pub weight: u16,
    /// The agent's cap, as reported.
    pub max_conn: Option<u32>,
    /// Connect failures since the last success.
    pub consecutive_failures: u32,
    /// All connect failures.
    pub failures: u64,
    /// Sits out of rotation until then (passive check).
    pub backoff_until: Option<Instant>,
}

/// The consistent-hash ring over the backends, built on first use after
/// the ring was dropped (a change of weights or members).
pub(super) fn ring_over<'r>(
    ring: &'r mut Option<HashRing>,
    members: &[Member],
    records: &[Record],
) -> &'r HashRing {
    ring.get_or_insert_with(|| {
        HashRing::new(
            members
                .iter()
                .zip(records)
                .enumerate()
                .map(|(i, (m, r))| (i, r.name.as_str(), m.effective_weight)),
        )
    })
}

/// One backend's finished picks: how many, and their summed duration.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Tally {
    /// Finished picks with a measured duration.
    pub completed: u64,
    /// Sum of the measured durations, in nanoseconds.
    pub total_nanos: u64,
}

impl Tally {
    /// Counts one finished pick of `nanos` nanoseconds.
    pub fn add(&mut self, nanos: u64) {
        self.completed += 1;
        self.total_nanos = self.total_nanos.saturating_add(nanos);
    }

    /// Mean of the completed durations; zero before the first one.
    pub fn mean_time(&self) -> Duration {
        Duration::from_nanos(self.total_nanos.checked_div(self.completed).unwrap_or(0))
    }
}

impl Member {
    pub fn new(weight: u16) -> Self {
        Self {
            active: 0,
            cap: NO_CAP,
            max_active: 0,
            effective_weight: weight,
            state: BackendState::Up,
            failing: false,
        }
    }

    /// May take new work: up, with a weight, and under its connection cap.
    pub fn available(&self) -> bool {
        self.state == BackendState::Up && self.effective_weight > 0 && self.active < self.cap
    }

    /// The counters as [`BackendStats`], with the record's.
    pub fn stats(&self, record: &Record, tally: &Tally) -> BackendStats {
        BackendStats {
            active: self.active,
            max_active: self.max_active,
            completed: tally.completed,
            total_time: Duration::from_nanos(tally.total_nanos),
            consecutive_failures: record.consecutive_failures,
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
            consecutive_failures: 0,
            failures: 0,
            backoff_until: None,
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
    fn four_members_fill_one_cache_line() {
        assert_eq!(std::mem::size_of::<Member>(), 16);
    }
}
