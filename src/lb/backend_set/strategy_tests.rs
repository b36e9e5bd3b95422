//! The defining property of each weighted or randomized strategy, checked on
//! the set (seeded, so every run makes the same choices).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::*;

const MS: Duration = Duration::from_millis(1);

/// Picks and at once finishes `count` times, returning the backends picked.
fn picks(
    backends: &mut BackendSet,
    now: Instant,
    count: usize,
    key: impl Fn(usize) -> u64,
) -> Vec<usize> {
    (0..count)
        .map(|k| {
            let pick = backends.pick(now, &[], key(k)).expect("a backend");
            let backend = pick.backend;
            backends.finish(pick, now);
            backend
        })
        .collect()
}

fn letters(backends: &[usize]) -> String {
    backends.iter().map(|&i| (b'a' + i as u8) as char).collect()
}

fn share(backends: &[usize], which: usize) -> f64 {
    backends.iter().filter(|&&i| i == which).count() as f64 / backends.len() as f64
}

/// Gives `backend` `count` open picks by taking the others out meanwhile.
fn load_up(backends: &mut BackendSet, backend: usize, count: usize, now: Instant) -> Vec<Pick> {
    let others: Vec<usize> = (0..backends.len()).filter(|&i| i != backend).collect();
    others
        .iter()
        .for_each(|&i| backends.set_state(i, BackendState::Maint));
    let open = (0..count)
        .map(|_| backends.pick(now, &[], 0).unwrap())
        .collect();
    others
        .iter()
        .for_each(|&i| backends.set_state(i, BackendState::Up));
    open
}

#[test]
fn weighted_round_robin_interleaves_weights_five_one_one_like_nginx() {
    let mut backends = BackendSet::from_weights(&[5, 1, 1], Strategy::WeightedRoundRobin);
    let order = letters(&picks(&mut backends, Instant::now(), 14, |_| 0));
    assert_eq!(order, "aabacaaaabacaa");
}

#[test]
fn weighted_round_robin_skips_a_backend_that_goes_down() {
    let mut backends = BackendSet::from_weights(&[2, 1, 1], Strategy::WeightedRoundRobin);
    backends.set_state(0, BackendState::Down);
    let order = letters(&picks(&mut backends, Instant::now(), 6, |_| 0));
    assert_eq!(order, "bcbcbc");
}

#[test]
fn power_of_two_never_picks_the_more_loaded_of_two_backends() {
    let now = Instant::now();
    let mut backends = BackendSet::from_weights(&[1, 1], Strategy::PowerOfTwo);
    let _open = load_up(&mut backends, 0, 3, now);
    assert!(
        picks(&mut backends, now, 200, |_| 0)
            .iter()
            .all(|&i| i == 1)
    );
}

#[test]
fn power_of_two_steers_load_away_from_a_heavily_loaded_backend() {
    let now = Instant::now();
    let mut backends = BackendSet::from_weights(&[1; 4], Strategy::PowerOfTwo);
    let _heavy = load_up(&mut backends, 0, 40, now);
    let chosen = picks(&mut backends, now, 2000, |_| 0);
    assert_eq!(
        share(&chosen, 0),
        0.0,
        "the heavy backend loses every comparison"
    );
    for i in 1..4 {
        let s = share(&chosen, i);
        assert!((0.25..0.42).contains(&s), "backend {i}: {s}");
    }
    // Kept open, new picks fill the others up towards the heavy one's level.
    let open: Vec<Pick> = (0..90)
        .map(|_| backends.pick(now, &[], 0).unwrap())
        .collect();
    let active: Vec<u32> = (0..4).map(|i| backends.stats(i).active).collect();
    assert_eq!(active[0], 40, "{active:?}");
    assert!(
        active[1..].iter().all(|&a| (24..=36).contains(&a)),
        "{active:?}"
    );
    drop(open);
}

#[test]
fn peak_ewma_avoids_a_slow_backend_and_returns_to_it_once_it_recovers() {
    let t0 = Instant::now();
    let mut backends = BackendSet::from_weights(&[1; 3], Strategy::PeakEwma);
    // One slow answer from a, fast ones from b and c.
    for (backend, latency) in [(0, 1000 * MS), (1, 10 * MS), (2, 10 * MS)] {
        let open = load_up(&mut backends, backend, 1, t0);
        open.into_iter()
            .for_each(|p| backends.finish(p, t0 + latency));
    }
    let mut now = t0 + 1000 * MS;
    let mut chosen = Vec::new();
    for _ in 0..800 {
        let pick = backends.pick(now, &[], 0).unwrap();
        chosen.push(pick.backend);
        backends.finish(pick, now + 10 * MS);
        now += 100 * MS;
    }
    // a's estimate needs about 4.6 decay periods (46 s, 460 picks) to fall
    // below b's and c's 10 ms; then its fast answers pull it down further.
    assert_eq!(share(&chosen[..300], 0), 0.0, "{}", letters(&chosen));
    let late = chosen[600..].iter().filter(|&&i| i == 0).count();
    assert!(late >= 5, "{}", letters(&chosen));
}

#[test]
fn peak_ewma_prefers_the_backend_with_less_work_in_flight_at_equal_latency() {
    let now = Instant::now();
    let mut backends = BackendSet::from_weights(&[1; 2], Strategy::PeakEwma);
    for backend in 0..2 {
        let open = load_up(&mut backends, backend, 1, now);
        open.into_iter()
            .for_each(|p| backends.finish(p, now + 10 * MS));
    }
    let _busy = load_up(&mut backends, 0, 2, now + 10 * MS);
    assert!(
        picks(&mut backends, now + 10 * MS, 50, |_| 0)
            .iter()
            .all(|&i| i == 1)
    );
}

