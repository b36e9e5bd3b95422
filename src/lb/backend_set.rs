//! The backend set: per-backend state, weights and counters, and the choice
//! of the next backend.
//!
//! Sans-IO, time passed in. The adapter asks [`BackendSet::pick`] for a
//! backend, and reports back exactly once per pick: [`BackendSet::finish`]
//! when the connection (or request) ends, [`BackendSet::fail`] when the
//! backend could not be reached, or [`BackendSet::release`] when it ended
//! before it counted. A failed backend sits out a backoff period that doubles
//! with each consecutive failure (a passive health check). Health checks and
//! agents report through [`BackendSet::set_state`], [`BackendSet::set_weight`],
//! [`BackendSet::set_load`] and [`BackendSet::set_max_conn`]; a config reload
//! goes through [`BackendSet::reconfigure`].
//!
//! Only backends that are [`BackendState::Up`], have a non-zero effective
//! weight and are under their connection cap get new picks. The set keeps
//! that set, and the strategy's index over it, up to date as backends change
//! (`backend_set/upkeep.rs`), so that a pick costs about the same with 4 backends
//! or 10,000 (`backend_set/choose_indexed.rs`); `backend_set/choose.rs` is the plain scan
//! that defines each strategy's choice.

mod choose;
mod choose_indexed;
mod draw;
mod eligible;
#[cfg(test)]
mod index_tests;
mod latency;
mod member;
mod reload;
mod room;
mod samples;
#[cfg(test)]
mod strategy_tests;
#[cfg(test)]
mod tests;
mod tournament;
mod upkeep;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use self::choose_indexed::Indexed;
use self::eligible::EligibleSet;
use self::latency::LatencyTable;
use self::member::{Member, NO_CAP, Record, Tally};
use self::samples::Sample;
use self::upkeep::StrategyIndex;
use super::backend_spec::{BackendSpec, MAX_WEIGHT};
use super::strategy::Strategy;
use super::strategy::ewma::PeakEwma;
use super::strategy::random::{DEFAULT_SEED, SplitMix64};
use super::strategy::ring::HashRing;

pub use self::latency::LatencyHistogram;
pub use self::member::{BackendState, BackendStats};
pub use super::strategy::{hash_ip, hash_key};

/// First backoff after a failure; doubles with each consecutive failure.
pub const DEFAULT_BACKOFF: Duration = Duration::from_secs(1);
/// The longest a failing backend sits out.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Finished picks wait in a list of this many before they are counted in
/// their backends' histograms (and, for the strategies that do not read
/// them, in their counts and peak-EWMA estimates). With 10,000 backends the
/// histograms take 12 MiB, and counting one sample is a cache miss; counted
/// together, the misses overlap instead of each holding up its finish.
pub const PENDING_SAMPLES: usize = 256;

/// A chosen backend. Hand it back to the set exactly once.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a pick must be finished or failed, or the backend stays counted as active"]
pub struct Pick {
    /// Index of the backend in the set when it was picked (see
    /// [`BackendSet::index_of`] after a [`BackendSet::reconfigure`]).
    pub backend: usize,
    /// When it was picked: the start of the measured duration.
    pub started: Instant,
    /// The backend's serial: finishing the pick of a backend that a reload
    /// removed is a no-op, and one whose index moved is still counted right.
    serial: u64,
    /// The set's reloads when it was picked: without one since, `backend`
    /// is still the backend's index.
    reloads: u64,
}

