//! The strategy's index over the eligible backends: kept up to date as
//! backends change, and read by a pick instead of a scan.
//!
//! A backend is *eligible* when it is up, has a non-zero effective weight, is
//! under its connection cap and is not sitting out a passive-check backoff.
//! The set holds the eligible backends in an [`EligibleSet`] and, for the
//! strategy in use, an index over them (a tournament tree of keys, a draw
//! list, the smooth order). Every call that changes a backend's state,
//! weight, load, cap or counters ends with [`BackendSet::refresh`] of that
//! backend, O(log N); a reload or a change of strategy rebuilds it all, O(N).
//!
//! A pick then reads the index (`BackendSet::choose_indexed`): O(1) for
//! n-to-1, round-robin, random, power-of-two and peak-ewma, O(log N) for the
//! least-* strategies and consistent hashing, O(weights + log N) for
//! weighted round-robin. The choices are those of the plain scan
//! (`BackendSet::choose`, over the definitions in [`crate::lb::strategy`]):
//! the same backends for the deterministic strategies, the same distribution
//! for the random ones (`index_tests.rs` checks both). Backends already tried
//! for this request are passed over at a cost of O(log N) each (the list is a
//! few retries long).

use std::cmp::Reverse;
use std::time::{Duration, Instant};

use super::draw::{UniformDraw, WeightedDraw};
use super::eligible::EligibleSet;
use super::member::{Member, Tally, ring_over};
use super::tournament::{Key, Tournament, key};
use super::{BackendSet, second_is_better};
use crate::lb::backend_spec::MAX_WEIGHT;
use crate::lb::strategy::Strategy;
use crate::lb::strategy::ewma::PeakEwma;
use crate::lb::strategy::least_load::UNREPORTED_LOAD;
use crate::lb::strategy::smooth::SmoothOrder;
use crate::lb::strategy::two_choices;

/// The strategy's index over the eligible backends.
#[derive(Debug, Clone)]
pub(super) enum StrategyIndex {
    /// n-to-1, round-robin, consistent-hash: the eligible set is enough.
    Plain,
    /// power-of-two, peak-ewma: uniform draws.
    Uniform(UniformDraw),
    /// random: draws in proportion to weight.
    Weighted(Box<WeightedDraw>),
    /// least-connections: `(active + 1) / weight`.
    LeastConnections(Tournament),
    /// least-response-time: (mean duration, active).
    LeastResponseTime(Tournament),
    /// least-load: the reported load, or the assumed one.
    LeastLoad(LoadIndex),
    /// weighted-round-robin.
    Smooth(SmoothOrder),
}

/// Least-load's index: the loads, and who has reported one (an unreported
/// load counts as [`UNREPORTED_LOAD`] once any eligible backend reported).
#[derive(Debug, Clone)]
pub(super) struct LoadIndex {
    pub tree: Tournament,
    /// Per backend: eligible and reporting.
    pub reporting: Vec<bool>,
    pub reporters: usize,
    /// The load assumed of the others, as the tree holds it.
    pub unknown: u8,
}

impl StrategyIndex {
    fn new(strategy: Strategy, len: usize) -> Self {
        match strategy {
            Strategy::NToOne | Strategy::RoundRobin | Strategy::ConsistentHash => Self::Plain,
            Strategy::PowerOfTwo | Strategy::PeakEwma => Self::Uniform(UniformDraw::new(len)),
            Strategy::Random => Self::Weighted(Box::new(WeightedDraw::new(len))),
            Strategy::LeastConnections => Self::LeastConnections(Tournament::new(len)),
            Strategy::LeastResponseTime => Self::LeastResponseTime(Tournament::new(len)),
            Strategy::LeastLoad => Self::LeastLoad(LoadIndex {
                tree: Tournament::new(len),
                reporting: vec![false; len],
                reporters: 0,
                unknown: 0,
            }),
            Strategy::WeightedRoundRobin => Self::Smooth(SmoothOrder::new(len)),
        }
    }
}

