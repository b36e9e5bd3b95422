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

use super::config::{CANDIDATES_PER_ANSWER, MAX_ITEM_BYTES_PER_MESSAGE};
use super::id::{Id, in_half_open, in_open};
use super::message::{Body, Item, Message, NodeRef, Outcome, chunk_items};
use super::node::{Address, Node, Phase, Purpose};
use super::operation::{Action, Origin};

impl<A: Address> Node<A> {
    pub(super) fn on_request(&mut self, now: Instant, from: A, id: u64, body: Body<A>) {
        let me = self.me();
        let ring = self.config.ring;
        let answer = match body {
            Body::FindSuccessor { target, avoid } => self.route(target, &avoid),
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
                    self.store_as_owner(now, items)
                } else {
                    let newer = self.merge_items(now, items);
                    if newer.is_empty() {
                        Body::Ack
                    } else {
                        Body::Newer { items: newer }
                    }
                }
            }
            Body::Fetch { .. }
            | Body::Remove {
                replicate: true, ..
            } if self.is_resyncing() => Body::Unavailable,
            Body::Fetch { key } => Body::Fetched {
                value: self.store.get(ring, &key).cloned(),
                pickle: self.store.is_pickle(ring, &key),
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
            Body::Pull { from, to, after } => {
                let (items, more) = self.store.items_after(
                    ring,
                    from,
                    to,
                    after.as_deref(),
                    MAX_ITEM_BYTES_PER_MESSAGE,
                );
                Body::Pulled { items, more }
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

    /// The answer to one lookup step for `target`, routing around the
    /// nodes in `avoid` (found dead by the lookup) as if they had left.
    pub(super) fn route(&self, target: Id, avoid: &[A]) -> Body<A> {
        let me = self.me();
        let successors: Vec<NodeRef<A>> = self
            .routing
            .successors()
            .iter()
            .copied()
            .filter(|n| !avoid.contains(&n.addr))
            .collect();
        if self.routing.owns(target) {
            return Body::Owner {
                owner: me,
                replicas: std::iter::once(me).chain(successors).collect(),
            };
        }
        let successor = successors.first().copied().unwrap_or(me);
        if in_half_open(target, me.id, successor.id) {
            return Body::Owner {
                owner: successor,
                replicas: successors,
            };
        }
        let candidates: Vec<NodeRef<A>> = self
            .routing
            .closest_preceding(target, CANDIDATES_PER_ANSWER + avoid.len())
            .into_iter()
            .filter(|n| !avoid.contains(&n.addr))
            .take(CANDIDATES_PER_ANSWER)
            .collect();
        if candidates.is_empty() {
            Body::Owner {
                owner: successor,
                replicas: successors,
            }
        } else {
            Body::Closer { candidates }
        }
    }

    /// A put reached this node as the key's owner: version the items, keep
    /// them and copy them to the replicas. Refused while resynchronising,
    /// when this node's versions may be behind those of the ring.
    fn store_as_owner(&mut self, now: Instant, items: Vec<Item>) -> Body<A> {
        if self.is_resyncing() {
            return Body::Unavailable;
        }
        let (ring, me) = (self.config.ring, self.me().id);
        let items: Vec<Item> = items
            .into_iter()
            .map(|i| self.store.put_as_owner(ring, i, me, now))
            .collect();
        self.replicate_to_successors(
            now,
            Body::Store {
                items,
                replicate: false,
            },
        );
        Body::Ack
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
                body: Body::FindSuccessor {
                    target: 5,
                    avoid: Vec::new(),
                },
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

    #[test]
    fn a_lookup_step_routes_around_the_nodes_the_lookup_found_dead() {
        let start = Instant::now();
        let mut node = Node::create(config(), me(100), start);
        node.routing.set_predecessor(Some(me(50)));
        node.routing.set_successors(me(200), &[me(300), me(400)]);
        // 250 lies after the successor 200: asked normally, the node sends
        // the lookup on to 200; with 200 dead, 300 owns 250.
        assert_eq!(
            node.route(250, &[]),
            Body::Closer {
                candidates: vec![me(200)]
            }
        );
        assert_eq!(
            node.route(250, &[200]),
            Body::Owner {
                owner: me(300),
                replicas: vec![me(300), me(400)]
            }
        );
        assert_eq!(
            node.route(150, &[200]),
            Body::Owner {
                owner: me(300),
                replicas: vec![me(300), me(400)]
            },
            "the dead successor's interval falls to the next one"
        );
    }
}