/// The backends behind one listener and the strategy that chooses among them.
#[derive(Debug)]
pub struct BackendSet {
    strategy: Strategy,
    /// Per backend: what picks touch (16 bytes each).
    members: Vec<Member>,
    /// Per backend: the rest (name, configuration, failures).
    records: Vec<Record>,
    /// Per backend: unique within the set's life, it tells a pick's backend
    /// apart from a backend that took its index after a reload.
    serials: Vec<u64>,
    /// Per backend: its finished picks.
    tallies: Vec<Tally>,
    /// Per backend: the peak-EWMA latency estimate.
    ewmas: Vec<PeakEwma>,
    /// Per backend: the load in percent its agent reported.
    loads: Vec<Option<u8>>,
    /// All finished picks' latencies.
    latency: LatencyTable,
    /// The first time a pick was made: the origin of the peak-EWMA stamps.
    epoch: Option<Instant>,
    /// Finished picks not yet counted: counted [`PENDING_SAMPLES`] at a
    /// time (see `backend_set/samples.rs`).
    pending: Vec<Sample>,
    next_serial: u64,
    /// Reloads so far (see [`Pick`]).
    reloads: u64,
    backoff: Duration,
    /// Round-robin and least-load: where the next scan starts.
    next: usize,
    /// Smooth weighted round-robin: the running values, by index.
    smooth: Vec<i64>,
    /// Consistent hashing: built on first use, dropped when weights change.
    ring: Option<HashRing>,
    rng: SplitMix64,
    /// Reused candidate list of the two-choice strategies.
    scratch: Vec<usize>,
    /// The backends that may take a pick (see [`upkeep`]).
    eligible: EligibleSet,
    /// The strategy's index over `eligible`.
    index: StrategyIndex,
    /// Per backend: sitting out a backoff (until `backoffs` says it ended).
    sits_out: Vec<bool>,
    /// How many backends sit out.
    sitting_out: usize,
    /// When backoffs end, soonest first (stale entries are skipped).
    backoffs: BinaryHeap<Reverse<(Instant, usize)>>,
    /// Tests: pick by the plain scan only, as the reference.
    #[cfg(test)]
    scan_only: bool,
}

impl BackendSet {
    /// A set of the configured backends, chosen by `strategy`.
    pub fn new(specs: &[BackendSpec], strategy: Strategy) -> Self {
        Self::named(specs.iter().map(|s| (s.name.clone(), s.weight)), strategy)
    }

    /// A set of backends with these weights, named `#0`, `#1`, ... (for tests
    /// and benches; the balancer uses [`BackendSet::new`]).
    pub fn from_weights(weights: &[u16], strategy: Strategy) -> Self {
        Self::named(
            weights
                .iter()
                .enumerate()
                .map(|(i, &w)| (format!("#{i}"), w)),
            strategy,
        )
    }

    fn named(entries: impl Iterator<Item = (String, u16)>, strategy: Strategy) -> Self {
        let mut backends = Self {
            strategy,
            members: Vec::new(),
            records: Vec::new(),
            serials: Vec::new(),
            tallies: Vec::new(),
            ewmas: Vec::new(),
            loads: Vec::new(),
            latency: LatencyTable::default(),
            epoch: None,
            pending: Vec::with_capacity(PENDING_SAMPLES),
            next_serial: 0,
            reloads: 0,
            backoff: DEFAULT_BACKOFF,
            next: 0,
            smooth: Vec::new(),
            ring: None,
            rng: SplitMix64::new(DEFAULT_SEED),
            scratch: Vec::new(),
            eligible: EligibleSet::default(),
            index: StrategyIndex::Plain,
            sits_out: Vec::new(),
            sitting_out: 0,
            backoffs: BinaryHeap::new(),
            #[cfg(test)]
            scan_only: false,
        };
        for (name, weight) in entries {
            let (member, record, serial) = backends.fresh_member(name, weight);
            backends.members.push(member);
            backends.records.push(record);
            backends.serials.push(serial);
        }
        let len = backends.members.len();
        backends.tallies = vec![Tally::default(); len];
        backends.ewmas = vec![PeakEwma::default(); len];
        backends.loads = vec![None; len];
        backends.latency = LatencyTable::new(len);
        backends.smooth = vec![0; backends.members.len()];
        backends.rebuild();
        backends
    }

    /// A new backend's member, record and serial.
    fn fresh_member(&mut self, name: String, weight: u16) -> (Member, Record, u64) {
        self.next_serial += 1;
        let weight = weight.min(MAX_WEIGHT);
        (
            Member::new(weight),
            Record::new(name, weight),
            self.next_serial,
        )
    }

