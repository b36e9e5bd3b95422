//! The backend set: the backends behind one listener, their state, weights
//! and counters, and the choice of the next one by the strategy in use.
//!
//! Sans-IO, time passed in. The adapter asks [`BackendSet::pick`] for a
//! backend, and reports back exactly once per pick: [`BackendSet::finish`]
//! when the connection (or request) ends, [`BackendSet::fail`] when the
//! backend could not be reached, or [`BackendSet::release`] when it ended
//! before it counted. A failed backend sits out a backoff period that doubles
//! with each consecutive failure (a passive health check). Health checks and
//! agents report through [`BackendSet::set_state`], [`BackendSet::set_weight`],
//! [`BackendSet::set_load`] and [`BackendSet::set_max_conn`]; a config reload
//! goes through [`BackendSet::reconfigure`]. The wait queue asks
//! [`BackendSet::can_serve`], [`BackendSet::is_full`] and
//! [`BackendSet::owner_of`], which follow the rule a pick applies.
//!
//! Only backends that are [`BackendState::Up`], have a non-zero effective
//! weight and are under their connection cap get new picks. The set keeps
//! those eligible backends, and the strategy's index over them, up to date as
//! backends change (`backend_set/index.rs`), so that a pick costs about the
//! same with 4 backends or 10,000. The plain scan in this file
//! (`BackendSet::choose`) applies each strategy's definition from
//! [`crate::lb::strategy`]; the index is checked against it.
//!
//! Beside this file: `member.rs` (what the set knows of one backend),
//! `samples.rs` (finished picks, counted in batches), `latency.rs` (the
//! histograms), and the index's structures `eligible.rs`, `draw.rs` and
//! `tournament.rs`.

mod draw;
mod eligible;
mod index;
#[cfg(test)]
mod index_tests;
mod latency;
mod member;
#[cfg(test)]
mod queue_tests;
mod samples;
#[cfg(test)]
mod strategy_tests;
#[cfg(test)]
mod tests;
mod tournament;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::{Duration, Instant};

