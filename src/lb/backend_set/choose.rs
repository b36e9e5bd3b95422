//! The plain scan: the backend set hands every available backend's figures
//! to its strategy's definition in [`crate::lb::strategy`]. Picks go through
//! the maintained index ([`super::choose_indexed`]) and fall back to this
//! scan only when no backend outside a backoff is left (all are tried
//! anyway), or for the rare retries the index does not cover; the tests
//! compare the two.

use std::time::{Duration, Instant};

use super::BackendSet;
use super::member::{Member, ring_over};
use crate::lb::strategy::ewma::PeakEwma;
use crate::lb::strategy::{
    Strategy, ewma, least_connections, least_load, least_response_time, random, round_robin,
    smooth, two_choices,
};

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
}

/// The two-choice strategies' comparison, as [`two_choices`] takes it:
/// whether the second backend drawn has fewer active picks (power-of-two)
/// or a lower [`ewma::cost`] (peak-ewma) than the first.
pub(super) fn second_is_better(
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
