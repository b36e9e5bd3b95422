//! What a node answers to each request another node sends it: lookup steps
//! (find successor), its neighbours, notify (including the hand-over of keys
//! to a node joining just before it), stores, fetches and removes (passed on
//! to its successors when asked to replicate), a neighbour's leave, and
//! client operations, which start an operation of their own.
//!
//! It owns no state: it reads and updates the node's routing and store, and
//! queues answers and follow-up requests on the node. Answers to this node's
//! own requests are not handled here but in `maintain`.

use std::time::Instant;

use super::config::CANDIDATES_PER_ANSWER;
use super::id::{Id, in_half_open, in_open};
use super::message::{Body, Message, NodeRef, Outcome, chunk_items};
use super::node::{Address, Node, Phase, Purpose};
use super::operation::{Action, Origin};

impl<A: Address> Node<A> {
    pub(super) fn on_request(&mut self, now: Instant, from: A, id: u64, body: Body<A>) {
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
        let targets = self.replica_targets();
        for to in targets {
            self.request(now, to, body.clone(), Purpose::Replicate);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dht::node::test_ring::{config, me};

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
