//! The maintained eligible set and indexes against the plain scan: random
//! sequences of picks, finishes, failures, state, weight, load and cap
//! changes, with the same choices for the deterministic strategies and the
//! same distribution for the random ones.

use std::time::{Duration, Instant};

use super::*;

impl BackendSet {
    /// A set that picks by scanning only: the reference.
    fn scanning(weights: &[u16], strategy: Strategy) -> Self {
        let mut backends = Self::from_weights(weights, strategy);
        backends.scan_only = true;
        backends.rebuild();
        backends
    }

    /// The pick as the plain scan makes it.
    pub(super) fn pick_by_scan(&mut self, now: Instant, tried: &[usize], key: u64) -> Option<Pick> {
        let backend = self
            .choose(now, tried, key, true)
            .or_else(|| self.choose(now, tried, key, false))?;
        self.members[backend].active += 1;
        Some(self.take(backend, now))
    }

    /// Checks the eligible set and the index against the backends at `now`.
    fn assert_index_holds(&self, now: Instant) {
        let want: Vec<usize> = (0..self.len())
            .filter(|&i| self.members[i].available() && !self.records[i].in_backoff(now))
            .collect();
        let held: Vec<usize> = self.eligible.iter().collect();
        assert_eq!(held, want, "eligible set");
        assert_eq!(self.eligible.count(), want.len());
        let mut is_member = vec![false; self.len()];
        want.iter().for_each(|&i| is_member[i] = true);
        let reported = want.iter().any(|&k| self.loads[k].is_some());
        let member = |i: usize| is_member[i];
        for i in 0..self.len() {
            let m = &self.members[i];
            match &self.index {
                StrategyIndex::Plain => {}
                StrategyIndex::Uniform(set) => assert_eq!(set.contains(i), member(i)),
                StrategyIndex::Weighted(_) => {}
                StrategyIndex::LeastConnections(tree) => {
                    let key = member(i).then(|| index::least_connections_key(m));
                    assert_eq!(tree.get(i), key, "least-connections key of {i}");
                }
                StrategyIndex::LeastResponseTime(tree) => {
                    let t = &self.tallies[i];
                    let key = member(i).then(|| index::least_response_time_key(m, t));
                    assert_eq!(tree.get(i), key, "least-response-time key of {i}");
                }
                StrategyIndex::LeastLoad(index) => {
                    let unknown = if reported {
                        crate::lb::strategy::least_load::UNREPORTED_LOAD
                    } else {
                        0
                    };
                    let load = self.loads[i].unwrap_or(unknown);
                    let key = member(i).then(|| index::load_key(load));
                    assert_eq!(index.tree.get(i), key, "least-load key of {i}");
                }
                StrategyIndex::Smooth(order) => {
                    let want = member(i).then_some(m.effective_weight);
                    assert_eq!(order.weight_of(i), want, "smooth member {i}");
                }
            }
        }
    }
}

impl BackendSet {
    /// The backends a pick may choose at `now` by the module's rule: the
    /// available ones not tried, those out of backoff if there are any.
    fn allowed(&self, now: Instant, tried: &[usize]) -> Vec<usize> {
        let valid: Vec<usize> = (0..self.len())
            .filter(|&i| self.members[i].available() && !tried.contains(&i))
            .collect();
        let ready: Vec<usize> = valid
            .iter()
            .copied()
            .filter(|&i| !self.records[i].in_backoff(now))
            .collect();
        if ready.is_empty() { valid } else { ready }
    }
}

