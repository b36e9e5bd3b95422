//! The original project's strategy sequences and the passive-check rules.

use super::*;

const A: usize = 0;
const B: usize = 1;
const C: usize = 2;
const D: usize = 3;

fn name(i: usize) -> char {
    (b'A' + i as u8) as char
}

/// Replays the original project's test: 8 picks from A B C D, 100 ms apart;
/// with `ends`, after each of picks 5 to 8 the oldest open connection of the
/// next backend in A, D, C, A, ... ends.
fn sequence(strategy: Strategy, ends: bool) -> String {
    let t0 = Instant::now();
    let mut backends = BackendSet::from_weights(&[1; 4], strategy);
    let mut open: Vec<Vec<Pick>> = (0..4).map(|_| Vec::new()).collect();
    let enders = [A, D, C];
    let mut out = String::new();
    for k in 0..8 {
        let now = t0 + Duration::from_millis(100 * k as u64);
        let pick = backends.pick(now, &[], 0).expect("a backend");
        out.push(name(pick.backend));
        open[pick.backend].push(pick);
        if ends && k >= 4 {
            let who = enders[(k - 4) % enders.len()];
            if !open[who].is_empty() {
                let oldest = open[who].remove(0);
                backends.finish(oldest, now);
            }
        }
    }
    out
}

#[test]
fn n_to_one_always_picks_the_first_backend() {
    assert_eq!(sequence(Strategy::NToOne, false), "AAAAAAAA");
    assert_eq!(sequence(Strategy::NToOne, true), "AAAAAAAA");
}

#[test]
fn round_robin_cycles_in_list_order() {
    assert_eq!(sequence(Strategy::RoundRobin, false), "ABCDABCD");
    assert_eq!(sequence(Strategy::RoundRobin, true), "ABCDABCD");
}

#[test]
fn least_connections_picks_fewest_active_with_ties_to_list_order() {
    assert_eq!(sequence(Strategy::LeastConnections, false), "ABCDABCD");
    assert_eq!(sequence(Strategy::LeastConnections, true), "ABCDAADC");
}

#[test]
fn least_response_time_follows_the_smallest_mean_duration() {
    assert_eq!(sequence(Strategy::LeastResponseTime, true), "ABCDABCB");
}

#[test]
fn tried_backends_are_not_picked_again() {
    let now = Instant::now();
    for strategy in Strategy::ALL {
        let mut backends = BackendSet::from_weights(&[1; 3], strategy);
        let first = backends.pick(now, &[], 0).unwrap();
        let second = backends.pick(now, &[first.backend], 0).unwrap();
        let third = backends
            .pick(now, &[first.backend, second.backend], 0)
            .unwrap();
        let mut seen = vec![first.backend, second.backend, third.backend];
        seen.sort();
        assert_eq!(seen, vec![0, 1, 2], "{strategy}");
        assert_eq!(backends.pick(now, &[0, 1, 2], 0), None, "{strategy}");
    }
}

#[test]
fn failed_backend_sits_out_its_backoff_then_returns() {
    let t0 = Instant::now();
    let mut backends = BackendSet::from_weights(&[1; 2], Strategy::NToOne);
    let pick = backends.pick(t0, &[], 0).unwrap();
    assert_eq!(pick.backend, A);
    backends.fail(pick, t0);
    let during = backends
        .pick(t0 + Duration::from_millis(500), &[], 0)
        .unwrap();
    assert_eq!(during.backend, B, "A is in backoff");
    backends.finish(during, t0 + Duration::from_millis(500));
    let after = backends.pick(t0 + DEFAULT_BACKOFF, &[], 0).unwrap();
    assert_eq!(after.backend, A, "A is back after its backoff");
}

#[test]
fn backoff_doubles_with_consecutive_failures_up_to_a_cap() {
    let t0 = Instant::now();
    let mut backends = BackendSet::from_weights(&[1; 1], Strategy::RoundRobin);
    for _ in 0..3 {
        let pick = backends.pick(t0, &[], 0).unwrap();
        backends.fail(pick, t0);
    }
    assert_eq!(
        backends.stats(A).backoff_until,
        Some(t0 + DEFAULT_BACKOFF * 4)
    );
    for _ in 0..20 {
        let pick = backends.pick(t0, &[], 0).unwrap();
        backends.fail(pick, t0);
    }
    assert_eq!(backends.stats(A).backoff_until, Some(t0 + MAX_BACKOFF));
}

