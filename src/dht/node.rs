//! One Chord node as a state machine: messages and the current time go in,
//! messages to send come out. No sockets, no clock, no threads: the UDP
//! adapter and the simulation both drive it the same way.
//!
//! Entry points: [`Node::handle`] for every arriving message, [`Node::tick`]
//! at least every few tens of milliseconds (it runs stabilize, fix_fingers,
//! check_predecessor and replica repair when due, and times out requests),
//! [`Node::start`] and [`Node::start_lookup`] for local operations, whose
//! results are collected with [`Node::take_completions`].
//!
//! Requests are tracked by id until answered or timed out; a request is sent
//! `request_attempts` times before its peer is taken for dead and forgotten.
//!
//! This file holds the node's state and its public API. What the node answers
//! to other nodes' requests is in `serve`; the periodic maintenance, replica
//! repair and the answers and timeouts of its own requests are in `maintain`;
//! the lookups, puts, gets and deletes it runs are in `operation`; completing
//! a join, leaving and rejoining after a partition are in `membership`.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::time::Instant;

use super::config::Config;
use super::id::Id;
use super::message::{Body, ClientRequest, Message, NodeRef, Outcome};
use super::operation::{Action, Operation, Origin};
use super::routing::Routing;
use super::store::Store;

/// Names one operation started on a node.
pub type OpId = u64;

/// A message to send and where.
pub type Outgoing<A> = (A, Message<A>);

/// What an address must offer to be used by a node.
pub trait Address: Copy + Eq + Ord + Debug {}
impl<T: Copy + Eq + Ord + Debug> Address for T {}

/// A finished local operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion<A> {
    /// The id [`Node::start`] or [`Node::start_lookup`] returned.
    pub op: OpId,
    /// How it ended.
    pub outcome: Outcome<A>,
}

/// Where a node is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Looking up its successor through a known node.
    Joining,
    /// Part of the ring.
    Active,
    /// Handing its keys over; see [`Node::has_left`].
    Leaving,
}

/// Why a request was sent: decides what its answer or its timeout does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Purpose {
    Step(OpId),
    Data(OpId),
    Stabilize,
    CheckPredecessor,
    Notify,
    Replicate,
    Leave,
    Resync,
}

#[derive(Debug)]
pub(super) struct Pending<A> {
    pub(super) to: A,
    pub(super) message: Message<A>,
    pub(super) deadline: Instant,
    pub(super) attempts_left: u32,
    pub(super) purpose: Purpose,
}

/// One Chord node.
#[derive(Debug)]
pub struct Node<A> {
    pub(super) config: Config,
    pub(super) routing: Routing<A>,
    pub(super) store: Store,
    pub(super) phase: Phase,
    bootstrap: Option<A>,
    /// Nodes this one took for dead, newest last (at most
    /// [`REMEMBERED_PEERS`](super::membership::REMEMBERED_PEERS)): a node left alone by a partition asks them, in
    /// turn, to take it back once the network heals.
    pub(super) lost_peers: std::collections::VecDeque<A>,
    /// True while a join started by a node left alone is in flight; its
    /// completion resynchronises the node's keys.
    pub(super) rejoining: bool,
    next_request: u64,
    pub(super) pending: BTreeMap<u64, Pending<A>>,
    pub(super) operations: BTreeMap<OpId, Operation<A>>,
    next_op: OpId,
    pub(super) completions: Vec<Completion<A>>,
    pub(super) out: Vec<Outgoing<A>>,
    pub(super) next_stabilize: Instant,
    pub(super) next_fix_fingers: Instant,
    pub(super) next_check_predecessor: Instant,
    pub(super) next_replica_refresh: Instant,
    pub(super) next_join_attempt: Instant,
    pub(super) next_finger: usize,
    pub(super) finger_in_flight: bool,
    pub(super) join_in_flight: bool,
    /// Predecessor and replica targets at the last push, to push again on change.
    pub(super) replicas_pushed: Option<(Id, Vec<A>)>,
    /// The time of the last call that passed one in, to notice a pause.
    last_seen: Instant,
    /// Pull chains of a resynchronisation still running; while any is, the
    /// node does not answer for its keys (see `resync`).
    pub(super) resync_pulls: usize,
}

