//! The buffer pool's lending, limits and shrinking, checked without sockets.

use super::*;
use mio::Token;
use std::collections::HashSet;

const BYTES: usize = 64;

fn pool(max_buffers: usize, now: Instant) -> BufferPool {
    let limits = PoolLimits {
        buffer_bytes: BYTES,
        max_buffers,
        spare_buffers: 2,
        half_life: Duration::from_secs(10),
    };
    BufferPool::new(limits, now).unwrap()
}

/// Where a buffer's storage lives: equal for the same allocation.
fn address(buffer: &PooledBuffer) -> usize {
    buffer.as_slice().as_ptr() as usize
}

#[test]
fn a_taken_buffer_is_empty_and_of_the_pool_size() {
    let mut pool = pool(4, Instant::now());
    let buffer = pool.take().unwrap();
    assert!(buffer.is_empty());
    assert_eq!(buffer.capacity(), BYTES);
    assert_eq!(pool.stats().in_use, 1);
    assert_eq!(pool.bytes_held(), BYTES);
}

#[test]
fn a_given_back_buffer_is_reused_before_a_new_one_is_allocated() {
    let mut pool = pool(4, Instant::now());
    let first = pool.take().unwrap();
    let at = address(&first);
    pool.give(first);
    let again = pool.take().unwrap();
    assert_eq!(address(&again), at);
    assert_eq!(pool.stats().allocated, 1);
}

#[test]
fn bytes_left_in_a_given_back_buffer_never_reach_the_next_taker() {
    let mut pool = pool(1, Instant::now());
    let mut buffer = pool.take().unwrap();
    buffer.push(b"secret of the last client");
    pool.give(buffer);
    let next = pool.take().unwrap();
    assert!(next.is_empty());
    assert_eq!(next.as_slice(), b"");
}

#[test]
fn past_the_bound_take_is_refused_until_a_buffer_comes_back() {
    let mut pool = pool(3, Instant::now());
    let out: Vec<_> = (0..3).map(|_| pool.take().unwrap()).collect();
    let refused = pool.take().unwrap_err();
    assert_eq!(refused, PoolError::Exhausted { max_buffers: 3 });
    assert_eq!(refused.to_string(), "all 3 buffers of the pool are in use");
    assert_eq!(pool.stats().refused, 1);
    let mut out = out.into_iter();
    pool.give(out.next().unwrap());
    assert!(pool.take().is_ok());
    assert_eq!(pool.stats().allocated, 3, "the bound counts every buffer");
}

#[test]
fn no_buffer_is_handed_out_twice_over_a_long_mixed_run() {
    let max = 16;
    let mut pool = pool(max, Instant::now());
    let start = Instant::now();
    let mut out: Vec<PooledBuffer> = Vec::new();
    // xorshift: a fixed, varied sequence of takes, gives and trims.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for step in 0..20_000u64 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        match state % 5 {
            0..=1 => match pool.take() {
                Ok(mut buffer) => {
                    buffer.push(&step.to_le_bytes());
                    out.push(buffer);
                }
                Err(PoolError::Exhausted { .. }) => assert_eq!(out.len(), max),
                Err(other) => panic!("unexpected {other}"),
            },
            2..=3 if !out.is_empty() => {
                let index = (state >> 32) as usize % out.len();
                pool.give(out.swap_remove(index));
            }
            _ => {
                pool.trim(start + Duration::from_millis(step * 7));
            }
        }
        let addresses: HashSet<usize> = out.iter().map(address).collect();
        assert_eq!(addresses.len(), out.len(), "a buffer is out twice");
        let stats = pool.stats();
        assert_eq!(stats.in_use, out.len());
        assert!(stats.in_use + stats.idle <= max, "the bound holds");
        assert!(stats.recent_peak >= stats.in_use);
    }
}