/// Runs the same random operations on a maintained set and a scanning one,
/// calling `compare` with both picks' backends.
fn replay(
    strategy: Strategy,
    seed: u64,
    steps: usize,
    mut compare: impl FnMut(Option<usize>, Option<usize>),
) {
    let mut rng = SplitMix64::new(seed);
    let len = 3 + rng.below(40) as usize;
    let weights: Vec<u16> = (0..len).map(|_| rng.below(6) as u16).collect();
    let mut fast = BackendSet::from_weights(&weights, strategy);
    let mut reference = BackendSet::scanning(&weights, strategy);
    fast.set_seed(seed);
    reference.set_seed(seed);
    let mut open: Vec<(Pick, Pick)> = Vec::new();
    let mut now = Instant::now();
    let states = [
        BackendState::Up,
        BackendState::Up,
        BackendState::Down,
        BackendState::Drain,
    ];
    for _ in 0..steps {
        now += Duration::from_millis(rng.below(300));
        let i = rng.below(len as u64) as usize;
        match rng.below(16) {
            0..=6 => {
                let tried: Vec<usize> = (0..rng.below(3))
                    .map(|_| rng.below(len as u64) as usize)
                    .collect();
                let key = rng.next_u64();
                let allowed = fast.allowed(now, &tried);
                let a = fast.pick(now, &tried, key);
                match &a {
                    Some(pick) => assert!(
                        allowed.contains(&pick.backend),
                        "{strategy}: {} not in {allowed:?}",
                        pick.backend
                    ),
                    None => assert!(allowed.is_empty(), "{strategy}: none of {allowed:?}"),
                }
                let b = reference.pick(now, &tried, key);
                compare(a.as_ref().map(|p| p.backend), b.as_ref().map(|p| p.backend));
                // The random strategies may choose apart: pair by backend
                // only when both chose one (counters still move alike).
                if let (Some(a), Some(b)) = (a, b) {
                    open.push((a, b));
                }
            }
            7..=9 if !open.is_empty() => {
                let (a, b) = open.swap_remove(rng.below(open.len() as u64) as usize);
                let end = now + Duration::from_millis(rng.below(50));
                fast.finish(a, end);
                reference.finish(b, end);
            }
            10 if !open.is_empty() => {
                let (a, b) = open.swap_remove(rng.below(open.len() as u64) as usize);
                fast.fail(a, now);
                reference.fail(b, now);
            }
            11 if !open.is_empty() => {
                let (a, b) = open.swap_remove(rng.below(open.len() as u64) as usize);
                fast.release(a);
                reference.release(b);
            }
            12 => {
                let state = states[rng.below(4) as usize];
                fast.set_state(i, state);
                reference.set_state(i, state);
            }
            13 => {
                let weight = rng.below(6) as u16;
                fast.set_weight(i, weight);
                reference.set_weight(i, weight);
            }
            14 => {
                let load = (rng.below(3) > 0).then(|| rng.below(4) as u8 * 25);
                fast.set_load(i, load);
                reference.set_load(i, load);
            }
            _ => {
                let cap = (rng.below(2) == 0).then(|| 1 + rng.below(3) as u32);
                fast.set_max_conn(i, cap);
                reference.set_max_conn(i, cap);
            }
        }
        fast.end_backoffs(now);
        fast.assert_index_holds(now);
    }
}

#[test]
fn deterministic_strategies_choose_as_the_scan_does() {
    for strategy in [
        Strategy::NToOne,
        Strategy::RoundRobin,
        Strategy::LeastConnections,
        Strategy::LeastResponseTime,
        Strategy::WeightedRoundRobin,
        Strategy::ConsistentHash,
        Strategy::LeastLoad,
    ] {
        for seed in 0..8 {
            replay(strategy, seed, 800, |fast, scan| {
                assert_eq!(fast, scan, "{strategy}, seed {seed}");
            });
        }
    }
}

#[test]
fn random_strategies_pick_only_allowed_backends_as_the_set_changes() {
    // `replay` checks every pick against the rule and the index after each step.
    for strategy in [Strategy::Random, Strategy::PowerOfTwo, Strategy::PeakEwma] {
        for seed in 0..8 {
            replay(strategy, seed, 800, |_, _| {});
        }
    }
}

#[test]
fn a_change_of_strategy_keeps_the_running_weighted_order() {
    let now = Instant::now();
    let mut backends = BackendSet::from_weights(&[5, 1, 1], Strategy::WeightedRoundRobin);
    let mut order = String::new();
    for k in 0..14 {
        if k == 5 {
            backends.set_strategy(Strategy::RoundRobin);
            backends.set_strategy(Strategy::WeightedRoundRobin);
        }
        let pick = backends.pick(now, &[], 0).unwrap();
        order.push((b'a' + pick.backend as u8) as char);
        backends.finish(pick, now);
    }
    assert_eq!(order, "aabacaaaabacaa");
}