impl<A: Address> Node<A> {
    /// A node that starts a new ring, alone.
    pub fn create(config: Config, me: NodeRef<A>, now: Instant) -> Self {
        let mut node = Self::blank(config, me, now);
        node.phase = Phase::Active;
        node
    }

    /// A node that joins the ring `bootstrap` belongs to (on its first tick).
    pub fn join(config: Config, me: NodeRef<A>, bootstrap: A, now: Instant) -> Self {
        let mut node = Self::blank(config, me, now);
        node.bootstrap = Some(bootstrap);
        node.lost_peers.push_back(bootstrap);
        node
    }

    fn blank(config: Config, me: NodeRef<A>, now: Instant) -> Self {
        Self {
            routing: Routing::new(me, config.ring, config.successors.max(config.replicas)),
            config,
            store: Store::new(),
            phase: Phase::Joining,
            bootstrap: None,
            lost_peers: std::collections::VecDeque::new(),
            rejoining: false,
            next_request: 1,
            pending: BTreeMap::new(),
            operations: BTreeMap::new(),
            next_op: 1,
            completions: Vec::new(),
            out: Vec::new(),
            next_stabilize: now,
            next_fix_fingers: now,
            next_check_predecessor: now,
            next_replica_refresh: now + config.replica_refresh_interval,
            next_join_attempt: now,
            next_finger: 0,
            finger_in_flight: false,
            join_in_flight: false,
            replicas_pushed: None,
            last_seen: now,
            resync_pulls: 0,
        }
    }

    /// This node.
    pub fn me(&self) -> NodeRef<A> {
        self.routing.me()
    }

    /// Its view of the ring.
    pub fn routing(&self) -> &Routing<A> {
        &self.routing
    }

    /// Its keys, owned and replicated.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Its configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Where it is in its life.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Keys whose id lies in `(predecessor, me]`.
    pub fn owned_count(&self) -> usize {
        match self.routing.predecessor() {
            Some(pred) => self.store.count_in(pred.id, self.me().id),
            None if self.routing.successors().is_empty() => self.store.len(),
            None => 0,
        }
    }

    /// True while the node resynchronises its keys after a pause.
    pub fn is_resyncing(&self) -> bool {
        self.resync_pulls > 0
    }

    /// Requests sent and not yet answered or timed out.
    pub fn requests_in_flight(&self) -> usize {
        self.pending.len()
    }

    /// Local operations collected since the last call.
    pub fn take_completions(&mut self) -> Vec<Completion<A>> {
        std::mem::take(&mut self.completions)
    }

    /// The latest time by which [`Node::tick`] should run again.
    pub fn next_deadline(&self) -> Instant {
        let mut at = self
            .next_stabilize
            .min(self.next_fix_fingers)
            .min(self.next_check_predecessor)
            .min(self.next_replica_refresh);
        if self.phase == Phase::Joining {
            at = at.min(self.next_join_attempt);
        }
        self.pending
            .values()
            .map(|p| p.deadline)
            .fold(at, Instant::min)
    }

    /// Starts a put, get or delete on behalf of this node's user.
    pub fn start(&mut self, now: Instant, request: ClientRequest) -> (OpId, Vec<Outgoing<A>>) {
        self.observe(now);
        let op = self.new_op();
        self.begin(now, op, Origin::Local, Action::from_request(request));
        (op, self.take_out())
    }

    /// Starts a lookup of the successor of `target` (its hops are counted).
    pub fn start_lookup(&mut self, now: Instant, target: Id) -> (OpId, Vec<Outgoing<A>>) {
        self.observe(now);
        let op = self.new_op();
        self.begin_at(now, op, Origin::Local, Action::Lookup, target);
        (op, self.take_out())
    }

    /// Handles one message from `from`.
    pub fn handle(&mut self, now: Instant, from: A, message: Message<A>) -> Vec<Outgoing<A>> {
        self.observe(now);
        if message.body.is_answer() {
            // A late answer to a request already retried or timed out is dropped;
            // so is one from an address the request was not sent to.
            if self.pending.get(&message.id).is_some_and(|p| p.to == from)
                && let Some(pending) = self.pending.remove(&message.id)
            {
                self.on_answer(now, pending, message.body);
            }
        } else {
            self.on_request(now, from, message.id, message.body);
        }
        self.take_out()
    }

