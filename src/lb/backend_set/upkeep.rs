//! Keeping the set's view of who may take a pick up to date.
//!
//! A backend is *eligible* when it is up, has a non-zero effective weight, is
//! under its connection cap and is not sitting out a passive-check backoff.
//! The set holds the eligible backends in an [`EligibleSet`] and, for the
//! strategy in use, an index over them (a tournament tree of keys, a draw
//! list, the smooth order). Every call that changes a backend's state,
//! weight, load, cap or counters ends with [`BackendSet::refresh`] of that
//! backend, O(log N); a reload or a change of strategy rebuilds it all, O(N).
//! A pick then reads the index instead of scanning the backends.

use std::cmp::Reverse;
use std::time::Instant;

use super::BackendSet;
use super::draw::{UniformDraw, WeightedDraw};
use super::eligible::EligibleSet;
use super::member::{Member, Tally};
use super::tournament::{Key, Tournament, key};
use crate::lb::backend_spec::MAX_WEIGHT;
use crate::lb::strategy::Strategy;
use crate::lb::strategy::least_load::UNREPORTED_LOAD;
use crate::lb::strategy::smooth::SmoothOrder;

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

    /// Puts backend `i` out of rotation until its backoff ends.
    pub(super) fn sit_out(&mut self, i: usize, until: Instant) {
        if !self.sits_out[i] {
            self.sits_out[i] = true;
            self.sitting_out += 1;
        }
        self.backoffs.push(Reverse((until, i)));
        self.refresh(i);
    }

    /// Backend `i`'s backoff ended (or a success cut it short).
    pub(super) fn end_sit_out(&mut self, i: usize) {
        if self.sits_out[i] {
            self.sits_out[i] = false;
            self.sitting_out -= 1;
        }
    }

    /// Brings back the backends whose backoff ended by `now`. Times passed
    /// to the set do not go backwards (they come from the event loop).
    pub(super) fn end_backoffs(&mut self, now: Instant) {
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