    /// Changes the strategy (a reload); counters stay.
    pub fn set_strategy(&mut self, strategy: Strategy) {
        // What the strategy counts at once and what waits may change.
        self.count_pending();
        self.strategy = strategy;
        self.rebuild();
    }

    /// Sets the first backoff period after a failure.
    pub fn set_backoff(&mut self, backoff: Duration) {
        self.backoff = backoff;
    }

    /// Seeds the generator behind the random choices (`power-of-two`,
    /// `peak-ewma`, `random`), for reproducible runs.
    pub fn set_seed(&mut self, seed: u64) {
        self.rng = SplitMix64::new(seed);
    }

    /// Number of backends.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// True when the set has no backend.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The strategy in use.
    pub fn strategy(&self) -> Strategy {
        self.strategy
    }

    /// The index of the backend named `name`.
    pub fn find(&self, name: &str) -> Option<usize> {
        self.records.iter().position(|r| r.name == name)
    }

    /// The current index of a pick's backend: `None` once a reload removed it.
    pub fn index_of(&self, pick: &Pick) -> Option<usize> {
        if pick.reloads == self.reloads {
            return Some(pick.backend);
        }
        match self.serials.get(pick.backend) {
            Some(&serial) if serial == pick.serial => Some(pick.backend),
            _ => self.serials.iter().position(|&s| s == pick.serial),
        }
    }

    // Per-backend reads and writes; each panics if `backend` is out of range.

    /// The name of one backend.
    pub fn name(&self, backend: usize) -> &str {
        &self.records[backend].name
    }

    /// The counters of one backend.
    pub fn stats(&self, backend: usize) -> BackendStats {
        let mut stats = self.members[backend].stats(&self.records[backend], &self.tallies[backend]);
        self.add_pending_counts(backend, &mut stats);
        stats
    }

    /// The state of one backend.
    pub fn state(&self, backend: usize) -> BackendState {
        self.members[backend].state
    }

    /// Puts one backend up, down, draining or in maintenance. In-flight picks
    /// are unaffected; only `Up` backends get new ones.
    pub fn set_state(&mut self, backend: usize, state: BackendState) {
        self.members[backend].state = state;
        self.refresh(backend);
    }

    /// The configured weight of one backend.
    pub fn weight(&self, backend: usize) -> u16 {
        self.records[backend].weight
    }

    /// The weight the strategies use (the configured one unless an agent set it).
    pub fn effective_weight(&self, backend: usize) -> u16 {
        self.members[backend].effective_weight
    }

    /// Sets the weight the strategies use (an agent's `weight:N`), capped at
    /// [`MAX_WEIGHT`]; 0 takes the backend out of rotation like a drain.
    pub fn set_weight(&mut self, backend: usize, effective: u16) {
        let effective = effective.min(MAX_WEIGHT);
        let member = &mut self.members[backend];
        if member.effective_weight != effective {
            member.effective_weight = effective;
            self.ring = None;
            self.refresh(backend);
        }
    }

    /// Sets the effective weight to `percent` of the configured one (an
    /// agent's `N%`), rounded to nearest; a non-zero percent keeps weight 1 at least.
    pub fn set_weight_percent(&mut self, backend: usize, percent: u16) {
        let configured = u32::from(self.records[backend].weight);
        let scaled = (configured * u32::from(percent) + 50) / 100;
        let scaled = if percent > 0 { scaled.max(1) } else { 0 };
        self.set_weight(backend, u16::try_from(scaled).unwrap_or(MAX_WEIGHT));
    }

    /// The load in percent the backend's agent last reported.
    pub fn load(&self, backend: usize) -> Option<u8> {
        self.loads[backend]
    }

    /// Records (or forgets) the load the backend's agent reported, in percent.
    pub fn set_load(&mut self, backend: usize, percent: Option<u8>) {
        self.loads[backend] = percent.map(|p| p.min(100));
        self.refresh(backend);
    }