#[test]
fn when_every_backend_is_in_backoff_they_are_tried_anyway() {
    let t0 = Instant::now();
    let mut backends = BackendSet::from_weights(&[1; 2], Strategy::RoundRobin);
    for _ in 0..2 {
        let pick = backends.pick(t0, &[], 0).unwrap();
        backends.fail(pick, t0);
    }
    assert!(backends.pick(t0, &[], 0).is_some());
}

#[test]
fn round_robin_skips_backends_in_backoff_without_losing_its_place() {
    let t0 = Instant::now();
    let mut backends = BackendSet::from_weights(&[1; 3], Strategy::RoundRobin);
    let a = backends.pick(t0, &[], 0).unwrap();
    let b = backends.pick(t0, &[], 0).unwrap();
    backends.fail(b, t0);
    backends.finish(a, t0);
    let order: String = (0..4)
        .map(|_| {
            let p = backends.pick(t0, &[], 0).unwrap();
            let c = name(p.backend);
            backends.finish(p, t0);
            c
        })
        .collect();
    assert_eq!(order, "CACA");
}

#[test]
fn original_class_names_are_accepted_as_aliases() {
    assert_eq!("N2One".parse(), Ok(Strategy::NToOne));
    assert_eq!("RoundRobin".parse(), Ok(Strategy::RoundRobin));
    assert_eq!("LeastConnections".parse(), Ok(Strategy::LeastConnections));
    assert_eq!("LeastResponseTime".parse(), Ok(Strategy::LeastResponseTime));
    assert!(
        "fastest"
            .parse::<Strategy>()
            .unwrap_err()
            .to_string()
            .contains("round-robin")
    );
}

fn spec(name: &str, weight: u16) -> BackendSpec {
    let mut spec = BackendSpec::new(([127, 0, 0, 1], 1).into());
    spec.name = name.to_string();
    spec.weight = weight;
    spec
}

#[test]
fn only_up_backends_get_new_picks_and_none_up_gives_no_pick() {
    let now = Instant::now();
    for strategy in Strategy::ALL {
        let mut backends = BackendSet::from_weights(&[1; 4], strategy);
        backends.set_state(A, BackendState::Down);
        backends.set_state(B, BackendState::Drain);
        backends.set_state(C, BackendState::Maint);
        for _ in 0..8 {
            let pick = backends.pick(now, &[], 7).unwrap();
            assert_eq!(pick.backend, D, "{strategy}");
            backends.finish(pick, now);
        }
        backends.set_state(D, BackendState::Down);
        assert_eq!(backends.pick(now, &[], 7), None, "{strategy}");
    }
}

#[test]
fn a_draining_backend_finishes_its_in_flight_picks() {
    let now = Instant::now();
    let mut backends = BackendSet::from_weights(&[1; 2], Strategy::NToOne);
    let pick = backends.pick(now, &[], 0).unwrap();
    backends.set_state(A, BackendState::Drain);
    assert_eq!(backends.state(A), BackendState::Drain);
    backends.finish(pick, now + Duration::from_millis(5));
    assert_eq!(backends.stats(A).active, 0);
    assert_eq!(backends.stats(A).completed, 1);
}

#[test]
fn backends_in_backoff_are_tried_only_among_up_ones() {
    let t0 = Instant::now();
    let mut backends = BackendSet::from_weights(&[1; 2], Strategy::RoundRobin);
    let pick = backends.pick(t0, &[], 0).unwrap();
    backends.fail(pick, t0);
    backends.set_state(B, BackendState::Down);
    assert_eq!(backends.pick(t0, &[], 0).map(|p| p.backend), Some(A));
}

#[test]
fn max_conn_caps_the_active_picks_of_a_backend() {
    let now = Instant::now();
    let mut backends = BackendSet::from_weights(&[1; 2], Strategy::NToOne);
    backends.set_max_conn(A, Some(1));
    let first = backends.pick(now, &[], 0).unwrap();
    let second = backends.pick(now, &[], 0).unwrap();
    assert_eq!((first.backend, second.backend), (A, B));
    backends.set_max_conn(B, Some(1));
    assert_eq!(backends.pick(now, &[], 0), None);
    backends.finish(first, now);
    assert_eq!(backends.pick(now, &[], 0).map(|p| p.backend), Some(A));
    backends.set_max_conn(B, None);
    assert_eq!(backends.max_conn(B), None);
}