impl BackendSet {
    /// Rebuilds the eligible set and the strategy's index from the backends
    /// (after a reload or a change of strategy).
    pub(super) fn rebuild(&mut self) {
        self.save_smooth_values();
        let len = self.members.len();
        self.eligible = EligibleSet::new(len);
        self.index = StrategyIndex::new(self.strategy, len);
        #[cfg(test)]
        if self.scan_only {
            self.index = StrategyIndex::Plain;
        }
        self.sits_out = self
            .records
            .iter()
            .map(|r| r.backoff_until.is_some())
            .collect();
        self.sitting_out = self.sits_out.iter().filter(|&&s| s).count();
        self.backoffs = self
            .records
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.backoff_until.map(|until| Reverse((until, i))))
            .collect();
        for i in 0..len {
            self.refresh(i);
        }
    }

    /// Weighted round-robin keeps its running values in its index while the
    /// backends are eligible; this writes them back to `smooth`.
    fn save_smooth_values(&mut self) {
        if let StrategyIndex::Smooth(order) = &mut self.index {
            for (i, value) in self.smooth.iter_mut().enumerate() {
                if let Some(v) = order.remove(i) {
                    *value = v;
                }
            }
        }
    }

    /// Re-reads backend `i` into the eligible set and the index; call after
    /// anything about it changed.
    pub(super) fn refresh(&mut self, i: usize) {
        let m = &self.members[i];
        let eligible = m.available() && !self.sits_out[i];
        if eligible {
            self.eligible.insert(i);
        } else {
            self.eligible.remove(i);
        }
        match &mut self.index {
            StrategyIndex::Plain => {}
            StrategyIndex::Uniform(set) if eligible => set.insert(i),
            StrategyIndex::Uniform(set) => set.remove(i),
            StrategyIndex::Weighted(set) => {
                set.set(i, if eligible { m.effective_weight } else { 0 })
            }
            StrategyIndex::LeastConnections(tree) => {
                tree.set(i, eligible.then(|| least_connections_key(m)));
            }
            StrategyIndex::LeastResponseTime(tree) => {
                let tally = &self.tallies[i];
                tree.set(i, eligible.then(|| least_response_time_key(m, tally)));
            }
            StrategyIndex::LeastLoad(index) => {
                let reports = eligible && self.loads[i].is_some();
                if index.reporting[i] != reports {
                    index.reporting[i] = reports;
                    if reports {
                        index.reporters += 1;
                    } else {
                        index.reporters -= 1;
                    }
                }
                let unknown = if index.reporters > 0 {
                    UNREPORTED_LOAD
                } else {
                    0
                };
                if unknown != index.unknown {
                    // The first report arrived or the last one left: every
                    // silent backend's assumed load changes.
                    index.unknown = unknown;
                    for k in self.eligible.iter() {
                        let load = self.loads[k].unwrap_or(unknown);
                        index.tree.set(k, Some(load_key(load)));
                    }
                }
                index.tree.set(
                    i,
                    eligible.then(|| load_key(self.loads[i].unwrap_or(unknown))),
                );
            }
            StrategyIndex::Smooth(order) => {
                let want = eligible.then_some(m.effective_weight);
                if order.weight_of(i) != want {
                    if let Some(value) = order.remove(i) {
                        self.smooth[i] = value;
                    }
                    if let Some(weight) = want {
                        order.insert(i, weight, self.smooth[i]);
                    }
                }
            }
        }
    }
}

/// Bits of fraction in least-connections' key. Two different measures
/// `a / b` and `c / d` with weights `b, d <= MAX_WEIGHT` differ by at least
/// `1 / (b * d)`, so scaled by `2^16 >= MAX_WEIGHT^2` they differ by at least
/// one and their floors keep their order; equal measures give equal keys.
const PER_WEIGHT_BITS: u32 = 16;
const _: () = assert!((MAX_WEIGHT as u64) * (MAX_WEIGHT as u64) <= 1 << PER_WEIGHT_BITS);

/// Least-connections' key: `(active + 1) / weight`, in fixed point, exact
/// in order (see [`PER_WEIGHT_BITS`]).
pub(super) fn least_connections_key(m: &Member) -> Key {
    let load = u64::from(m.active) + 1;
    let weight = u64::from(m.effective_weight).max(1);
    key((load << PER_WEIGHT_BITS) / weight, 0)
}

/// Least-response-time's key: the mean duration in nanoseconds, then active.
pub(super) fn least_response_time_key(m: &Member, t: &Tally) -> Key {
    let mean = u64::try_from(t.mean_time().as_nanos()).unwrap_or(u64::MAX);
    key(mean, m.active)
}

/// Least-load's key: the load in percent.
pub(super) fn load_key(load: u8) -> Key {
    key(u64::from(load), 0)
}

/// Random strategies: draws that may hit an already tried backend before the
/// choice falls back to the scan (it almost never does: the tried backends
/// are a few, the eligible ones many, or the few eligible are listed outright).
const MAX_REDRAWS: usize = 64;

// Reading the index: the choice of a pick.

/// What the index says.
pub(super) enum Indexed {
    /// This backend.
    Chosen(usize),
    /// No eligible backend outside `tried`.
    NoneEligible,
    /// A case the index does not cover (a retry whose tried backends leave a
    /// random draw little to choose from, or hold every reported load):
    /// scan the eligible backends instead.
    Scan,
}

