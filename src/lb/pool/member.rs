//! What the pool knows of one backend: its state, weights, agent reports,
//! counters and latency estimates.

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

/// One backend of the pool.
#[derive(Debug, Clone)]
pub(super) struct Member {
    /// Unique within the pool's life: tells a pick's backend apart from a
    /// backend that took its index after a reload.
    pub serial: u64,
    pub name: String,
    pub state: BackendState,
    /// As configured.
    pub weight: u16,
    /// As the agent last set it (the configured weight until then).
    pub effective_weight: u16,
    /// Load in percent the agent reported.
    pub load: Option<u8>,
    /// At most this many active picks (agent).
    pub max_conn: Option<u32>,
    pub stats: BackendStats,
    pub ewma: PeakEwma,
    pub latency: LatencyHistogram,
}

impl Member {
    pub fn new(serial: u64, name: String, weight: u16) -> Self {
        Self {
            serial,
            name,
            state: BackendState::Up,
            weight,
            effective_weight: weight,
            load: None,
            max_conn: None,
            stats: BackendStats::default(),
            ewma: PeakEwma::default(),
            latency: LatencyHistogram::default(),
        }
    }

    /// May take new work: up, with a weight, and under its connection cap.
    pub fn available(&self) -> bool {
        self.state == BackendState::Up
            && self.effective_weight > 0
            && self.max_conn.is_none_or(|cap| self.stats.active < cap)
    }
}
