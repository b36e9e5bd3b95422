//! The wait queue: requests (HTTP mode) or connections (TCP mode) that
//! found every backend they may use at its connection cap (`maxconn`) wait
//! here, in arrival order, instead of being refused.
//!
//! Sans-IO, time passed in; the queue knows waiters only by the adapter's
//! key (`W`, a slab index) and never touches a socket. Most waiters may go
//! to any backend ([`Target::Any`], one queue for the balancer); under
//! `consistent-hash` a request belongs to the backend its key hashes to and
//! waits for that one ([`Target::Backend`]), as HAProxy keeps a queue per
//! server beside the one per backend. When a slot frees, the adapter asks
//! [`WaitQueue::next_admissible`] for the oldest waiter that can now be
//! served, takes it out with [`WaitQueue::admit`] and lets it pick. A waiter
//! leaves otherwise by timing out ([`WaitQueue::time_out`], after
//! [`WaitQueue::timeout`]) or because its client left ([`WaitQueue::leave`]).
//! A timeout of zero turns queueing off.

mod stats;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

pub use self::stats::QueueStats;

/// How long a request or connection waits for a slot by default.
pub const DEFAULT_QUEUE_TIMEOUT: Duration = Duration::from_secs(5);

/// How many waiters for any backend, from the oldest on, are looked at when
/// one frees a slot: a waiter that may not use the backend with room (it
/// failed to connect to it before) does not hold up the few behind it.
pub const ADMISSION_LOOKAHEAD: usize = 8;

/// Which backend a waiter waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Target {
    /// The first backend to free a slot.
    Any,
    /// This backend (by pool index): the one its key hashes to.
    Backend(usize),
}

/// A waiter's place in the queue: its arrival number and time. A waiter
/// taken out to pick and sent back (its backend turned out full again, or
/// changed) rejoins with its ticket, at its old place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    number: u64,
    since: Instant,
}

impl Ticket {
    /// When the waiter joined.
    pub fn since(&self) -> Instant {
        self.since
    }
}

/// Where one request (connection) stands with the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Place {
    /// It never waited.
    #[default]
    Outside,
    /// It waits, with this ticket.
    Waiting(Ticket),
    /// It waited and was let in to pick: the waiters behind it do not hold
    /// it up, and if it must wait again it keeps its place.
    Admitted(Ticket),
}

impl Place {
    /// The ticket it holds or held.
    pub fn ticket(self) -> Option<Ticket> {
        match self {
            Place::Outside => None,
            Place::Waiting(ticket) | Place::Admitted(ticket) => Some(ticket),
        }
    }

    /// True while it waits.
    pub fn is_waiting(self) -> bool {
        matches!(self, Place::Waiting(_))
    }

    /// True once it was let in after waiting.
    pub fn is_admitted(self) -> bool {
        matches!(self, Place::Admitted(_))
    }
}

#[derive(Debug, Clone)]
struct Entry<W> {
    waiter: W,
    target: Target,
    since: Instant,
    /// Admitted once already and sent back: its wait and admission were
    /// counted then, and are not counted again.
    counted: bool,
}

/// The waiters of one balancer worker, oldest first.
#[derive(Debug, Clone)]
pub struct WaitQueue<W> {
    timeout: Duration,
    /// Every waiter, by arrival number.
    entries: BTreeMap<u64, Entry<W>>,
    /// The numbers of those waiting for any backend.
    any: BTreeSet<u64>,
    /// (backend, number) of those waiting for one backend.
    targeted: BTreeSet<(usize, u64)>,
    next_number: u64,
    stats: QueueStats,
}

