//! Operations a node runs over the ring: iterative lookups (find_successor,
//! with one hop counted per remote node that answers), and the puts, gets
//! and deletes that follow a lookup to the key's owner and its replicas.
//!
//! A lookup keeps a stack of candidates: each answer pushes the answering
//! node's best nodes for the target, and a candidate that times out is
//! forgotten and the next one tried, so one dead finger costs a timeout,
//! not the lookup.

use std::time::Instant;

use super::config::{MAX_KEY_BYTES, MAX_LOOKUP_STEPS, MAX_VALUE_BYTES};
use super::id::Id;
use super::message::{
    Body, ClientRequest, Item, Message, NodeRef, OperationError, Outcome, Version,
};
use super::node::{Address, Completion, Node, OpId, Purpose};

/// Who waits for an operation's outcome.
#[derive(Debug, Clone, Copy)]
pub(super) enum Origin<A> {
    /// This node's user, through [`Node::take_completions`].
    Local,
    /// A client that sent a `Client` request with this id.
    Remote { addr: A, request: u64 },
    /// The node's own maintenance (join, fix_fingers).
    Internal,
}

/// What an operation does once the owner is known.
#[derive(Debug, Clone)]
pub(super) enum Action {
    Lookup,
    Join,
    Finger(usize),
    Put {
        key: String,
        value: Vec<u8>,
        pickle: bool,
    },
    Get {
        key: String,
    },
    Delete {
        key: String,
    },
}

impl Action {
    pub(super) fn from_request(request: ClientRequest) -> Self {
        match request {
            ClientRequest::Put { key, value } => Action::Put {
                key,
                value,
                pickle: false,
            },
            ClientRequest::PutPickle { key, pickle } => Action::Put {
                key,
                value: pickle,
                pickle: true,
            },
            ClientRequest::Get { key } => Action::Get { key },
            ClientRequest::Delete { key } => Action::Delete { key },
        }
    }

    fn key(&self) -> Option<&str> {
        match self {
            Action::Put { key, .. } | Action::Get { key } | Action::Delete { key } => Some(key),
            _ => None,
        }
    }
}

#[derive(Debug)]
pub(super) struct Operation<A> {
    origin: Origin<A>,
    action: Action,
    target: Id,
    /// Candidates still to try, the next one last.
    frontier: Vec<NodeRef<A>>,
    visited: Vec<A>,
    /// Candidates that timed out: the next nodes asked route around them.
    dead: Vec<A>,
    hops: u32,
    timeouts: u32,
    steps: u32,
    /// After the lookup: the owner, then its successors.
    replicas: Vec<NodeRef<A>>,
    replica_index: usize,
    answered_absent: bool,
}

impl<A: Address> Node<A> {
    /// Starts a data operation on the id of its key.
    pub(super) fn begin(&mut self, now: Instant, op: OpId, origin: Origin<A>, action: Action) {
        let key = action.key().unwrap_or_default();
        let too_large = key.len() > MAX_KEY_BYTES
            || matches!(&action, Action::Put { value, .. } if value.len() > MAX_VALUE_BYTES);
        let target = self.config.ring.key_id(key.as_bytes());
        self.operations
            .insert(op, Operation::new(origin, action, target));
        if too_large {
            self.finish(now, op, Outcome::Failed(OperationError::TooLarge));
            return;
        }
        self.resolve_locally(now, op);
    }

    /// Starts an operation on an explicit id.
    pub(super) fn begin_at(
        &mut self,
        now: Instant,
        op: OpId,
        origin: Origin<A>,
        action: Action,
        target: Id,
    ) {
        self.operations
            .insert(op, Operation::new(origin, action, target));
        self.resolve_locally(now, op);
    }

    /// Starts the join's lookup of this node's own id through `bootstrap`,
    /// whose id is not known yet (its answer tells where to go next).
    pub(super) fn begin_join(&mut self, now: Instant, op: OpId, bootstrap: A) {
        let me = self.me();
        let mut operation = Operation::new(Origin::Internal, Action::Join, me.id);
        operation.frontier.push(NodeRef {
            id: me.id,
            addr: bootstrap,
        });
        self.operations.insert(op, operation);
        self.next_step(now, op);
    }

