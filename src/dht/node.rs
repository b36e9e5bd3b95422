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

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::time::Instant;

use super::config::{CANDIDATES_PER_ANSWER, Config};
use super::id::{Id, in_half_open, in_open};
use super::message::{Body, ClientRequest, Message, NodeRef, Outcome, chunk_items};
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
}

#[derive(Debug)]
pub(super) struct Pending<A> {
    pub(super) to: A,
    message: Message<A>,
    deadline: Instant,
    attempts_left: u32,
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
    next_request: u64,
    pub(super) pending: BTreeMap<u64, Pending<A>>,
    pub(super) operations: BTreeMap<OpId, Operation<A>>,
    next_op: OpId,
    pub(super) completions: Vec<Completion<A>>,
    pub(super) out: Vec<Outgoing<A>>,
    next_stabilize: Instant,
    next_fix_fingers: Instant,
    next_check_predecessor: Instant,
    next_replica_refresh: Instant,
    next_join_attempt: Instant,
    pub(super) next_finger: usize,
    pub(super) finger_in_flight: bool,
    pub(super) join_in_flight: bool,
    /// Predecessor and replica targets at the last push, to push again on change.
    replicas_pushed: Option<(Id, Vec<A>)>,
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
        node
    }

    fn blank(config: Config, me: NodeRef<A>, now: Instant) -> Self {
        Self {
            routing: Routing::new(me, config.ring, config.successors.max(config.replicas)),
            config,
            store: Store::new(),
            phase: Phase::Joining,
            bootstrap: None,
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
        let op = self.new_op();
        self.begin(now, op, Origin::Local, Action::from_request(request));
        (op, self.take_out())
    }

    /// Starts a lookup of the successor of `target` (its hops are counted).
    pub fn start_lookup(&mut self, now: Instant, target: Id) -> (OpId, Vec<Outgoing<A>>) {
        let op = self.new_op();
        self.begin_at(now, op, Origin::Local, Action::Lookup, target);
        (op, self.take_out())
    }

    /// Starts a graceful leave: the keys go to the successor, the neighbours
    /// are told to link past this node. Poll [`Node::has_left`] afterwards.
    pub fn leave(&mut self, now: Instant) -> Vec<Outgoing<A>> {
        if self.phase == Phase::Leaving {
            return Vec::new();
        }
        self.phase = Phase::Leaving;
        let me = self.me();
        let successor = self.routing.successor();
        if successor.addr != me.addr {
            for items in chunk_items(self.store.all()) {
                let body = Body::Store {
                    items,
                    replicate: false,
                };
                self.request(now, successor.addr, body, Purpose::Leave);
            }
            let leaving = Body::Leaving {
                node: me,
                predecessor: self.routing.predecessor(),
                successors: self.routing.successors().to_vec(),
            };
            self.request(now, successor.addr, leaving.clone(), Purpose::Leave);
            if let Some(pred) = self.routing.predecessor()
                && pred.addr != successor.addr
            {
                self.request(now, pred.addr, leaving, Purpose::Leave);
            }
        }
        self.take_out()
    }

    /// True once a leave is done: every hand-over was answered or timed out.
    pub fn has_left(&self) -> bool {
        self.phase == Phase::Leaving && self.pending.values().all(|p| p.purpose != Purpose::Leave)
    }

    /// Handles one message from `from`.
    pub fn handle(&mut self, now: Instant, from: A, message: Message<A>) -> Vec<Outgoing<A>> {
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

    fn maintain(&mut self, now: Instant) {
        if now >= self.next_stabilize {
            self.next_stabilize = now + self.config.stabilize_interval;
            self.stabilize(now);
        }
        if now >= self.next_check_predecessor {
            self.next_check_predecessor = now + self.config.check_predecessor_interval;
            if let Some(pred) = self.routing.predecessor() {
                self.request(now, pred.addr, Body::Ping, Purpose::CheckPredecessor);
            }
        }
        if now >= self.next_fix_fingers && !self.finger_in_flight {
            self.next_fix_fingers = now + self.config.fix_fingers_interval;
            if !self.routing.successors().is_empty() {
                let i = self.next_finger;
                let target = self.config.ring.finger_start(self.me().id, i as u32);
                let op = self.new_op();
                self.finger_in_flight = true;
                self.begin_at(now, op, Origin::Internal, Action::Finger(i), target);
            }
        }
        self.push_replicas(now);
    }

    fn stabilize(&mut self, now: Instant) {
        let me = self.me();
        if self.routing.successors().is_empty() {
            // Alone: the paper's stabilize reads our own predecessor, which a
            // joining node's notify has set.
            if let Some(pred) = self.routing.predecessor() {
                self.routing.set_successors(pred, &[]);
            } else {
                return;
            }
        }
        let successor = self.routing.successor();
        if successor.addr != me.addr {
            self.request(now, successor.addr, Body::GetNeighbors, Purpose::Stabilize);
        }
    }

    /// Copies the keys this node owns to the next `replicas - 1` successors,
    /// when they or the owned interval changed, and every refresh interval.
    fn push_replicas(&mut self, now: Instant) {
        let Some(pred) = self.routing.predecessor() else {
            return;
        };
        let copies = self.config.replicas.saturating_sub(1);
        let targets: Vec<A> = self
            .routing
            .successors()
            .iter()
            .take(copies)
            .map(|n| n.addr)
            .collect();
        let state = (pred.id, targets.clone());
        let changed = self.replicas_pushed.as_ref() != Some(&state);
        if !changed && now < self.next_replica_refresh {
            return;
        }
        self.next_replica_refresh = now + self.config.replica_refresh_interval;
        let owned = self.store.items_in(pred.id, self.me().id);
        self.replicas_pushed = Some(state);
        for items in chunk_items(owned) {
            for &to in &targets {
                let body = Body::Store {
                    items: items.clone(),
                    replicate: false,
                };
                self.request(now, to, body, Purpose::Replicate);
            }
        }
    }

    fn on_request(&mut self, now: Instant, from: A, id: u64, body: Body<A>) {
        let me = self.me();
        let ring = self.config.ring;
        let answer = match body {
            Body::FindSuccessor { target } => self.route(target),
            Body::GetNeighbors => Body::Neighbors {
                node: me,
                predecessor: self.routing.predecessor(),
                successors: self.routing.successors().to_vec(),
                stored: self.store.len() as u64,
                owned: self.owned_count() as u64,
            },
            Body::Notify { node, joining } => {
                let adopt = match self.routing.predecessor() {
                    None => true,
                    Some(pred) => in_open(node.id, pred.id, me.id),
                };
                if adopt && node.addr != me.addr {
                    self.routing.set_predecessor(Some(node));
                }
                if joining {
                    // The joiner precedes us: it now holds everything we hold
                    // except our own interval (its keys and the replicas it
                    // shares with us), sent as ordinary stores.
                    let items = self.store.items_outside(node.id, me.id);
                    for items in chunk_items(items) {
                        let body = Body::Store {
                            items,
                            replicate: false,
                        };
                        self.request(now, node.addr, body, Purpose::Replicate);
                    }
                }
                Body::Ack
            }
            Body::Ping => Body::Ack,
            Body::Store { items, replicate } => {
                if replicate {
                    self.replicate_to_successors(
                        now,
                        Body::Store {
                            items: items.clone(),
                            replicate: false,
                        },
                    );
                }
                for item in items {
                    self.store.insert(ring, item.key, item.value);
                }
                Body::Ack
            }
            Body::Fetch { key } => Body::Fetched {
                value: self.store.get(ring, &key).cloned(),
            },
            Body::Remove { key, replicate } => {
                if replicate {
                    self.replicate_to_successors(
                        now,
                        Body::Remove {
                            key: key.clone(),
                            replicate: false,
                        },
                    );
                }
                Body::Removed {
                    existed: self.store.remove(ring, &key),
                }
            }
            Body::Leaving {
                node,
                predecessor,
                successors,
            } => {
                if self
                    .routing
                    .predecessor()
                    .is_some_and(|p| p.addr == node.addr)
                {
                    self.routing.set_predecessor(predecessor);
                }
                if self.routing.successor().addr == node.addr {
                    self.routing.forget(node.addr);
                    let rest: Vec<NodeRef<A>> = successors
                        .into_iter()
                        .filter(|n| n.addr != node.addr)
                        .collect();
                    if let Some((first, rest)) = rest.split_first() {
                        self.routing.set_successors(*first, rest);
                    }
                }
                Body::Ack
            }
            Body::Client(request) => {
                if self.phase == Phase::Leaving {
                    Body::ClientReply(Outcome::Failed(super::message::OperationError::Leaving))
                } else {
                    let op = self.new_op();
                    let origin = Origin::Remote {
                        addr: from,
                        request: id,
                    };
                    self.begin(now, op, origin, Action::from_request(request));
                    return;
                }
            }
            answer => {
                debug_assert!(answer.is_answer());
                return;
            }
        };
        self.out.push((from, Message { id, body: answer }));
    }

    /// The answer to one lookup step for `target`.
    pub(super) fn route(&self, target: Id) -> Body<A> {
        let me = self.me();
        if self.routing.owns(target) {
            return Body::Owner {
                owner: me,
                replicas: std::iter::once(me)
                    .chain(self.routing.successors().iter().copied())
                    .collect(),
            };
        }
        let successor = self.routing.successor();
        if in_half_open(target, me.id, successor.id) {
            return Body::Owner {
                owner: successor,
                replicas: self.routing.successors().to_vec(),
            };
        }
        let candidates = self
            .routing
            .closest_preceding(target, CANDIDATES_PER_ANSWER);
        if candidates.is_empty() {
            Body::Owner {
                owner: successor,
                replicas: self.routing.successors().to_vec(),
            }
        } else {
            Body::Closer { candidates }
        }
    }

    fn replicate_to_successors(&mut self, now: Instant, body: Body<A>) {
        let copies = self.config.replicas.saturating_sub(1);
        let targets: Vec<A> = self
            .routing
            .successors()
            .iter()
            .take(copies)
            .map(|n| n.addr)
            .collect();
        for to in targets {
            self.request(now, to, body.clone(), Purpose::Replicate);
        }
    }

    fn on_answer(&mut self, now: Instant, pending: Pending<A>, body: Body<A>) {
        match pending.purpose {
            Purpose::Step(op) => self.on_step_answer(now, op, body),
            Purpose::Data(op) => self.on_data_answer(now, op, body),
            Purpose::Stabilize => {
                if let Body::Neighbors {
                    node,
                    predecessor,
                    successors,
                    ..
                } = body
                {
                    self.on_neighbors(now, node, predecessor, &successors);
                }
            }
            Purpose::CheckPredecessor | Purpose::Notify | Purpose::Replicate | Purpose::Leave => {}
        }
    }

    /// The rest of stabilize, once the successor said who its neighbours are.
    fn on_neighbors(
        &mut self,
        now: Instant,
        successor: NodeRef<A>,
        predecessor: Option<NodeRef<A>>,
        successors: &[NodeRef<A>],
    ) {
        let me = self.me();
        match predecessor {
            Some(x) if x.addr != me.addr && in_open(x.id, me.id, successor.id) => {
                let mut rest = vec![successor];
                rest.extend_from_slice(successors);
                self.routing.set_successors(x, &rest);
                // Ask the closer successor at once instead of next period:
                // when many nodes joined behind the same successor, this
                // walks the whole chain back in one period (each step moves
                // strictly closer, so it ends).
                self.request(now, x.addr, Body::GetNeighbors, Purpose::Stabilize);
                return;
            }
            _ => self.routing.set_successors(successor, successors),
        }
        let notify = Body::Notify {
            node: me,
            joining: false,
        };
        let to = self.routing.successor().addr;
        if to != me.addr {
            self.request(now, to, notify, Purpose::Notify);
        }
    }

    fn expire(&mut self, now: Instant) {
        let due: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(&id, _)| id)
            .collect();
        for id in due {
            let Some(pending) = self.pending.get_mut(&id) else {
                continue;
            };
            if pending.attempts_left > 0 {
                pending.attempts_left -= 1;
                pending.deadline = now + self.config.request_timeout;
                self.out.push((pending.to, pending.message.clone()));
                continue;
            }
            let pending = self.pending.remove(&id).expect("present");
            self.on_timeout(now, pending);
        }
    }

    fn on_timeout(&mut self, now: Instant, pending: Pending<A>) {
        let dead = pending.to;
        match pending.purpose {
            Purpose::Step(op) => {
                self.routing.forget(dead);
                self.on_step_timeout(now, op);
            }
            Purpose::Data(op) => {
                self.routing.forget(dead);
                self.on_data_timeout(now, op);
            }
            Purpose::Stabilize | Purpose::Notify | Purpose::CheckPredecessor => {
                self.routing.forget(dead);
            }
            Purpose::Replicate | Purpose::Leave => {}
        }
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

    fn new_op(&mut self) -> OpId {
        let op = self.next_op;
        self.next_op += 1;
        op
    }

    pub(super) fn take_out(&mut self) -> Vec<Outgoing<A>> {
        std::mem::take(&mut self.out)
    }

    /// Completes the join: the successor is known.
    pub(super) fn joined(&mut self, now: Instant, owner: NodeRef<A>, replicas: &[NodeRef<A>]) {
        self.join_in_flight = false;
        let rest: Vec<NodeRef<A>> = replicas
            .iter()
            .copied()
            .filter(|n| n.addr != owner.addr)
            .collect();
        self.routing.set_successors(owner, &rest);
        self.phase = Phase::Active;
        let me = self.me();
        let notify = Body::Notify {
            node: me,
            joining: true,
        };
        if owner.addr != me.addr {
            self.request(now, owner.addr, notify, Purpose::Notify);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::dht::id::Ring;

    fn config() -> Config {
        Config::with(Ring::tiny(16), 3)
    }

    fn me(id: Id) -> NodeRef<u32> {
        NodeRef {
            id,
            addr: id as u32,
        }
    }

    #[test]
    fn an_unanswered_request_is_sent_again_with_the_same_id_then_given_up() {
        let start = Instant::now();
        let mut node = Node::join(config(), me(100), 7, start);
        let first = node.tick(start);
        assert_eq!(first.len(), 1);
        let (to, sent) = &first[0];
        assert_eq!(*to, 7);
        assert!(matches!(sent.body, Body::FindSuccessor { target: 100 }));

        let timeout = config().request_timeout;
        let retry = node.tick(start + timeout);
        assert_eq!(retry, first, "the same datagram, same id");
        assert_eq!(node.tick(start + timeout * 2), first);
        // Third timeout: the bootstrap is taken for dead, the join fails and
        // is tried again later.
        assert!(node.tick(start + timeout * 3).is_empty());
        assert_eq!(node.requests_in_flight(), 0);
        assert_eq!(node.phase(), Phase::Joining);
        let again = node.tick(start + Duration::from_secs(2));
        assert_eq!(again.len(), 1);
        assert_ne!(again[0].1.id, sent.id);
    }

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

    #[test]
    fn a_lone_node_answers_every_lookup_with_itself() {
        let start = Instant::now();
        let mut node = Node::create(config(), me(100), start);
        let out = node.handle(
            start,
            9,
            Message {
                id: 4,
                body: Body::FindSuccessor { target: 5 },
            },
        );
        assert_eq!(
            out,
            vec![(
                9,
                Message {
                    id: 4,
                    body: Body::Owner {
                        owner: me(100),
                        replicas: vec![me(100)],
                    },
                }
            )]
        );
    }

    #[test]
    fn a_notify_from_a_closer_node_replaces_the_predecessor() {
        let start = Instant::now();
        let mut node = Node::create(config(), me(100), start);
        let notify = |n: Id| Message {
            id: 1,
            body: Body::Notify {
                node: me(n),
                joining: false,
            },
        };
        node.handle(start, 50, notify(50));
        assert_eq!(node.routing().predecessor(), Some(me(50)));
        node.handle(start, 80, notify(80));
        assert_eq!(node.routing().predecessor(), Some(me(80)));
        node.handle(start, 60, notify(60));
        assert_eq!(
            node.routing().predecessor(),
            Some(me(80)),
            "60 is farther than 80"
        );
    }
}