impl<W: Copy> WaitQueue<W> {
    /// An empty queue whose waiters give up after `timeout` (0: no queueing).
    pub fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            entries: BTreeMap::new(),
            any: BTreeSet::new(),
            targeted: BTreeSet::new(),
            next_number: 0,
            stats: QueueStats::default(),
        }
    }

    /// How long a waiter waits at most.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Changes the timeout (a reload); waiters already in line keep their
    /// arrival time, so the new timeout counts from then.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// False when the timeout is zero: a request no backend can take now
    /// is refused at once.
    pub fn is_enabled(&self) -> bool {
        !self.timeout.is_zero()
    }

    /// Waiters now.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no one waits.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// True when someone already waits for `target`: a newcomer for it
    /// lines up behind them rather than take the slot a finish just freed.
    pub fn is_waiting_for(&self, target: Target) -> bool {
        match target {
            Target::Any => !self.any.is_empty(),
            Target::Backend(b) => self.targeted.range((b, 0)..=(b, u64::MAX)).next().is_some(),
        }
    }

    /// Lines `waiter` up for `target` at `now`, at the end; or, with the
    /// `earlier` ticket of a waiter that was admitted and sent back, at its
    /// old place.
    pub fn join(
        &mut self,
        waiter: W,
        target: Target,
        now: Instant,
        earlier: Option<Ticket>,
    ) -> Ticket {
        let ticket = match earlier {
            // Counted once: it joined, and was admitted, then sent back.
            Some(ticket) => ticket,
            None => {
                self.next_number += 1;
                self.stats.queued += 1;
                Ticket {
                    number: self.next_number,
                    since: now,
                }
            }
        };
        self.insert(ticket, waiter, target, earlier.is_some());
        self.stats.max_waiting = self.stats.max_waiting.max(self.entries.len() as u64);
        ticket
    }

    fn insert(&mut self, ticket: Ticket, waiter: W, target: Target, counted: bool) {
        let entry = Entry {
            waiter,
            target,
            since: ticket.since,
            counted,
        };
        self.entries.insert(ticket.number, entry);
        match target {
            Target::Any => self.any.insert(ticket.number),
            Target::Backend(b) => self.targeted.insert((b, ticket.number)),
        };
    }

    fn remove(&mut self, ticket: Ticket) -> Option<Entry<W>> {
        let entry = self.entries.remove(&ticket.number)?;
        match entry.target {
            Target::Any => self.any.remove(&ticket.number),
            Target::Backend(b) => self.targeted.remove(&(b, ticket.number)),
        };
        Some(entry)
    }

    /// The oldest waiter that can be served now, as `room` says of a waiter
    /// and its target: the oldest of each backend's line and the first of
    /// the line for any backend ([`ADMISSION_LOOKAHEAD`] of them).
    pub fn next_admissible(&self, mut room: impl FnMut(W, Target) -> bool) -> Option<(Ticket, W)> {
        let mut best: Option<u64> = None;
        let consider = |number: u64, best: &mut Option<u64>| {
            if best.is_none_or(|b| number < b) {
                *best = Some(number);
            }
        };
        for &number in self.any.iter().take(ADMISSION_LOOKAHEAD) {
            if room(self.entries[&number].waiter, Target::Any) {
                consider(number, &mut best);
                break;
            }
        }
        let mut from = (0, 0);
        while let Some(&(backend, number)) = self.targeted.range(from..).next() {
            if best.is_none_or(|b| number < b)
                && room(self.entries[&number].waiter, Target::Backend(backend))
            {
                consider(number, &mut best);
            }
            if backend == usize::MAX {
                break;
            }
            from = (backend + 1, 0);
        }
        let number = best?;
        let entry = &self.entries[&number];
        let ticket = Ticket {
            number,
            since: entry.since,
        };
        Some((ticket, entry.waiter))
    }

    /// Takes the waiter of `ticket` out to be served at `now`, counting its
    /// wait (at its first admission only: one sent back and let in again is
    /// one request served). `None` when it is no longer in line.
    pub fn admit(&mut self, ticket: Ticket, now: Instant) -> Option<W> {
        let entry = self.remove(ticket)?;
        if !entry.counted {
            self.stats
                .note_wait(now.saturating_duration_since(entry.since));
        }
        Some(entry.waiter)
    }

    /// When the waiter of `ticket` gives up.
    pub fn deadline(&self, ticket: Ticket) -> Instant {
        ticket.since + self.timeout
    }

    /// Takes the waiter of `ticket` out when its time is up at `now` (it
    /// then gets a 503, or its connection is closed). `None` when it is not
    /// in line or its time is not up.
    pub fn time_out(&mut self, ticket: Ticket, now: Instant) -> Option<W> {
        if now < self.deadline(ticket) {
            return None;
        }
        let entry = self.remove(ticket)?;
        self.stats.timed_out += 1;
        Some(entry.waiter)
    }

    /// Takes the waiter of `ticket` out because its client left or its
    /// request was refused for another reason. `None` when it was not in line.
    pub fn leave(&mut self, ticket: Ticket) -> Option<W> {
        let entry = self.remove(ticket)?;
        self.stats.abandoned += 1;
        Some(entry.waiter)
    }

    /// Follows a reload that renumbered the backends (`moved[old]` is the
    /// new index, `None` when removed): a waiter for a removed backend may
    /// now go to any, and is hashed again when admitted.
    pub fn renumber(&mut self, moved: &[Option<usize>]) {
        let targeted = std::mem::take(&mut self.targeted);
        for (backend, number) in targeted {
            let target = match moved.get(backend).copied().flatten() {
                Some(new) => Target::Backend(new),
                None => Target::Any,
            };
            if let Some(entry) = self.entries.get_mut(&number) {
                entry.target = target;
            }
            match target {
                Target::Any => self.any.insert(number),
                Target::Backend(b) => self.targeted.insert((b, number)),
            };
        }
    }

    /// The counters, with the number waiting now.
    pub fn stats(&self) -> QueueStats {
        let mut stats = self.stats.clone();
        stats.waiting = self.entries.len() as u64;
        stats
    }
}
