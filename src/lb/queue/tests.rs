use std::time::{Duration, Instant};

use super::*;

const TIMEOUT: Duration = Duration::from_secs(5);
const MS: Duration = Duration::from_millis(1);

fn every(_: usize, _: Target) -> bool {
    true
}

/// Admits everyone that `room` allows, oldest first, as the adapter does.
fn admit_all(queue: &mut WaitQueue<usize>, now: Instant) -> Vec<usize> {
    let mut served = Vec::new();
    while let Some((ticket, waiter)) = queue.next_admissible(every) {
        assert_eq!(queue.admit(ticket, now), Some(waiter));
        served.push(waiter);
    }
    served
}

#[test]
fn waiters_are_served_in_arrival_order() {
    let start = Instant::now();
    let mut queue = WaitQueue::new(TIMEOUT);
    for (i, waiter) in [7, 3, 9, 1].into_iter().enumerate() {
        queue.join(waiter, Target::Any, start + i as u32 * MS, None);
    }
    assert_eq!(queue.len(), 4);
    assert_eq!(admit_all(&mut queue, start + 10 * MS), vec![7, 3, 9, 1]);
    assert!(queue.is_empty());
    let stats = queue.stats();
    assert_eq!((stats.queued, stats.admitted, stats.waiting), (4, 4, 0));
    assert_eq!(stats.max_waiting, 4);
}

#[test]
fn a_slot_wakes_exactly_the_oldest_waiter_that_can_use_it() {
    let start = Instant::now();
    let mut queue = WaitQueue::new(TIMEOUT);
    queue.join(1, Target::Backend(0), start, None);
    queue.join(2, Target::Any, start + MS, None);
    queue.join(3, Target::Backend(1), start + 2 * MS, None);
    queue.join(4, Target::Backend(1), start + 3 * MS, None);
    // Backend 1 freed a slot: the oldest that may use it is 2 (any backend).
    let room_on_1 = |_: usize, t: Target| t != Target::Backend(0);
    let (ticket, waiter) = queue.next_admissible(room_on_1).unwrap();
    assert_eq!(waiter, 2);
    assert_eq!(queue.admit(ticket, start + 5 * MS), Some(2));
    // Next is 3, not 1 (whose backend is still full), and not 4 (younger).
    let (ticket, waiter) = queue.next_admissible(room_on_1).unwrap();
    assert_eq!(waiter, 3);
    queue.admit(ticket, start + 5 * MS);
    // Nothing has room: no one is woken.
    assert_eq!(queue.next_admissible(|_, _| false), None);
    assert_eq!(queue.len(), 2);
}

#[test]
fn a_newcomer_lines_up_behind_those_waiting_for_the_same_target() {
    let now = Instant::now();
    let mut queue = WaitQueue::new(TIMEOUT);
    assert!(!queue.is_waiting_for(Target::Any));
    queue.join(1, Target::Backend(2), now, None);
    assert!(queue.is_waiting_for(Target::Backend(2)));
    assert!(!queue.is_waiting_for(Target::Backend(1)));
    assert!(!queue.is_waiting_for(Target::Any));
    queue.join(2, Target::Any, now, None);
    assert!(queue.is_waiting_for(Target::Any));
}

#[test]
fn a_waiter_times_out_only_after_the_timeout() {
    let start = Instant::now();
    let mut queue = WaitQueue::new(TIMEOUT);
    let ticket = queue.join(5, Target::Any, start, None);
    assert_eq!(queue.deadline(ticket), start + TIMEOUT);
    assert_eq!(queue.time_out(ticket, start + TIMEOUT - MS), None);
    assert_eq!(queue.len(), 1);
    assert_eq!(queue.time_out(ticket, start + TIMEOUT), Some(5));
    assert!(queue.is_empty());
    assert_eq!(queue.time_out(ticket, start + 2 * TIMEOUT), None, "once");
    let stats = queue.stats();
    assert_eq!((stats.timed_out, stats.admitted), (1, 0));
    assert_eq!(
        stats.wait_longest,
        Duration::ZERO,
        "a timeout is no served wait"
    );
}

#[test]
fn a_waiter_that_leaves_is_never_woken() {
    let now = Instant::now();
    let mut queue = WaitQueue::new(TIMEOUT);
    let first = queue.join(1, Target::Any, now, None);
    let second = queue.join(2, Target::Backend(0), now, None);
    queue.join(3, Target::Any, now, None);
    assert_eq!(queue.leave(first), Some(1));
    assert_eq!(queue.leave(second), Some(2));
    assert_eq!(queue.leave(second), None, "leaving twice is harmless");
    assert!(!queue.is_waiting_for(Target::Backend(0)));
    assert_eq!(admit_all(&mut queue, now), vec![3]);
    assert_eq!(queue.stats().abandoned, 2);
    assert_eq!(queue.admit(first, now), None);
}