#[test]
fn effective_weight_follows_the_agent_and_zero_takes_a_backend_out() {
    let now = Instant::now();
    let mut backends = BackendSet::from_weights(&[4, 1], Strategy::WeightedRoundRobin);
    backends.set_weight_percent(A, 50);
    assert_eq!((backends.weight(A), backends.effective_weight(A)), (4, 2));
    backends.set_weight_percent(B, 10);
    assert_eq!(
        backends.effective_weight(B),
        1,
        "a non-zero percent keeps weight 1"
    );
    backends.set_weight(A, 0);
    for _ in 0..4 {
        let pick = backends.pick(now, &[], 0).unwrap();
        assert_eq!(pick.backend, B);
        backends.finish(pick, now);
    }
    backends.set_weight(A, 1000);
    assert_eq!(
        backends.effective_weight(A),
        crate::lb::backend_spec::MAX_WEIGHT
    );
}

#[test]
fn reconfigure_keeps_counters_by_name_and_finishing_a_removed_pick_is_harmless() {
    let now = Instant::now();
    let mut backends = BackendSet::new(&[spec("a", 1), spec("b", 1)], Strategy::RoundRobin);
    let on_a = backends.pick(now, &[], 0).unwrap();
    let on_b = backends.pick(now, &[], 0).unwrap();
    backends.set_state(B, BackendState::Maint);
    let moved = backends.reconfigure(&[spec("c", 2), spec("b", 3)]);
    assert_eq!(moved, vec![None, Some(1)]);
    assert_eq!((backends.name(0), backends.name(1)), ("c", "b"));
    assert_eq!(backends.find("b"), Some(1));
    assert_eq!(backends.state(1), BackendState::Maint, "b keeps its state");
    assert_eq!((backends.weight(1), backends.effective_weight(1)), (3, 3));
    assert_eq!(backends.stats(1).active, 1, "b keeps its counters");
    assert_eq!(backends.index_of(&on_a), None);
    assert_eq!(backends.index_of(&on_b), Some(1));
    backends.finish(on_a, now);
    assert_eq!(backends.stats(0).active, 0);
    assert_eq!(
        backends.stats(0).completed,
        0,
        "c is not charged for a's pick"
    );
    backends.finish(on_b, now);
    assert_eq!(
        (backends.stats(1).active, backends.stats(1).completed),
        (0, 1)
    );
}

#[test]
fn finished_picks_feed_latency_percentiles_and_the_ewma() {
    let t0 = Instant::now();
    let mut backends = BackendSet::from_weights(&[1], Strategy::RoundRobin);
    assert_eq!(backends.latency_percentile(A, 0.5), None);
    for ms in 1..=100 {
        let pick = backends.pick(t0, &[], 0).unwrap();
        backends.finish(pick, t0 + Duration::from_millis(ms));
    }
    let p50 = backends.latency_percentile(A, 0.5).unwrap();
    let p99 = backends.latency_percentile(A, 0.99).unwrap();
    assert!(
        p50 > Duration::from_millis(40) && p50 < Duration::from_millis(60),
        "{p50:?}"
    );
    assert!(p99 > Duration::from_millis(85), "{p99:?}");
    assert!(
        backends
            .latency_ewma(A, t0 + Duration::from_millis(100))
            .is_some()
    );
}

#[test]
fn latency_histograms_hold_every_sample_across_batches_and_reloads() {
    let t0 = Instant::now();
    let mut backends = BackendSet::new(&[spec("a", 1), spec("b", 1)], Strategy::RoundRobin);
    let mut want = [LatencyHistogram::default(), LatencyHistogram::default()];
    for k in 0..2 * PENDING_SAMPLES + 7 {
        let pick = backends.pick(t0, &[], 0).unwrap();
        let latency = Duration::from_micros(1 + 37 * k as u64);
        want[pick.backend].record(latency);
        backends.finish(pick, t0 + latency);
        if k % 97 == 0 {
            assert_eq!(backends.latency_histogram(0), want[0], "after {k}");
        }
    }
    assert_eq!(
        backends.latency_histogram(0).count(),
        PENDING_SAMPLES as u64 + 4
    );
    assert_eq!(backends.latency_histogram(1), want[1]);
    let p90 = backends.latency_percentile(1, 0.9);
    assert_eq!(p90, want[1].percentile(0.9));
    backends.reconfigure(&[spec("b", 1), spec("c", 1), spec("a", 1)]);
    assert_eq!(backends.latency_histogram(0), want[1]);
    assert_eq!(backends.latency_histogram(1).count(), 0);
    assert_eq!(backends.latency_histogram(2), want[0]);
}