impl BackendSet {
    /// One choice among the eligible backends not in `tried`.
    pub(super) fn choose_indexed(&mut self, now: Instant, tried: &[usize], key: u64) -> Indexed {
        let eligible = &self.eligible;
        let blocked = tried
            .iter()
            .enumerate()
            .filter(|&(k, &i)| eligible.contains(i) && !tried[..k].contains(&i))
            .count();
        let open = eligible.count() - blocked;
        if open == 0 {
            return Indexed::NoneEligible;
        }
        let len = self.members.len();
        let since = self.since_epoch(now);
        let chosen = match &mut self.index {
            StrategyIndex::Plain => match self.strategy {
                Strategy::RoundRobin => {
                    let chosen = first_untried(
                        |from| eligible.next_round_from(from),
                        self.next % len,
                        tried,
                    );
                    self.next = chosen + 1;
                    chosen
                }
                Strategy::ConsistentHash => {
                    let (members, records) = (&self.members, &self.records);
                    let ring = ring_over(&mut self.ring, members, records);
                    match ring
                        .walk(key)
                        .find(|&i| eligible.contains(i) && !tried.contains(&i))
                    {
                        Some(i) => i,
                        None => return Indexed::NoneEligible,
                    }
                }
                _ => first_untried(|from| eligible.next_from(from), 0, tried),
            },
            StrategyIndex::LeastConnections(tree) => {
                without(tree, tried, |tree| tree.least())
                    .expect("an open backend")
                    .1
            }
            StrategyIndex::LeastResponseTime(tree) => {
                without(tree, tried, |tree| tree.least())
                    .expect("an open backend")
                    .1
            }
            StrategyIndex::LeastLoad(index) => {
                let mut counted: Vec<usize> = Vec::new();
                for &i in tried {
                    if index.reporting.get(i) == Some(&true) && !counted.contains(&i) {
                        counted.push(i);
                    }
                }
                if index.reporters > 0 && counted.len() == index.reporters {
                    // Without the tried ones nobody reported: the loads
                    // assumed in the tree do not hold for this choice.
                    return Indexed::Scan;
                }
                let start = self.next % len;
                // The first backend with the least load from the cursor on,
                // round the list.
                let chosen = without(&mut index.tree, tried, |tree| {
                    let (least, _) = tree.least()?;
                    tree.first_at_most(start, least)
                        .or_else(|| tree.first_at_most(0, least))
                })
                .expect("an open backend");
                self.next = chosen + 1;
                chosen
            }
            StrategyIndex::Smooth(order) => {
                // Tried backends are no candidates: their running values
                // must not move during this pick.
                let mut held = Vec::new();
                for &i in tried {
                    if let Some(value) = order.remove(i) {
                        held.push((i, value));
                    }
                }
                let chosen = order.pick();
                for (i, value) in held {
                    order.insert(i, self.members[i].effective_weight, value);
                }
                chosen.expect("an open backend")
            }
            StrategyIndex::Uniform(set) => {
                if blocked > 0 && set.len() <= 4 * blocked + 4 {
                    // A few eligible and some tried: list the open ones.
                    let mut open: Vec<usize> = (0..set.len())
                        .map(|k| set.at(k))
                        .filter(|i| !tried.contains(i))
                        .collect();
                    open.sort_unstable();
                    self.scratch = open;
                }
                if set.len() == 1 {
                    set.at(0)
                } else if blocked > 0 && set.len() <= 4 * blocked + 4 {
                    let (members, ewmas) = (&self.members, &self.ewmas);
                    let scratch = &self.scratch;
                    match scratch.len() {
                        1 => scratch[0],
                        n => {
                            let (a, b) = self.rng.two_distinct(n);
                            duel(self.strategy, members, ewmas, scratch[a], scratch[b], since)
                        }
                    }
                } else {
                    let mut pair = None;
                    for _ in 0..MAX_REDRAWS {
                        let (a, b) = self.rng.two_distinct(set.len());
                        let (a, b) = (set.at(a), set.at(b));
                        if !tried.contains(&a) && !tried.contains(&b) {
                            pair = Some((a, b));
                            break;
                        }
                    }
                    let Some((a, b)) = pair else {
                        return Indexed::Scan;
                    };
                    duel(self.strategy, &self.members, &self.ewmas, a, b, since)
                }
            }
            StrategyIndex::Weighted(set) => {
                match (0..MAX_REDRAWS)
                    .filter_map(|_| set.draw(&mut self.rng))
                    .find(|i| !tried.contains(i))
                {
                    Some(i) => i,
                    None => return Indexed::Scan,
                }
            }
        };
        Indexed::Chosen(chosen)
    }
}

/// Two-choice strategies: `a` unless `b` is strictly better, compared as
/// the scan compares them.
fn duel(
    strategy: Strategy,
    members: &[Member],
    ewmas: &[PeakEwma],
    a: usize,
    b: usize,
    since: Duration,
) -> usize {
    two_choices::duel(a, b, second_is_better(strategy, members, ewmas, since))
}

/// The first backend not in `tried` that `next_from` yields from `start` on.
fn first_untried(
    next_from: impl Fn(usize) -> Option<usize>,
    start: usize,
    tried: &[usize],
) -> usize {
    let mut from = start;
    loop {
        let i = next_from(from).expect("an open backend");
        if !tried.contains(&i) {
            return i;
        }
        from = i + 1;
    }
}

/// Runs `query` on `tree` with the tried backends' keys taken out.
fn without<R>(tree: &mut Tournament, tried: &[usize], query: impl FnOnce(&Tournament) -> R) -> R {
    if tried.is_empty() {
        return query(tree);
    }
    let mut held = Vec::new();
    for &i in tried {
        if let Some(key) = tree.get(i) {
            tree.set(i, None);
            held.push((i, key));
        }
    }
    let result = query(tree);
    for (i, key) in held {
        tree.set(i, Some(key));
    }
    result
}