fn owners(backends: &mut BackendSet, keys: &[u64]) -> Vec<usize> {
    let now = Instant::now();
    picks(backends, now, keys.len(), |k| keys[k])
}

fn ten_thousand_keys() -> Vec<u64> {
    (0u32..10_000).map(|i| hash_key(&i.to_be_bytes())).collect()
}

#[test]
fn consistent_hash_maps_a_key_to_the_same_backend_and_spreads_keys_evenly() {
    let keys = ten_thousand_keys();
    let mut backends = BackendSet::from_weights(&[1; 5], Strategy::ConsistentHash);
    let first = owners(&mut backends, &keys);
    assert_eq!(owners(&mut backends, &keys), first);
    for i in 0..5 {
        let s = share(&first, i);
        assert!((0.14..0.26).contains(&s), "backend {i}: {s}");
    }
}

#[test]
fn consistent_hash_moves_only_the_keys_of_a_backend_that_goes_down() {
    let keys = ten_thousand_keys();
    let mut backends = BackendSet::from_weights(&[1; 5], Strategy::ConsistentHash);
    let before = owners(&mut backends, &keys);
    backends.set_state(2, BackendState::Down);
    let after = owners(&mut backends, &keys);
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(*b == 2, b != a, "exactly the keys of backend 2 move");
    }
    backends.set_state(2, BackendState::Up);
    assert_eq!(
        owners(&mut backends, &keys),
        before,
        "they come back with it"
    );
}

#[test]
fn consistent_hash_moves_only_the_keys_of_a_removed_backend() {
    let keys = ten_thousand_keys();
    let specs: Vec<BackendSpec> = (0..5)
        .map(|i| {
            let mut spec = BackendSpec::new(([127, 0, 0, 1], 5000 + i).into());
            spec.name = format!("pi{i}");
            spec
        })
        .collect();
    let mut backends = BackendSet::new(&specs, Strategy::ConsistentHash);
    let before = owners(&mut backends, &keys);
    let mut fewer = specs.clone();
    fewer.remove(1);
    let moved = backends.reconfigure(&fewer);
    assert_eq!(moved, vec![Some(0), None, Some(1), Some(2), Some(3)]);
    let after = owners(&mut backends, &keys);
    for (b, a) in before.iter().zip(&after) {
        if *b != 1 {
            assert_eq!(moved[*b], Some(*a), "a key of a kept backend stays");
        }
    }
}

#[test]
fn consistent_hash_gives_keys_in_proportion_to_weight() {
    let keys = ten_thousand_keys();
    let mut backends = BackendSet::from_weights(&[1, 3], Strategy::ConsistentHash);
    let s = share(&owners(&mut backends, &keys), 1);
    assert!((0.68..0.82).contains(&s), "{s}");
}

#[test]
fn random_spreads_picks_in_proportion_to_weight_among_up_backends() {
    let mut backends = BackendSet::from_weights(&[1, 3, 5], Strategy::Random);
    backends.set_state(2, BackendState::Drain);
    let chosen = picks(&mut backends, Instant::now(), 8000, |_| 0);
    assert_eq!(share(&chosen, 2), 0.0);
    let s = share(&chosen, 1);
    assert!((0.72..0.78).contains(&s), "{s}");
}

#[test]
fn least_load_picks_the_lowest_reported_load_round_robin_among_equals() {
    let mut backends = BackendSet::from_weights(&[1; 4], Strategy::LeastLoad);
    backends.set_load(0, Some(50));
    backends.set_load(1, Some(20));
    backends.set_load(2, Some(20));
    // Backend 3 has not reported: it counts as fully loaded.
    let now = Instant::now();
    assert_eq!(letters(&picks(&mut backends, now, 4, |_| 0)), "bcbc");
    backends.set_state(1, BackendState::Maint);
    assert_eq!(letters(&picks(&mut backends, now, 2, |_| 0)), "cc");
}

#[test]
fn least_load_without_any_report_is_plain_round_robin() {
    let mut backends = BackendSet::from_weights(&[1; 3], Strategy::LeastLoad);
    assert_eq!(
        letters(&picks(&mut backends, Instant::now(), 6, |_| 0)),
        "abcabc"
    );
}

#[test]
fn least_connections_weighs_active_by_weight() {
    let now = Instant::now();
    let mut backends = BackendSet::from_weights(&[1, 3], Strategy::LeastConnections);
    let open: Vec<Pick> = (0..8)
        .map(|_| backends.pick(now, &[], 0).unwrap())
        .collect();
    assert_eq!((backends.stats(0).active, backends.stats(1).active), (2, 6));
    drop(open);
}

#[test]
fn the_same_seed_replays_the_same_random_choices() {
    let run = |seed| {
        let mut backends = BackendSet::from_weights(&[1; 8], Strategy::Random);
        backends.set_seed(seed);
        picks(&mut backends, Instant::now(), 50, |_| 0)
    };
    assert_eq!(run(3), run(3));
    assert_ne!(run(3), run(4));
    let counts = run(5).iter().fold(HashMap::new(), |mut m, &i| {
        *m.entry(i).or_insert(0) += 1;
        m
    });
    assert!(counts.len() > 4);
}