#[test]
fn fill_takes_only_for_an_empty_slot_and_release_keeps_unsent_bytes() {
    let mut pool = pool(2, Instant::now());
    let mut slot = None;
    pool.fill(&mut slot).unwrap().push(b"in flight");
    pool.fill(&mut slot).unwrap();
    assert_eq!(pool.stats().in_use, 1, "a filled slot keeps its buffer");
    assert!(!pool.release_if_empty(&mut slot), "bytes still in flight");
    assert_eq!(slot.as_ref().unwrap().as_slice(), b"in flight");
    slot.as_mut().unwrap().consume(9);
    assert!(pool.release_if_empty(&mut slot));
    assert!(slot.is_none());
    assert_eq!(pool.stats().in_use, 0);
    assert!(
        pool.release_if_empty(&mut slot),
        "an empty slot stays empty"
    );
    assert_eq!(pool.stats().idle, 1);
}

#[test]
fn fill_reports_an_exhausted_pool_and_leaves_the_slot_empty() {
    let mut pool = pool(1, Instant::now());
    let _held = pool.take().unwrap();
    let mut slot = None;
    assert!(pool.fill(&mut slot).is_err());
    assert!(slot.is_none());
}

/// Takes `n` buffers at once and gives them all back.
fn burst(pool: &mut BufferPool, n: usize) {
    let out: Vec<_> = (0..n).map(|_| pool.take().unwrap()).collect();
    for buffer in out {
        pool.give(buffer);
    }
}

#[test]
fn the_next_burst_reuses_the_last_bursts_buffers() {
    let start = Instant::now();
    let mut pool = pool(1000, start);
    burst(&mut pool, 100);
    assert_eq!(pool.trim(start + Duration::from_secs(1)), 0);
    burst(&mut pool, 100);
    assert_eq!(pool.stats().allocated, 100, "no new allocation");
    assert_eq!(pool.stats().idle, 100);
}

#[test]
fn trim_drops_idle_buffers_as_the_remembered_peak_halves() {
    let start = Instant::now();
    let mut pool = pool(1000, start);
    burst(&mut pool, 100);
    assert_eq!(
        pool.trim(start + Duration::from_secs(9)),
        0,
        "within a half-life"
    );
    assert_eq!(pool.trim(start + Duration::from_secs(10)), 50);
    assert_eq!(pool.stats().recent_peak, 50);
    assert_eq!(
        pool.trim(start + Duration::from_secs(25)),
        25,
        "one more step"
    );
    assert_eq!(
        pool.trim(start + Duration::from_secs(30)),
        13,
        "at 30 s, 25 >> 1"
    );
    assert_eq!(pool.trim(start + Duration::from_secs(200)), 10);
    let stats = pool.stats();
    assert_eq!(stats.idle, 2, "the spare buffers stay");
    assert_eq!(stats.released, 98);
    assert_eq!(pool.bytes_held(), 2 * BYTES);
}

#[test]
fn a_new_peak_between_trims_is_remembered_again() {
    let start = Instant::now();
    let mut pool = pool(1000, start);
    burst(&mut pool, 40);
    pool.trim(start + Duration::from_secs(100));
    assert_eq!(pool.stats().idle, 2);
    burst(&mut pool, 30);
    assert_eq!(pool.trim(start + Duration::from_secs(101)), 0);
    assert_eq!(pool.stats().idle, 30);
}

#[test]
fn trim_never_counts_buffers_in_use_as_spare() {
    let start = Instant::now();
    let mut pool = pool(1000, start);
    let held: Vec<_> = (0..20).map(|_| pool.take().unwrap()).collect();
    burst(&mut pool, 10);
    // 30 were out at the peak; 20 are still out after a long time.
    assert_eq!(pool.trim(start + Duration::from_secs(3600)), 8);
    let stats = pool.stats();
    assert_eq!((stats.in_use, stats.idle, stats.recent_peak), (20, 2, 20));
    for buffer in held {
        pool.give(buffer);
    }
    // The peak of 20 is remembered for the next half-life.
    assert_eq!(pool.trim(start + Duration::from_secs(3601)), 2);
    assert_eq!(pool.trim(start + Duration::from_secs(3610)), 10);
}