use self::eligible::EligibleSet;
use self::index::{Indexed, StrategyIndex};
use self::latency::LatencyTable;
use self::member::{Member, NO_CAP, Record, Tally, ring_over};
use self::samples::Sample;
use super::backend_spec::{BackendSpec, MAX_WEIGHT};
use super::queue::Target;
use super::strategy::ewma::PeakEwma;
use super::strategy::random::{DEFAULT_SEED, SplitMix64};
use super::strategy::ring::HashRing;
use super::strategy::{
    Strategy, ewma, least_connections, least_load, least_response_time, random, round_robin,
    smooth, two_choices,
};

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
    /// The backends that may take a pick (see [`index`]).
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

    // The passive check: a failed backend sits out its backoff, kept in a
    // heap of end times that every pick reads first.

    /// Puts backend `i` out of rotation until its backoff ends.
    fn sit_out(&mut self, i: usize, until: Instant) {
        if !self.sits_out[i] {
            self.sits_out[i] = true;
            self.sitting_out += 1;
        }
        self.backoffs.push(Reverse((until, i)));
        self.refresh(i);
    }

    /// Backend `i`'s backoff ended (or a success cut it short).
    fn end_sit_out(&mut self, i: usize) {
        if self.sits_out[i] {
            self.sits_out[i] = false;
            self.sitting_out -= 1;
        }
    }

    /// Brings back the backends whose backoff ended by `now`. Times passed
    /// to the set do not go backwards (they come from the event loop).
    fn end_backoffs(&mut self, now: Instant) {
        while let Some(&Reverse((until, i))) = self.backoffs.peek() {
            if until > now {
                break;
            }
            self.backoffs.pop();
            // A later failure pushed a later end: that entry decides.
            let ended = self
                .records
                .get(i)
                .is_some_and(|r| r.backoff_until.is_none_or(|u| u <= now));
            if ended && self.sits_out[i] {
                self.end_sit_out(i);
                self.refresh(i);
            }
        }
    }

    // The plain scan: every available backend's figures handed to the
    // strategy's definition. Picks read the index instead and fall back to
    // this only when no backend outside a backoff is left (all are tried
    // anyway) or for the rare retries the index does not cover; the index
    // tests compare the two.

    /// One choice among the available backends not in `tried`, skipping those
    /// in backoff when `skip_backoff`.
    fn choose(
        &mut self,
        now: Instant,
        tried: &[usize],
        key: u64,
        skip_backoff: bool,
    ) -> Option<usize> {
        let members = &self.members;
        let records = &self.records;
        let (ewmas, loads) = (&self.ewmas, &self.loads);
        let since = self.since_epoch(now);
        let ok = |i: usize| {
            members[i].available()
                && !tried.contains(&i)
                && !(skip_backoff && records[i].in_backoff(now))
        };
        let mut candidates = (0..members.len()).filter(|&i| ok(i));
        match self.strategy {
            Strategy::NToOne => candidates.next(),
            Strategy::RoundRobin => round_robin::next(&mut self.next, members.len(), ok),
            Strategy::LeastConnections => least_connections::choose(candidates, |i| {
                least_connections::PerWeight::new(members[i].active, members[i].effective_weight)
            }),
            Strategy::LeastResponseTime => {
                let tallies = &self.tallies;
                least_response_time::choose(candidates, |i| {
                    (tallies[i].mean_time(), members[i].active)
                })
            }
            Strategy::WeightedRoundRobin => smooth::next(
                &mut self.smooth,
                candidates.map(|i| (i, members[i].effective_weight)),
            ),
            Strategy::PowerOfTwo | Strategy::PeakEwma => {
                self.scratch.clear();
                self.scratch.extend(candidates);
                let better = second_is_better(self.strategy, members, ewmas, since);
                two_choices::choose(&self.scratch, &mut self.rng, better)
            }
            Strategy::ConsistentHash => {
                candidates.next()?;
                let ring = ring_over(&mut self.ring, members, records);
                ring.walk(key).find(|&i| ok(i))
            }
            Strategy::Random => {
                random::weighted(candidates, |i| members[i].effective_weight, &mut self.rng)
            }
            Strategy::LeastLoad => {
                least_load::next(&mut self.next, members.len(), ok, |i| loads[i])
            }
        }
    }

    // What the wait queue asks: is a backend full (up and weighted, but at
    // its connection cap), which backend a key belongs to under
    // consistent-hash whatever its load, and can a waiter be served now.
    // Each answer follows the rule `pick` applies, so that a waiter admitted
    // because there is room gets a pick.

    /// True when backend `i` is usable but at its connection cap.
    pub fn is_full(&self, i: usize) -> bool {
        let m = &self.members[i];
        usable(m) && m.active >= m.cap
    }

    /// True when a backend not in `tried` is usable but full: a request no
    /// backend can take now may wait for it.
    pub fn any_full(&self, tried: &[usize]) -> bool {
        (0..self.members.len()).any(|i| self.is_full(i) && !tried.contains(&i))
    }

    /// Under `consistent-hash`: the backend `key` belongs to among the
    /// usable ones not in `tried`, full or not (those in a backoff only when
    /// no other is left, as a pick does). `None` when none is usable.
    pub fn owner_of(&mut self, key: u64, tried: &[usize], now: Instant) -> Option<usize> {
        let (members, records) = (&self.members, &self.records);
        if !members.iter().any(usable) {
            return None;
        }
        let ring = ring_over(&mut self.ring, members, records);
        let ok = |i: usize| usable(&members[i]) && !tried.contains(&i);
        ring.walk(key)
            .find(|&i| ok(i) && !records[i].in_backoff(now))
            .or_else(|| ring.walk(key).find(|&i| ok(i)))
    }

    /// True when admitting a waiter for `target` (one that failed to
    /// connect to the backends in `tried`) makes progress: for any backend,
    /// one not in `tried` has room; for one backend, it has room, or it no
    /// longer takes work (the waiter is then hashed again or refused).
    pub fn can_serve(&self, target: Target, tried: &[usize]) -> bool {
        match target {
            Target::Any if tried.is_empty() && self.eligible.count() > 0 => true,
            // Outside a backoff the available backends are the eligible
            // ones: the queue asks this after every event while it holds
            // waiters, so no walk over every member when all are full.
            Target::Any if self.sitting_out == 0 => {
                let tried_eligible = tried
                    .iter()
                    .enumerate()
                    .filter(|&(k, &i)| self.eligible.contains(i) && !tried[..k].contains(&i))
                    .count();
                self.eligible.count() > tried_eligible
            }
            Target::Any => self
                .members
                .iter()
                .enumerate()
                .any(|(i, m)| m.available() && !tried.contains(&i)),
            Target::Backend(b) => match self.members.get(b) {
                Some(m) => m.available() || !usable(m),
                None => true,
            },
        }
    }

    /// Applies a reloaded backend list. Backends are matched by name: a kept
    /// one keeps its counters, state and agent reports (and its effective
    /// weight, unless its configured weight changed); a new one starts fresh
    /// and up; a removed one disappears. Returns, for each old index, the new
    /// index of that backend (`None` if removed). Picks made before the reload
    /// stay valid: finishing one counts on the backend wherever it moved, and
    /// is a no-op for a removed backend.
    pub fn reconfigure(&mut self, specs: &[BackendSpec]) -> Vec<Option<usize>> {
        self.count_pending();
        self.reloads += 1;
        // The old index each listed backend keeps (a name listed twice
        // keeps it once; of two old backends of one name, the last counts).
        let sources: Vec<Option<usize>> = {
            let by_name: HashMap<&str, usize> = self
                .records
                .iter()
                .enumerate()
                .map(|(i, r)| (r.name.as_str(), i))
                .collect();
            let mut taken = vec![false; self.records.len()];
            specs
                .iter()
                .map(|spec| {
                    let i = *by_name.get(spec.name.as_str())?;
                    (!std::mem::replace(&mut taken[i], true)).then_some(i)
                })
                .collect()
        };
        let mut moved = vec![None; self.members.len()];
        for (new, source) in sources.iter().enumerate() {
            if let Some(old) = *source {
                moved[old] = Some(new);
            }
        }
        let old_members = std::mem::take(&mut self.members);
        let old_records = std::mem::take(&mut self.records);
        let old_serials = std::mem::take(&mut self.serials);
        let mut serials = Vec::with_capacity(specs.len());
        for (spec, source) in specs.iter().zip(&sources) {
            let (member, record, serial) = match *source {
                Some(i) => {
                    let (mut member, mut record) = (old_members[i].clone(), old_records[i].clone());
                    let weight = spec.weight.min(MAX_WEIGHT);
                    if record.weight != weight {
                        record.weight = weight;
                        member.effective_weight = weight;
                    }
                    (member, record, old_serials[i])
                }
                None => self.fresh_member(spec.name.clone(), spec.weight),
            };
            self.members.push(member);
            self.records.push(record);
            serials.push(serial);
        }
        self.serials = serials;
        self.tallies = reordered(&self.tallies, &sources, Tally::default);
        self.ewmas = reordered(&self.ewmas, &sources, PeakEwma::default);
        self.loads = reordered(&self.loads, &sources, || None);
        self.latency = self.latency.reordered(&sources);
        // The running values start over, as the indices moved.
        self.index = StrategyIndex::Plain;
        self.smooth = vec![0; self.members.len()];
        self.ring = None;
        self.next = 0;
        self.rebuild();
        moved
    }
}

/// The two-choice strategies' comparison, as [`two_choices`] takes it:
/// whether the second backend drawn has fewer active picks (power-of-two)
/// or a lower [`ewma::cost`] (peak-ewma) than the first.
fn second_is_better(
    strategy: Strategy,
    members: &[Member],
    ewmas: &[PeakEwma],
    since: Duration,
) -> impl Fn(usize, usize) -> bool {
    move |a, b| {
        if strategy == Strategy::PowerOfTwo {
            members[b].active < members[a].active
        } else {
            ewma::cost(members[b].active, &ewmas[b], since)
                < ewma::cost(members[a].active, &ewmas[a], since)
        }
    }
}

/// Up, with a weight: takes new work when under its cap.
fn usable(m: &Member) -> bool {
    m.state == BackendState::Up && m.effective_weight > 0
}

/// The list of the kept backends' entries in their new order, a fresh entry
/// for a new one: `sources[k]` is the old index of new backend `k`.
fn reordered<T: Clone>(old: &[T], sources: &[Option<usize>], fresh: impl Fn() -> T) -> Vec<T> {
    sources
        .iter()
        .map(|source| source.map_or_else(&fresh, |i| old[i].clone()))
        .collect()
}