#[test]
fn a_waiter_sent_back_keeps_its_place_and_its_arrival_time() {
    let start = Instant::now();
    let mut queue = WaitQueue::new(TIMEOUT);
    let first = queue.join(1, Target::Backend(0), start, None);
    queue.join(2, Target::Backend(1), start + MS, None);
    queue.admit(first, start + 2 * MS);
    // Its backend went down; hashed again, it now waits for backend 1.
    let again = queue.join(1, Target::Backend(1), start + 3 * MS, Some(first));
    assert_eq!(again.since(), start);
    assert_eq!(queue.deadline(again), start + TIMEOUT);
    assert_eq!(admit_all(&mut queue, start + 4 * MS), vec![1, 2]);
    assert_eq!(
        queue.stats().queued,
        2,
        "joining again is not a new arrival"
    );
}

#[test]
fn waits_of_served_waiters_are_measured() {
    let start = Instant::now();
    let mut queue = WaitQueue::new(TIMEOUT);
    let a = queue.join(1, Target::Any, start, None);
    let b = queue.join(2, Target::Any, start, None);
    queue.admit(a, start + 10 * MS);
    queue.admit(b, start + 30 * MS);
    let mut stats = queue.stats();
    stats.settle();
    assert_eq!(stats.wait_mean_ms, Some(20.0));
    assert_eq!(stats.wait_max_ms, Some(30.0));
    let p99 = stats.wait_p99_ms.unwrap();
    assert!((26.0..=34.0).contains(&p99), "{p99}");
    let mut sum = stats.clone();
    sum.add(&stats);
    sum.settle();
    assert_eq!((sum.admitted, sum.wait_mean_ms), (4, Some(20.0)));
}

#[test]
fn a_reload_moves_waiters_with_their_backend_or_frees_them() {
    let now = Instant::now();
    let mut queue = WaitQueue::new(TIMEOUT);
    queue.join(1, Target::Backend(0), now, None);
    queue.join(2, Target::Backend(1), now, None);
    // Backend 0 was removed; backend 1 is now at index 0.
    queue.renumber(&[None, Some(0)]);
    assert!(queue.is_waiting_for(Target::Any));
    assert!(queue.is_waiting_for(Target::Backend(0)));
    assert!(!queue.is_waiting_for(Target::Backend(1)));
    let only_any = |_: usize, t: Target| t == Target::Any;
    assert_eq!(queue.next_admissible(only_any).map(|(_, w)| w), Some(1));
}

#[test]
fn a_zero_timeout_turns_queueing_off() {
    assert!(!WaitQueue::<usize>::new(Duration::ZERO).is_enabled());
    let mut queue = WaitQueue::<usize>::new(Duration::ZERO);
    queue.set_timeout(TIMEOUT);
    assert!(queue.is_enabled());
    assert_eq!(queue.timeout(), TIMEOUT);
}

#[test]
fn a_waiter_that_cannot_use_the_free_backend_does_not_hold_up_the_next() {
    let now = Instant::now();
    let mut queue = WaitQueue::new(TIMEOUT);
    queue.join(1, Target::Any, now, None);
    queue.join(2, Target::Any, now, None);
    // Waiter 1 failed to connect to the only backend with room.
    let room = |w: usize, _: Target| w != 1;
    assert_eq!(queue.next_admissible(room).map(|(_, w)| w), Some(2));
}

#[test]
fn a_waiter_sent_back_and_admitted_again_is_counted_once() {
    let start = Instant::now();
    let mut queue = WaitQueue::new(TIMEOUT);
    let ticket = queue.join(5, Target::Any, start, None);
    assert_eq!(queue.admit(ticket, start + 2 * MS), Some(5));
    // Its backend turned out full again: back at its old place.
    let again = queue.join(5, Target::Any, start + 3 * MS, Some(ticket));
    assert_eq!(again, ticket);
    assert_eq!(queue.admit(again, start + 9 * MS), Some(5));
    let mut stats = queue.stats();
    assert_eq!((stats.queued, stats.admitted, stats.waiting), (1, 1, 0));
    stats.settle();
    assert_eq!(
        stats.wait_max_ms,
        Some(2.0),
        "the wait to its first admission"
    );
}