/// Shares of the backends over `picks` picks, each released at once so
/// that the counters stay as set up.
fn shares(backends: &mut BackendSet, now: Instant, picks: usize) -> Vec<f64> {
    let mut counts = vec![0u32; backends.len()];
    for _ in 0..picks {
        let pick = backends.pick(now, &[], 0).unwrap();
        counts[pick.backend] += 1;
        backends.release(pick);
    }
    counts
        .iter()
        .map(|&c| f64::from(c) / picks as f64)
        .collect()
}

/// A set with unequal weights, actives and latencies, some backends out.
fn uneven(strategy: Strategy, scan: bool, now: Instant) -> BackendSet {
    let weights = [1, 2, 3, 4, 1, 2, 3, 4, 5, 1];
    let mut backends = if scan {
        BackendSet::scanning(&weights, strategy)
    } else {
        BackendSet::from_weights(&weights, strategy)
    };
    backends.set_seed(if scan { 1 } else { 2 });
    for i in 0..weights.len() {
        // Latency samples for peak-EWMA, then i % 4 picks kept open.
        let pick = backends.pick_by_index(i, now);
        backends.finish(pick, now + Duration::from_millis(3 * i as u64 + 1));
        for _ in 0..i % 4 {
            let _kept = backends.pick_by_index(i, now);
        }
    }
    backends.set_state(2, BackendState::Down);
    backends.set_state(7, BackendState::Drain);
    backends
}

impl BackendSet {
    /// A pick of backend `i` whatever the strategy (the others in maintenance meanwhile).
    fn pick_by_index(&mut self, i: usize, now: Instant) -> Pick {
        let states: Vec<BackendState> = (0..self.len()).map(|k| self.state(k)).collect();
        (0..self.len())
            .filter(|&k| k != i)
            .for_each(|k| self.set_state(k, BackendState::Maint));
        let pick = self.pick(now, &[], 0).unwrap();
        states
            .iter()
            .enumerate()
            .for_each(|(k, &s)| self.set_state(k, s));
        pick
    }
}

#[test]
fn random_strategies_have_the_distribution_of_the_scan() {
    let now = Instant::now();
    let picks = 40_000;
    for strategy in [Strategy::Random, Strategy::PowerOfTwo, Strategy::PeakEwma] {
        let fast = shares(&mut uneven(strategy, false, now), now, picks);
        let scan = shares(&mut uneven(strategy, true, now), now, picks);
        for (i, (f, s)) in fast.iter().zip(&scan).enumerate() {
            // Two independent samples: five standard deviations of the difference.
            let sigma = (2.0 * s.max(0.001) * (1.0 - s) / picks as f64).sqrt();
            assert!(
                (f - s).abs() < 5.0 * sigma,
                "{strategy} backend {i}: {f} vs {s}"
            );
        }
        assert_eq!((fast[2], fast[7]), (0.0, 0.0), "{strategy}");
    }
}

#[test]
fn large_pools_keep_the_choices_of_the_scan() {
    let now = Instant::now();
    let weights: Vec<u16> = (0..1200).map(|i| 1 + (i % 4) as u16).collect();
    for strategy in [
        Strategy::LeastConnections,
        Strategy::WeightedRoundRobin,
        Strategy::LeastLoad,
    ] {
        let mut fast = BackendSet::from_weights(&weights, strategy);
        let mut scan = BackendSet::scanning(&weights, strategy);
        for backends in [&mut fast, &mut scan] {
            for i in (0..1200).step_by(5) {
                backends.set_state(i, BackendState::Down);
                backends.set_load(i + 1, Some((i % 100) as u8));
            }
        }
        let mut open = Vec::new();
        for k in 0..1500u64 {
            let a = fast.pick(now, &[], k).unwrap();
            let b = scan.pick(now, &[], k).unwrap();
            assert_eq!(a.backend, b.backend, "{strategy}, pick {k}");
            open.push((a, b));
            if k % 3 == 0 {
                let (a, b) = open.swap_remove(k as usize % open.len());
                fast.finish(a, now);
                scan.finish(b, now);
            }
        }
        fast.assert_index_holds(now);
    }
}