    /// The first step is taken on this node's own tables, and costs no hop.
    /// After a timeout it is taken again, around the nodes found dead.
    fn resolve_locally(&mut self, now: Instant, op: OpId) {
        let operation = &self.operations[&op];
        match self.route(operation.target, &operation.dead) {
            Body::Owner { owner, replicas } => self.found(now, op, owner, replicas),
            Body::Closer { candidates } => {
                let operation = self.operations.get_mut(&op).expect("just inserted");
                operation.frontier.extend(candidates.into_iter().rev());
                self.next_step(now, op);
            }
            _ => unreachable!("route answers Owner or Closer"),
        }
    }

    fn next_step(&mut self, now: Instant, op: OpId) {
        let Some(operation) = self.operations.get_mut(&op) else {
            return;
        };
        while let Some(next) = operation.frontier.pop() {
            if operation.visited.contains(&next.addr) {
                continue;
            }
            if operation.steps >= MAX_LOOKUP_STEPS {
                break;
            }
            operation.steps += 1;
            operation.visited.push(next.addr);
            let body = Body::FindSuccessor {
                target: operation.target,
                avoid: operation.dead.clone(),
            };
            self.request(now, next.addr, body, Purpose::Step(op));
            return;
        }
        self.finish(now, op, Outcome::Failed(OperationError::LookupFailed));
    }

    pub(super) fn on_step_answer(&mut self, now: Instant, op: OpId, body: Body<A>) {
        let Some(operation) = self.operations.get_mut(&op) else {
            return;
        };
        operation.hops += 1;
        match body {
            Body::Owner { owner, replicas } => self.found(now, op, owner, replicas),
            Body::Closer { candidates } => {
                operation.frontier.extend(candidates.into_iter().rev());
                self.next_step(now, op);
            }
            _ => self.next_step(now, op),
        }
    }

    pub(super) fn on_step_timeout(&mut self, now: Instant, op: OpId, dead: A) {
        let Some(operation) = self.operations.get_mut(&op) else {
            return;
        };
        operation.timeouts += 1;
        operation.dead.push(dead);
        // The nodes asked so far may answer otherwise once told to avoid
        // the dead one (its predecessor then names its successor), so they
        // may be asked again; MAX_LOOKUP_STEPS still bounds the lookup.
        let dead = operation.dead.clone();
        operation.visited.retain(|a| dead.contains(a));
        let exhausted = operation.frontier.iter().all(|n| dead.contains(&n.addr));
        // A join has no tables of its own to start from.
        if exhausted && !matches!(operation.action, Action::Join) {
            operation.frontier.clear();
            self.resolve_locally(now, op);
        } else {
            self.next_step(now, op);
        }
    }

    /// The lookup is over: the owner of the target is known.
    fn found(&mut self, now: Instant, op: OpId, owner: NodeRef<A>, replicas: Vec<NodeRef<A>>) {
        let Some(operation) = self.operations.get_mut(&op) else {
            return;
        };
        let mut list = vec![owner];
        list.extend(replicas.into_iter().filter(|n| n.addr != owner.addr));
        operation.replicas = list;
        match operation.action {
            Action::Lookup => {
                let outcome = Outcome::Found {
                    owner,
                    hops: operation.hops,
                    timeouts: operation.timeouts,
                };
                self.finish(now, op, outcome);
            }
            Action::Join => {
                let replicas = operation.replicas.clone();
                self.operations.remove(&op);
                self.joined(now, owner, &replicas);
            }
            Action::Finger(i) => {
                self.operations.remove(&op);
                self.finger_in_flight = false;
                // When the owner is this node itself, the finger is cleared
                // and the next one fixed next time.
                self.next_finger = self.routing.set_finger(i, owner);
            }
            Action::Put { .. } | Action::Get { .. } | Action::Delete { .. } => {
                self.data_step(now, op);
            }
        }
    }

