//! Admission: a backend for a request (a connection, in TCP mode), or a
//! place in the wait queue when every backend it may use is at its cap.
//!
//! The rule, as HAProxy's `maxconn` and `timeout queue`: a request goes to
//! a backend with room, unless others already wait for the same target
//! (then it lines up behind them, so that a slot freed by a finish goes to
//! the oldest waiter); it waits when a backend it may use is only full;
//! it is refused (503) when no backend it may use takes work at all. Under
//! `consistent-hash` the target is the backend the request hashes to, full
//! or not; otherwise any backend. The adapters own the waiters (their
//! sockets, deadlines and wake-ups); this decides, and keeps the queue.

use std::time::Instant;

use super::Backends;
use crate::lb::Strategy;
use crate::lb::backend_set::Pick;
use crate::lb::queue::{Target, Ticket, WaitQueue};
use crate::reactor::{Context, Token};

/// What to do with a request that needs a backend.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a pick must be finished, and a waiter queued or refused"]
pub enum Admission {
    /// Go to this backend.
    Picked(Pick),
    /// Wait in the queue for this target.
    Wait(Target),
    /// No backend it may use takes work: refuse it.
    Refused,
}

impl Backends {
    /// The wait queue, keyed by the adapter's connection keys.
    pub fn queue(&mut self) -> &mut WaitQueue<usize> {
        &mut self.queue
    }

    /// The wait queue, to look at.
    pub fn waiting(&self) -> &WaitQueue<usize> {
        &self.queue
    }