    /// Runs what is due at `now`: retries and timeouts, then the periodic
    /// maintenance of the paper (stabilize, fix_fingers, check_predecessor)
    /// and replica repair.
    pub fn tick(&mut self, now: Instant) -> Vec<Outgoing<A>> {
        self.observe(now);
        self.expire(now);
        match self.phase {
            Phase::Joining => {
                if !self.join_in_flight && now >= self.next_join_attempt {
                    self.next_join_attempt = now + self.config.stabilize_interval * 2;
                    if let Some(bootstrap) = self.bootstrap {
                        let op = self.new_op();
                        self.join_in_flight = true;
                        self.begin_join(now, op, bootstrap);
                    }
                }
            }
            Phase::Active => self.maintain(now),
            Phase::Leaving => {}
        }
        self.take_out()
    }

    /// Notices a pause: when more time passed since the last call than the
    /// other nodes wait before they take this one for dead, they may have
    /// taken puts for its keys in its place. Its requests in flight get
    /// their full wait again (their peers are not to blame), and it
    /// resynchronises before it answers for its keys again.
    fn observe(&mut self, now: Instant) {
        let silent = now.saturating_duration_since(self.last_seen);
        self.last_seen = self.last_seen.max(now);
        if silent <= self.config.pause_threshold() || self.phase != Phase::Active {
            return;
        }
        for pending in self.pending.values_mut() {
            pending.deadline = pending.deadline.max(now + self.config.request_timeout);
        }
        self.resync(now);
    }

    /// Where this node's keys are copied: the next `replicas - 1` successors.
    pub(super) fn replica_targets(&self) -> Vec<A> {
        let copies = self.config.replicas.saturating_sub(1);
        self.routing
            .successors()
            .iter()
            .take(copies)
            .map(|n| n.addr)
            .collect()
    }

    /// Sends a request and tracks it until answered or timed out.
    pub(super) fn request(&mut self, now: Instant, to: A, body: Body<A>, purpose: Purpose) -> u64 {
        let id = self.next_request;
        self.next_request += 1;
        let message = Message { id, body };
        self.out.push((to, message.clone()));
        self.pending.insert(
            id,
            Pending {
                to,
                message,
                deadline: now + self.config.request_timeout,
                attempts_left: self.config.request_attempts.saturating_sub(1),
                purpose,
            },
        );
        id
    }

    pub(super) fn new_op(&mut self) -> OpId {
        let op = self.next_op;
        self.next_op += 1;
        op
    }

    pub(super) fn take_out(&mut self) -> Vec<Outgoing<A>> {
        std::mem::take(&mut self.out)
    }
}

/// A small ring and node references for the node's unit tests.
#[cfg(test)]
pub(super) mod test_ring {
    use super::NodeRef;
    use crate::dht::config::Config;
    use crate::dht::id::{Id, Ring};

    /// A 16-bit ring with 3 copies of every key.
    pub fn config() -> Config {
        Config::with(Ring::tiny(16), 3)
    }

    /// Node `id`, addressed by its id.
    pub fn me(id: Id) -> NodeRef<u32> {
        NodeRef {
            id,
            addr: id as u32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dht::node::test_ring::{config, me};

    #[test]
    fn a_join_answered_by_the_owner_links_and_notifies_it() {
        let start = Instant::now();
        let mut node = Node::join(config(), me(100), 7, start);
        let out = node.tick(start);
        let id = out[0].1.id;
        let owner = me(200);
        let answer = Message {
            id,
            body: Body::Owner {
                owner,
                replicas: vec![owner, me(300)],
            },
        };
        let out = node.handle(start, 7, answer);
        assert_eq!(node.phase(), Phase::Active);
        assert_eq!(node.routing().successor(), owner);
        assert_eq!(node.routing().successors(), &[owner, me(300)]);
        assert!(matches!(
            out.as_slice(),
            [(
                200,
                Message {
                    body: Body::Notify { joining: true, .. },
                    ..
                }
            )]
        ));
    }

    #[test]
    fn an_answer_from_the_wrong_address_is_ignored() {
        let start = Instant::now();
        let mut node = Node::join(config(), me(100), 7, start);
        let id = node.tick(start)[0].1.id;
        let forged = Message {
            id,
            body: Body::Owner {
                owner: me(5),
                replicas: vec![me(5)],
            },
        };
        node.handle(start, 9, forged);
        assert_eq!(node.phase(), Phase::Joining);
        assert_eq!(node.requests_in_flight(), 1);
    }
}
