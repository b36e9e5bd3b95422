//! What the wait queue asks the set (is a backend full, whom a key belongs
//! to, can a waiter be served) against what a pick does.

use std::time::Instant;

use super::*;
use crate::lb::Strategy;

#[test]
fn a_capped_backend_at_its_cap_is_full_until_a_finish() {
    let now = Instant::now();
    let mut backends = BackendSet::from_weights(&[1, 1], Strategy::RoundRobin);
    backends.set_max_conn(0, Some(1));
    backends.set_max_conn(1, Some(1));
    let a = backends.pick(now, &[], 0).unwrap();
    assert!(backends.can_serve(Target::Any, &[]));
    let b = backends.pick(now, &[], 0).unwrap();
    assert!(backends.is_full(0) && backends.is_full(1));
    assert!(backends.any_full(&[]));
    assert!(!backends.any_full(&[0, 1]));
    assert!(!backends.can_serve(Target::Any, &[]));
    assert_eq!(backends.pick(now, &[], 0), None);
    backends.finish(b, now);
    assert!(backends.can_serve(Target::Any, &[]));
    assert!(!backends.can_serve(Target::Any, &[1]), "tried before");
    assert!(backends.pick(now, &[], 0).is_some());
    backends.release(a);
}

#[test]
fn a_down_backend_is_not_full_and_frees_its_waiters() {
    let mut backends = BackendSet::from_weights(&[1], Strategy::RoundRobin);
    backends.set_max_conn(0, Some(1));
    let pick = backends.pick(Instant::now(), &[], 0).unwrap();
    assert!(!backends.can_serve(Target::Backend(0), &[]));
    backends.set_state(0, BackendState::Down);
    assert!(!backends.is_full(0));
    assert!(backends.can_serve(Target::Backend(0), &[]));
    assert!(!backends.can_serve(Target::Any, &[]));
    backends.release(pick);
}

#[test]
fn a_key_belongs_to_the_same_backend_full_or_not() {
    let now = Instant::now();
    let mut backends = BackendSet::from_weights(&[1, 1, 1], Strategy::ConsistentHash);
    for i in 0..3 {
        backends.set_max_conn(i, Some(1));
    }
    let key = 0x1234_5678_9abc_def0;
    let owner = backends.owner_of(key, &[], now).unwrap();
    let pick = backends.pick(now, &[], key).unwrap();
    assert_eq!(
        pick.backend, owner,
        "the pick goes to the owner while it has room"
    );
    assert!(backends.is_full(owner));
    assert_eq!(backends.owner_of(key, &[], now), Some(owner));
    let other = backends.owner_of(key, &[owner], now).unwrap();
    assert_ne!(other, owner);
    backends.set_state(owner, BackendState::Drain);
    assert_eq!(backends.owner_of(key, &[], now), Some(other));
    backends.release(pick);
}

#[test]
fn room_for_any_backend_means_a_pick_succeeds() {
    // Random states, caps and picks: can_serve(Any) agrees with pick.
    let now = Instant::now();
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    for strategy in [
        Strategy::RoundRobin,
        Strategy::LeastConnections,
        Strategy::PowerOfTwo,
        Strategy::ConsistentHash,
        Strategy::Random,
    ] {
        let mut backends = BackendSet::from_weights(&[1, 2, 3, 1], strategy);
        let mut picks = Vec::new();
        for _ in 0..400 {
            let i = next(4) as usize;
            match next(6) {
                0 => backends.set_max_conn(i, Some(1 + next(2) as u32)),
                1 => {
                    backends.set_state(i, [BackendState::Up, BackendState::Down][next(2) as usize])
                }
                2 if !picks.is_empty() => {
                    let at = next(picks.len() as u64) as usize;
                    backends.finish(picks.swap_remove(at), now);
                }
                _ => {
                    let room = backends.can_serve(Target::Any, &[]);
                    let pick = backends.pick(now, &[], next(1 << 20));
                    assert_eq!(room, pick.is_some(), "{strategy:?}");
                    picks.extend(pick);
                }
            }
        }
    }
}
