//! Applying the set's strategy to its backends by scanning them all: the
//! definition of each strategy's choice. Picks go through the maintained
//! index ([`super::choose_indexed`]) and fall back to this scan only when no
//! backend outside a backoff is left (all are tried anyway), or for the rare
//! retries the index does not cover; the tests compare the two.

use std::cmp::Ordering;
use std::time::{Duration, Instant};

use super::BackendSet;
use super::member::{Member, ring_over};
use crate::lb::strategy::ewma::PeakEwma;
use crate::lb::strategy::{Strategy, smooth};

/// Peak-EWMA: the cost of a backend with work in flight and no latency
/// sample yet, so that an unmeasured backend gets one pick at a time until it
/// answers (Finagle's penalty).
pub const UNMEASURED_PENALTY: Duration = Duration::from_secs(30);

/// Least-load: the load assumed of a backend whose agent has not reported,
/// when another one has.
pub const UNREPORTED_LOAD: u8 = 100;

impl BackendSet {
    /// One choice among the available backends not in `tried`, skipping those
    /// in backoff when `skip_backoff`.
    pub(super) fn choose(
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
            Strategy::RoundRobin => {
                let chosen = rotate_from(self.next, members.len()).find(|&i| ok(i))?;
                self.next = chosen + 1;
                Some(chosen)
            }
            Strategy::LeastConnections => candidates
                .min_by(|&a, &b| per_weight(&members[a]).cmp_with(&per_weight(&members[b]))),
            Strategy::LeastResponseTime => {
                let tallies = &self.tallies;
                candidates.min_by_key(|&i| (tallies[i].mean_time(), members[i].active, i))
            }
            Strategy::WeightedRoundRobin => smooth::next(
                &mut self.smooth,
                candidates.map(|i| (i, members[i].effective_weight)),
            ),
            Strategy::PowerOfTwo | Strategy::PeakEwma => {
                self.scratch.clear();
                self.scratch.extend(candidates);
                let (a, b) = match self.scratch.len() {
                    0 => return None,
                    1 => return Some(self.scratch[0]),
                    n => {
                        let (a, b) = self.rng.two_distinct(n);
                        (self.scratch[a], self.scratch[b])
                    }
                };
                let b_wins = if self.strategy == Strategy::PowerOfTwo {
                    members[b].active < members[a].active
                } else {
                    ewma_cost(&members[b], &ewmas[b], since)
                        < ewma_cost(&members[a], &ewmas[a], since)
                };
                Some(if b_wins { b } else { a })
            }
            Strategy::ConsistentHash => {
                candidates.next()?;
                let ring = ring_over(&mut self.ring, members, records);
                ring.walk(key).find(|&i| ok(i))
            }
            Strategy::Random => {
                let weight = |i: usize| u64::from(members[i].effective_weight);
                let total: u64 = candidates.clone().map(weight).sum();
                if total == 0 {
                    return None;
                }
                let mut ticket = self.rng.below(total);
                candidates.find(|&i| {
                    let w = weight(i);
                    if ticket < w {
                        true
                    } else {
                        ticket -= w;
                        false
                    }
                })
            }
            Strategy::LeastLoad => {
                // Unknown loads count as idle while no agent has reported (plain
                // round-robin), and as fully loaded once one has: a backend that
                // stopped reporting should not attract all the work.
                let reported = candidates.any(|i| loads[i].is_some());
                let unknown = if reported { UNREPORTED_LOAD } else { 0 };
                let load = |i: usize| loads[i].unwrap_or(unknown);
                // The first minimum from the cursor on: round-robin among equals.
                let chosen = rotate_from(self.next, members.len())
                    .filter(|&i| ok(i))
                    .min_by_key(|&i| load(i))?;
                self.next = chosen + 1;
                Some(chosen)
            }
        }
    }
}

/// Indices `0..len`, starting at `start % len` and wrapping round.
fn rotate_from(start: usize, len: usize) -> impl Iterator<Item = usize> {
    let start = if len == 0 { 0 } else { start % len };
    (start..len).chain(0..start)
}

/// Least-connections' measure `(active + 1) / weight`, compared exactly by
/// cross-multiplying.
#[derive(Debug, Clone, Copy)]
pub(super) struct PerWeight {
    load: u64,
    weight: u64,
}

pub(super) fn per_weight(m: &Member) -> PerWeight {
    PerWeight {
        load: u64::from(m.active) + 1,
        weight: u64::from(m.effective_weight).max(1),
    }
}

impl PerWeight {
    fn cmp_with(&self, other: &PerWeight) -> Ordering {
        (self.load * other.weight).cmp(&(other.load * self.weight))
    }
}

impl Ord for PerWeight {
    fn cmp(&self, other: &Self) -> Ordering {
        self.cmp_with(other)
    }
}

impl PartialOrd for PerWeight {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Equal measures are equal, however they are made up (1/2 = 2/4).
impl PartialEq for PerWeight {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for PerWeight {}

/// Peak-EWMA's cost: latency estimate times (active + 1), in nanoseconds.
pub(super) fn ewma_cost(m: &Member, ewma: &PeakEwma, since_epoch: Duration) -> f64 {
    let active = m.active;
    let rtt = ewma.nanos(since_epoch).unwrap_or(0.0);
    if rtt <= 0.0 && active > 0 {
        UNMEASURED_PENALTY.as_nanos() as f64
    } else {
        rtt * f64::from(active + 1)
    }
}
