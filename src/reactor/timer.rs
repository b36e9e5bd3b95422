//! Deadlines for the event loop: a min-heap of instants with O(1) cancel.
//!
//! A cancelled timer stays in the heap until it reaches the top and is then
//! skipped, so cancel never searches. Each slot carries a generation so that a
//! stale [`TimerId`] can never cancel or fire a timer that reused its slot.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

/// Names one armed timer; returned by [`Timers::set`], given back on expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimerId {
    slot: usize,
    generation: u64,
}

#[derive(Debug)]
struct Slot {
    generation: u64,
    /// What the owner asked to be told on expiry; `None` when the slot is free.
    payload: Option<u64>,
}

/// A set of deadlines, each with a `u64` payload the service chooses.
#[derive(Debug, Default)]
pub struct Timers {
    heap: BinaryHeap<Reverse<(Instant, usize, u64)>>,
    slots: Vec<Slot>,
    free: Vec<usize>,
    armed: usize,
}

impl Timers {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Arms a timer that expires at `at`, carrying `payload`.
    pub fn set(&mut self, at: Instant, payload: u64) -> TimerId {
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    payload: None,
                });
                self.slots.len() - 1
            }
        };
        let entry = &mut self.slots[slot];
        entry.generation += 1;
        entry.payload = Some(payload);
        self.armed += 1;
        self.heap.push(Reverse((at, slot, entry.generation)));
        TimerId {
            slot,
            generation: entry.generation,
        }
    }

    /// Disarms a timer. Returns false when it had already fired or been cancelled.
    pub fn cancel(&mut self, id: TimerId) -> bool {
        match self.slots.get_mut(id.slot) {
            Some(entry) if entry.generation == id.generation && entry.payload.is_some() => {
                entry.payload = None;
                self.free.push(id.slot);
                self.armed -= 1;
                true
            }
            _ => false,
        }
    }

    /// Number of armed timers.
    pub fn len(&self) -> usize {
        self.armed
    }

    /// True when no timer is armed.
    pub fn is_empty(&self) -> bool {
        self.armed == 0
    }

    /// The nearest live deadline, dropping cancelled entries from the top of the heap.
    pub fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(&Reverse((at, slot, generation))) = self.heap.peek() {
            if self.is_live(slot, generation) {
                return Some(at);
            }
            self.heap.pop();
        }
        None
    }

    /// How long the poll may sleep: until the nearest deadline, `None` for forever.
    pub fn poll_timeout(&mut self, now: Instant) -> Option<Duration> {
        self.next_deadline()
            .map(|at| at.saturating_duration_since(now))
    }

    /// Removes and returns one timer whose deadline is at or before `now`.
    pub fn pop_expired(&mut self, now: Instant) -> Option<(TimerId, u64)> {
        while let Some(&Reverse((at, slot, generation))) = self.heap.peek() {
            if !self.is_live(slot, generation) {
                self.heap.pop();
                continue;
            }
            if at > now {
                return None;
            }
            self.heap.pop();
            let entry = &mut self.slots[slot];
            let payload = entry.payload.take().expect("live slot has a payload");
            self.free.push(slot);
            self.armed -= 1;
            return Some((TimerId { slot, generation }, payload));
        }
        None
    }

    fn is_live(&self, slot: usize, generation: u64) -> bool {
        let entry = &self.slots[slot];
        entry.generation == generation && entry.payload.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn timers_fire_in_deadline_order_not_insertion_order() {
        let t0 = Instant::now();
        let mut timers = Timers::new();
        timers.set(t0 + ms(30), 3);
        timers.set(t0 + ms(10), 1);
        timers.set(t0 + ms(20), 2);
        let fired: Vec<u64> = std::iter::from_fn(|| timers.pop_expired(t0 + ms(100)))
            .map(|(_, p)| p)
            .collect();
        assert_eq!(fired, vec![1, 2, 3]);
        assert!(timers.is_empty());
    }

    #[test]
    fn timer_does_not_fire_before_its_deadline() {
        let t0 = Instant::now();
        let mut timers = Timers::new();
        timers.set(t0 + ms(50), 7);
        assert_eq!(timers.pop_expired(t0 + ms(49)), None);
        assert_eq!(timers.poll_timeout(t0 + ms(20)), Some(ms(30)));
        assert_eq!(timers.pop_expired(t0 + ms(50)).map(|(_, p)| p), Some(7));
    }

    #[test]
    fn cancelled_timer_never_fires_and_no_longer_sets_the_poll_timeout() {
        let t0 = Instant::now();
        let mut timers = Timers::new();
        let early = timers.set(t0 + ms(10), 1);
        timers.set(t0 + ms(40), 2);
        assert!(timers.cancel(early));
        assert!(!timers.cancel(early), "second cancel is a no-op");
        assert_eq!(timers.next_deadline(), Some(t0 + ms(40)));
        let fired: Vec<u64> = std::iter::from_fn(|| timers.pop_expired(t0 + ms(100)))
            .map(|(_, p)| p)
            .collect();
        assert_eq!(fired, vec![2]);
    }

    #[test]
    fn stale_id_cannot_cancel_a_timer_that_reused_its_slot() {
        let t0 = Instant::now();
        let mut timers = Timers::new();
        let first = timers.set(t0, 1);
        assert_eq!(timers.pop_expired(t0).map(|(id, _)| id), Some(first));
        let second = timers.set(t0 + ms(5), 2);
        assert!(!timers.cancel(first));
        assert_eq!(timers.len(), 1);
        assert!(timers.cancel(second));
    }

    #[test]
    fn empty_set_lets_the_poll_sleep_forever() {
        let mut timers = Timers::new();
        assert_eq!(timers.poll_timeout(Instant::now()), None);
    }
}
