//! The strategy's choice among the eligible backends, read from the
//! maintained index (see [`super::upkeep`]) instead of a scan: O(1) for
//! n-to-1, round-robin, random, power-of-two and peak-ewma, O(log N) for the
//! least-* strategies and consistent hashing, O(weights + log N) for
//! weighted round-robin. The choices are those of the scan in
//! [`super::choose`] (the same backends for the deterministic strategies, the
//! same distribution for the random ones).
//!
//! Backends already tried for this request are passed over at a cost of
//! O(log N) each (the list is a few retries long).

use std::time::{Duration, Instant};

use super::BackendSet;
use super::choose::second_is_better;
use super::member::{Member, ring_over};
use super::tournament::Tournament;
use super::upkeep::StrategyIndex;
use crate::lb::strategy::Strategy;
use crate::lb::strategy::ewma::PeakEwma;
use crate::lb::strategy::two_choices;

/// Random strategies: draws that may hit an already tried backend before the
/// choice falls back to the scan (it almost never does: the tried backends
/// are a few, the eligible ones many, or the few eligible are listed outright).
const MAX_REDRAWS: usize = 64;

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