    /// Sends the data request to the next replica not yet tried.
    fn data_step(&mut self, now: Instant, op: OpId) {
        let copies = self.config.replicas;
        let Some(operation) = self.operations.get_mut(&op) else {
            return;
        };
        let limit = copies.min(operation.replicas.len());
        if operation.replica_index >= limit {
            let outcome = match operation.action {
                Action::Get { .. } if operation.answered_absent => Outcome::Value(None),
                _ => Outcome::Failed(OperationError::ReplicasUnreachable),
            };
            self.finish(now, op, outcome);
            return;
        }
        let to = operation.replicas[operation.replica_index].addr;
        let body = match &operation.action {
            Action::Put { key, value, pickle } => Body::Store {
                // The owner gives it its version.
                items: vec![Item {
                    key: key.clone(),
                    value: value.clone(),
                    version: Version::default(),
                    pickle: *pickle,
                }],
                replicate: true,
            },
            Action::Get { key } => Body::Fetch { key: key.clone() },
            Action::Delete { key } => Body::Remove {
                key: key.clone(),
                replicate: true,
            },
            _ => unreachable!("only data actions reach the replicas"),
        };
        self.request(now, to, body, Purpose::Data(op));
    }

    pub(super) fn on_data_answer(&mut self, now: Instant, op: OpId, body: Body<A>) {
        let Some(operation) = self.operations.get_mut(&op) else {
            return;
        };
        let outcome = match body {
            Body::Ack => Outcome::Stored,
            Body::Fetched {
                value: Some(value),
                pickle: true,
            } => Outcome::Pickled(value),
            Body::Fetched {
                value: Some(value),
                pickle: false,
            } => Outcome::Value(Some(value)),
            Body::Fetched { value: None, .. } => {
                // A replica may hold a key its owner has not received yet
                // (a join or a failure in progress): ask the next one.
                operation.answered_absent = true;
                operation.replica_index += 1;
                self.data_step(now, op);
                return;
            }
            Body::Removed { existed } => Outcome::Deleted(existed),
            Body::Unavailable => {
                // A replica resynchronising after a pause: alive, but it
                // cannot answer for the key yet.
                operation.replica_index += 1;
                self.data_step(now, op);
                return;
            }
            _ => return,
        };
        self.finish(now, op, outcome);
    }

    pub(super) fn on_data_timeout(&mut self, now: Instant, op: OpId) {
        if let Some(operation) = self.operations.get_mut(&op) {
            operation.replica_index += 1;
            self.data_step(now, op);
        }
    }

    /// Hands an outcome to whoever waits for it.
    pub(super) fn finish(&mut self, _now: Instant, op: OpId, outcome: Outcome<A>) {
        let Some(operation) = self.operations.remove(&op) else {
            return;
        };
        match operation.origin {
            Origin::Local => self.completions.push(Completion { op, outcome }),
            Origin::Remote { addr, request } => self.out.push((
                addr,
                Message {
                    id: request,
                    body: Body::ClientReply(outcome),
                },
            )),
            Origin::Internal => match operation.action {
                Action::Join => self.join_in_flight = false,
                Action::Finger(_) => self.finger_in_flight = false,
                _ => {}
            },
        }
    }
}

impl<A> Operation<A> {
    fn new(origin: Origin<A>, action: Action, target: Id) -> Self {
        Self {
            origin,
            action,
            target,
            frontier: Vec::new(),
            visited: Vec::new(),
            dead: Vec::new(),
            hops: 0,
            timeouts: 0,
            steps: 0,
            replicas: Vec::new(),
            replica_index: 0,
            answered_absent: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dht::node::test_ring::{config, me};

    #[test]
    fn a_lookup_whose_only_candidate_is_dead_routes_around_it() {
        let start = Instant::now();
        let mut node = Node::create(config(), me(100), start);
        node.routing.set_predecessor(Some(me(50)));
        node.routing.set_successors(me(200), &[me(300), me(400)]);
        let (op, out) = node.start_lookup(start, 250);
        assert!(matches!(
            &out[..],
            [(
                200,
                Message {
                    body: Body::FindSuccessor { target: 250, .. },
                    ..
                }
            )]
        ));
        // 200 never answers: after its attempts the lookup goes on without it.
        let mut now = start;
        let mut done = Vec::new();
        while done.is_empty() {
            now += config().request_timeout;
            node.tick(now);
            done = node.take_completions();
            assert!(now < start + config().request_timeout * 10, "it ends");
        }
        assert!(
            matches!(
                &done[..],
                [Completion { op: o, outcome: Outcome::Found { owner, timeouts: 1, .. } }]
                    if *o == op && owner.id == 300
            ),
            "{done:?}"
        );
    }
}