    /// The cap on active picks of one backend, if any.
    pub fn max_conn(&self, backend: usize) -> Option<u32> {
        self.records[backend].max_conn
    }

    /// Caps (or uncaps) the active picks of one backend (an agent's `maxconn:N`).
    pub fn set_max_conn(&mut self, backend: usize, cap: Option<u32>) {
        self.records[backend].max_conn = cap;
        self.members[backend].cap = cap.unwrap_or(NO_CAP);
        self.refresh(backend);
    }

    /// Chooses a backend not in `tried` among the available ones (see the
    /// module doc). Backends in backoff are passed over while any other
    /// remains; when all are in backoff they are tried anyway, so that a set
    /// recovers without waiting out every backoff (that case scans the set).
    /// `key` is the request's [`hash_key`] (client IP or URI) for
    /// `consistent-hash`; the other strategies ignore it. `now` does not go
    /// backwards from one call to the next.
    pub fn pick(&mut self, now: Instant, tried: &[usize], key: u64) -> Option<Pick> {
        self.end_backoffs(now);
        self.epoch.get_or_insert(now);
        #[cfg(test)]
        if self.scan_only {
            return self.pick_by_scan(now, tried, key);
        }
        let eligible = match self.choose_indexed(now, tried, key) {
            Indexed::Chosen(backend) => Some(backend),
            Indexed::NoneEligible => None,
            Indexed::Scan => self.choose(now, tried, key, true),
        };
        let backend = match eligible {
            Some(backend) => backend,
            // Without a backend in backoff, every available one was eligible.
            None if self.sitting_out == 0 => return None,
            None => self.choose(now, tried, key, false)?,
        };
        let member = &mut self.members[backend];
        member.active += 1;
        member.max_active = member.max_active.max(member.active);
        Some(self.take(backend, now))
    }

    /// The pick of `backend`, counted as active.
    fn take(&mut self, backend: usize, now: Instant) -> Pick {
        self.refresh(backend);
        Pick {
            backend,
            started: now,
            serial: self.serials[backend],
            reloads: self.reloads,
        }
    }

    /// `now` as the time since the first pick (the origin of the peak-EWMA
    /// stamps).
    fn since_epoch(&self, now: Instant) -> Duration {
        self.epoch
            .map_or(Duration::ZERO, |epoch| now.saturating_duration_since(epoch))
    }

    /// The picked connection (request) ended: release it and record its duration.
    pub fn finish(&mut self, pick: Pick, now: Instant) {
        let Some(backend) = self.index_of(&pick) else {
            return;
        };
        let member = &mut self.members[backend];
        member.active = member.active.saturating_sub(1);
        if member.failing {
            // Only a failure to forget reads the record.
            member.failing = false;
            let record = &mut self.records[backend];
            record.consecutive_failures = 0;
            record.backoff_until = None;
        }
        self.record_sample(backend, pick.started, now);
        self.end_sit_out(backend);
        self.refresh(backend);
    }

    /// The backend could not be reached: release the pick and start a backoff.
    pub fn fail(&mut self, pick: Pick, now: Instant) {
        let Some(backend) = self.index_of(&pick) else {
            return;
        };
        let member = &mut self.members[backend];
        member.active = member.active.saturating_sub(1);
        member.failing = true;
        let record = &mut self.records[backend];
        record.consecutive_failures = record.consecutive_failures.saturating_add(1);
        let doublings = (record.consecutive_failures - 1).min(16);
        let backoff = self.backoff.saturating_mul(1 << doublings).min(MAX_BACKOFF);
        record.failures += 1;
        record.backoff_until = Some(now + backoff);
        self.sit_out(backend, now + backoff);
    }

    /// The connection was reached but ended before it counted (for example the
    /// client left during the connect): release it without a sample.
    pub fn release(&mut self, pick: Pick) {
        if let Some(backend) = self.index_of(&pick) {
            let member = &mut self.members[backend];
            member.active = member.active.saturating_sub(1);
            self.refresh(backend);
        }
    }
}