    /// The oldest waiter that can be served now (see
    /// [`WaitQueue::next_admissible`]); `tried` tells, for a waiter's key,
    /// the backends it failed to connect to.
    pub fn next_admissible<'a>(
        &self,
        tried: impl Fn(usize) -> &'a [usize],
    ) -> Option<(Ticket, usize)> {
        if self.queue.is_empty() {
            return None;
        }
        self.queue
            .next_admissible(|waiter, target| self.set.can_serve(target, tried(waiter)))
    }

    /// Defers `token` (the adapter's queue wake-up) when a waiter can now
    /// be served and no wake-up is pending yet; `pending` says whether one
    /// is, and is set when this defers one.
    pub fn wake_queue<'a>(
        &self,
        ctx: &mut Context<'_>,
        token: Token,
        pending: &mut bool,
        tried: impl Fn(usize) -> &'a [usize],
    ) {
        if *pending || self.queue.is_empty() {
            return;
        }
        if self.next_admissible(tried).is_some() {
            *pending = true;
            ctx.defer(token);
        }
    }

    /// Picks a backend for a request hashed to `key` (see
    /// [`crate::lb::BackendSet::pick`]) or says it must wait or be refused.
    /// `admitted`: the request had its turn (it was taken out of the queue,
    /// or is being retried after a pick), so the waiters do not hold it up.
    pub fn pick_or_wait(
        &mut self,
        now: Instant,
        tried: &[usize],
        key: u64,
        admitted: bool,
    ) -> Admission {
        // Without a cap a pick fails only when no backend takes work at
        // all; the hash owner is then not worth looking up.
        if !self.queue.is_enabled() || !self.capped {
            return self
                .set
                .pick(now, tried, key)
                .map_or(Admission::Refused, Admission::Picked);
        }
        let target = if self.set.strategy() == Strategy::ConsistentHash {
            match self.set.owner_of(key, tried, now) {
                Some(owner) => Target::Backend(owner),
                None => return Admission::Refused,
            }
        } else {
            Target::Any
        };
        if !admitted && self.queue.is_waiting_for(target) {
            return Admission::Wait(target);
        }
        if let Target::Backend(owner) = target {
            if self.set.is_full(owner) {
                return Admission::Wait(target);
            }
        }
        match self.set.pick(now, tried, key) {
            Some(pick) => Admission::Picked(pick),
            None if self.set.any_full(tried) => Admission::Wait(Target::Any),
            None => Admission::Refused,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::lb::config::LbConfig;
    use crate::lb::{BackendSpec, Mode};

    fn backends(specs: &[&str], strategy: Strategy, queue_timeout: Duration) -> Backends {
        let specs: Vec<BackendSpec> = specs.iter().map(|s| s.parse().unwrap()).collect();
        let addr = "127.0.0.1:0".parse().unwrap();
        let mut config = LbConfig::new(addr, specs, strategy, Mode::Http);
        config.queue_timeout = queue_timeout;
        Backends::new(&config, None)
    }

    fn picked(admission: Admission) -> Pick {
        match admission {
            Admission::Picked(pick) => pick,
            other => panic!("expected a pick, got {other:?}"),
        }
    }

    #[test]
    fn requests_beyond_the_caps_wait_and_a_finish_lets_the_oldest_in() {
        let now = Instant::now();
        let mut b = backends(
            &["127.0.0.1:1,maxconn=1", "127.0.0.1:2,maxconn=1"],
            Strategy::RoundRobin,
            Duration::from_secs(5),
        );
        let first = picked(b.pick_or_wait(now, &[], 0, false));
        let _second = picked(b.pick_or_wait(now, &[], 0, false));
        assert_eq!(
            b.pick_or_wait(now, &[], 0, false),
            Admission::Wait(Target::Any)
        );
        let ticket = b.queue().join(7, Target::Any, now, None);
        b.backend_set().finish(first, now);
        // A newcomer does not take the freed slot from the waiter.
        assert_eq!(
            b.pick_or_wait(now, &[], 0, false),
            Admission::Wait(Target::Any)
        );
        assert_eq!(b.next_admissible(|_| &[]), Some((ticket, 7)));
        assert_eq!(b.queue().admit(ticket, now), Some(7));
        let admitted = picked(b.pick_or_wait(now, &[], 0, true));
        assert_eq!(admitted.backend, 0);
        b.backend_set().release(admitted);
    }

    #[test]
    fn without_caps_or_with_queueing_off_nothing_waits() {
        let now = Instant::now();
        let mut open = backends(
            &["127.0.0.1:1"],
            Strategy::RoundRobin,
            Duration::from_secs(5),
        );
        for _ in 0..100 {
            let _ = picked(open.pick_or_wait(now, &[], 0, false));
        }
        let mut off = backends(
            &["127.0.0.1:1,maxconn=1"],
            Strategy::RoundRobin,
            Duration::ZERO,
        );
        let _ = picked(off.pick_or_wait(now, &[], 0, false));
        assert_eq!(off.pick_or_wait(now, &[], 0, false), Admission::Refused);
    }

    #[test]
    fn no_backend_up_is_a_refusal_not_a_wait() {
        let now = Instant::now();
        let mut b = backends(
            &["127.0.0.1:1,maxconn=1"],
            Strategy::RoundRobin,
            Duration::from_secs(5),
        );
        b.backend_set()
            .set_state(0, crate::lb::backend_set::BackendState::Down);
        assert_eq!(b.pick_or_wait(now, &[], 0, false), Admission::Refused);
        assert_eq!(b.pick_or_wait(now, &[0], 0, false), Admission::Refused);
    }

    #[test]
    fn a_hashed_request_waits_for_its_own_backend_while_others_have_room() {
        let now = Instant::now();
        let mut b = backends(
            &[
                "127.0.0.1:1,maxconn=1",
                "127.0.0.1:2,maxconn=1",
                "127.0.0.1:3,maxconn=1",
            ],
            Strategy::ConsistentHash,
            Duration::from_secs(5),
        );
        let key = 42;
        let first = picked(b.pick_or_wait(now, &[], key, false));
        assert_eq!(
            b.pick_or_wait(now, &[], key, false),
            Admission::Wait(Target::Backend(first.backend))
        );
        b.backend_set().release(first);
    }

    #[test]
    fn an_agent_cap_on_an_uncapped_backend_makes_requests_wait() {
        use crate::lb::health::HealthEvent;
        let now = Instant::now();
        let mut b = backends(
            &["127.0.0.1:1"],
            Strategy::RoundRobin,
            Duration::from_secs(5),
        );
        b.events.push(HealthEvent::MaxConn(0, Some(1)));
        b.apply_events();
        let _pick = picked(b.pick_or_wait(now, &[], 0, false));
        assert_eq!(
            b.pick_or_wait(now, &[], 0, false),
            Admission::Wait(Target::Any)
        );
    }

    #[test]
    fn the_configured_cap_holds_and_the_agent_replaces_it_until_maxconn_0() {
        use crate::lb::health::HealthEvent;
        let mut b = backends(
            &["127.0.0.1:1,maxconn=3"],
            Strategy::RoundRobin,
            Duration::from_secs(5),
        );
        assert_eq!(b.backend_set().max_conn(0), Some(3));
        b.events.push(HealthEvent::MaxConn(0, Some(10)));
        b.apply_events();
        assert_eq!(b.backend_set().max_conn(0), Some(10));
        b.events.push(HealthEvent::MaxConn(0, None));
        b.apply_events();
        assert_eq!(b.backend_set().max_conn(0), Some(3));
    }
}
