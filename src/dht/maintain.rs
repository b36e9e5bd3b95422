//! What keeps a node's view of the ring right over time: the periodic
//! maintenance of the paper (stabilize, fix_fingers, check_predecessor),
//! replica repair (pushing owned keys to the successors that hold copies),
//! and the fate of the requests this node sent: an answer dispatched by the
//! request's purpose, a retry when one is unanswered, and, when the attempts
//! are spent, the peer forgotten and its operation moved on.
//!
//! It owns no state: the timers, the pending requests and the routing it
//! updates all live on the node. Answering other nodes' requests is `serve`'s.

use std::time::Instant;

use super::id::in_open;
use super::message::{Body, NodeRef, chunk_items};
use super::node::{Address, Node, Pending, Purpose};
use super::operation::{Action, Origin};

impl<A: Address> Node<A> {
    pub(super) fn maintain(&mut self, now: Instant) {
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
                self.rejoin_when_alone(now);
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
    /// A node resynchronising after a pause pushes nothing: what it holds
    /// may be older than its replicas' copies.
    fn push_replicas(&mut self, now: Instant) {
        if self.is_resyncing() {
            return;
        }
        let Some(pred) = self.routing.predecessor() else {
            return;
        };
        let targets = self.replica_targets();
        let state = (pred.id, targets.clone());
        let changed = self.replicas_pushed.as_ref() != Some(&state);
        if !changed && now < self.next_replica_refresh {
            return;
        }
        if now >= self.next_replica_refresh {
            self.drop_stale_copies(now);
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

    pub(super) fn on_answer(&mut self, now: Instant, pending: Pending<A>, body: Body<A>) {
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
            Purpose::Replicate => {
                // The receiver held newer versions of some of the copies.
                if let Body::Newer { items } = body {
                    self.merge_items(now, items);
                }
            }
            Purpose::Resync => self.on_pulled(now, pending.to, &pending.message.body, body),
            Purpose::CheckPredecessor | Purpose::Notify | Purpose::Leave => {}
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

    pub(super) fn expire(&mut self, now: Instant) {
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
        if !matches!(
            pending.purpose,
            Purpose::Resync | Purpose::Replicate | Purpose::Leave
        ) {
            self.remember_lost(dead);
        }
        match pending.purpose {
            Purpose::Step(op) => {
                self.routing.forget(dead);
                self.on_step_timeout(now, op, dead);
            }
            Purpose::Data(op) => {
                self.routing.forget(dead);
                self.on_data_timeout(now, op);
            }
            Purpose::Stabilize | Purpose::Notify | Purpose::CheckPredecessor => {
                self.routing.forget(dead);
            }
            Purpose::Resync => self.on_pull_timeout(),
            Purpose::Replicate | Purpose::Leave => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::dht::node::test_ring::{config, me};
    use std::time::Duration;

    use super::*;

    use crate::dht::node::Phase;

    #[test]
    fn an_unanswered_request_is_sent_again_with_the_same_id_then_given_up() {
        let start = Instant::now();
        let mut node = Node::join(config(), me(100), 7, start);
        let first = node.tick(start);
        assert_eq!(first.len(), 1);
        let (to, sent) = &first[0];
        assert_eq!(*to, 7);
        assert!(matches!(sent.body, Body::FindSuccessor { target: 100, .. }));

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
}