#[test]
fn trim_survives_time_going_backwards_and_very_long_pauses() {
    let start = Instant::now() + Duration::from_secs(60);
    let mut pool = pool(1000, start);
    burst(&mut pool, 8);
    assert_eq!(pool.trim(start - Duration::from_secs(30)), 0);
    assert_eq!(pool.stats().recent_peak, 8);
    let later = start + Duration::from_secs(365 * 24 * 3600);
    assert_eq!(pool.trim(later), 6);
    assert_eq!(pool.stats().recent_peak, 0);
    assert_eq!(pool.trim(later + Duration::from_secs(1)), 0);
}

#[test]
fn a_buffer_of_another_size_is_not_kept() {
    let now = Instant::now();
    let mut ours = pool(4, now);
    let mut theirs = BufferPool::new(PoolLimits::new(BYTES * 2, 4), now).unwrap();
    let _mine = ours.take().unwrap();
    ours.give(theirs.take().unwrap());
    let stats = ours.stats();
    assert_eq!((stats.in_use, stats.idle), (1, 0));
}

#[test]
fn zero_limits_are_refused_with_their_name() {
    let now = Instant::now();
    let zero_size = BufferPool::new(PoolLimits::new(0, 4), now).unwrap_err();
    assert_eq!(
        zero_size.to_string(),
        "the buffer pool's buffer size must be > 0"
    );
    let zero_count = BufferPool::new(PoolLimits::new(64, 0), now).unwrap_err();
    assert_eq!(
        zero_count,
        PoolError::ZeroLimit {
            limit: "buffer count"
        }
    );
    let mut limits = PoolLimits::new(64, 4);
    limits.half_life = Duration::ZERO;
    let zero_half_life = BufferPool::new(limits, now).unwrap_err();
    assert_eq!(zero_half_life, PoolError::ZeroLimit { limit: "half-life" });
}

#[test]
fn waiters_are_woken_oldest_first_once_each_and_only_as_many_as_buffers_are_free() {
    let mut pool = pool(2, Instant::now());
    let held: Vec<_> = (0..2).map(|_| pool.take().unwrap()).collect();
    for key in [3, 1, 3, 2] {
        pool.wait(Token(key));
    }
    assert_eq!(pool.stats().waiting, 3, "a token waits once");
    let mut woken = Vec::new();
    pool.wake(|token| woken.push(token));
    assert!(woken.is_empty(), "no buffer free, no one woken");
    let mut held = held.into_iter();
    pool.give(held.next().unwrap());
    pool.wake(|token| woken.push(token));
    assert_eq!(woken, [Token(3)], "one free buffer, the oldest waiter");
    pool.give(held.next().unwrap());
    pool.wake(|token| woken.push(token));
    assert_eq!(woken, [Token(3), Token(1), Token(2)]);
    assert_eq!(pool.stats().waiting, 0);
}

#[test]
fn a_resize_to_another_size_leaves_buffers_out_uncounted_and_keeps_the_waiters() {
    let now = Instant::now();
    let mut pool = pool(4, now);
    let old = pool.take().unwrap();
    let spare = pool.take().unwrap();
    pool.give(spare);
    pool.wait(Token(9));
    pool.resize(PoolLimits::new(BYTES * 2, 4), now).unwrap();
    let stats = pool.stats();
    assert_eq!((stats.in_use, stats.idle, stats.waiting), (0, 0, 1));
    let new = pool.take().unwrap();
    assert_eq!(new.capacity(), BYTES * 2);
    pool.give(old);
    assert_eq!(
        pool.stats().in_use,
        1,
        "the old buffer is dropped, not counted"
    );
    pool.give(new);
    assert_eq!(pool.stats().in_use, 0);
    // The same size again only changes the bound.
    let kept = pool.take().unwrap();
    pool.resize(PoolLimits::new(BYTES * 2, 1), now).unwrap();
    assert!(pool.take().is_err(), "the new bound holds");
    pool.give(kept);
    assert_eq!(
        pool.stats().in_use,
        0,
        "a buffer of the same size still counts"
    );
}
