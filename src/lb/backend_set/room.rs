//! What the wait queue asks the set: is a backend full (up and weighted,
//! but at its connection cap), which backend does a key belong to under
//! `consistent-hash` whatever its load, and can a waiter be served now.
//! Each answer follows the rule [`BackendSet::pick`] applies, so that a
//! waiter admitted because there is room gets a pick.

use std::time::Instant;

use super::BackendSet;
use super::member::{Member, ring_over};
use crate::lb::queue::Target;

use super::BackendState;

/// Up, with a weight: takes new work when under its cap.
fn usable(m: &Member) -> bool {
    m.state == BackendState::Up && m.effective_weight > 0
}

impl BackendSet {
    /// True when backend `i` is usable but at its connection cap.
    pub fn is_full(&self, i: usize) -> bool {
        let m = &self.members[i];
        usable(m) && m.active >= m.cap
    }

    /// True when a backend not in `tried` is usable but full: a request no
    /// backend can take now may wait for it.
    pub fn any_full(&self, tried: &[usize]) -> bool {
        (0..self.members.len()).any(|i| self.is_full(i) && !tried.contains(&i))
    }

    /// Under `consistent-hash`: the backend `key` belongs to among the
    /// usable ones not in `tried`, full or not (those in a backoff only when
    /// no other is left, as a pick does). `None` when none is usable.
    pub fn owner_of(&mut self, key: u64, tried: &[usize], now: Instant) -> Option<usize> {
        let (members, records) = (&self.members, &self.records);
        if !members.iter().any(usable) {
            return None;
        }
        let ring = ring_over(&mut self.ring, members, records);
        let ok = |i: usize| usable(&members[i]) && !tried.contains(&i);
        ring.walk(key)
            .find(|&i| ok(i) && !records[i].in_backoff(now))
            .or_else(|| ring.walk(key).find(|&i| ok(i)))
    }

    /// True when admitting a waiter for `target` (one that failed to
    /// connect to the backends in `tried`) makes progress: for any backend,
    /// one not in `tried` has room; for one backend, it has room, or it no
    /// longer takes work (the waiter is then hashed again or refused).
    pub fn can_serve(&self, target: Target, tried: &[usize]) -> bool {
        match target {
            Target::Any if tried.is_empty() && self.eligible.count() > 0 => true,
            // Outside a backoff the available backends are the eligible
            // ones: the queue asks this after every event while it holds
            // waiters, so no walk over every member when all are full.
            Target::Any if self.sitting_out == 0 => {
                let tried_eligible = tried
                    .iter()
                    .enumerate()
                    .filter(|&(k, &i)| self.eligible.contains(i) && !tried[..k].contains(&i))
                    .count();
                self.eligible.count() > tried_eligible
            }
            Target::Any => self
                .members
                .iter()
                .enumerate()
                .any(|(i, m)| m.available() && !tried.contains(&i)),
            Target::Backend(b) => match self.members.get(b) {
                Some(m) => m.available() || !usable(m),
                None => true,
            },
        }
    }
}

#[cfg(test)]
mod tests {
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
                    1 => backends
                        .set_state(i, [BackendState::Up, BackendState::Down][next(2) as usize]),
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
}
