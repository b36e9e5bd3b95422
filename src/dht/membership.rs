//! A node's membership of the ring: completing a join, a graceful leave
//! (keys handed to the successor, neighbours told to link past), and the
//! way back in after a partition (the lost peers it remembers and asks, one
//! per attempt, to take it back).
//!
//! It owns no state: the phase, the lost peers and the join in flight all
//! live on the node. How a join's lookup runs is `operation`'s.

use std::time::Instant;

use super::message::{Body, NodeRef, chunk_items};
use super::node::{Address, Node, Outgoing, Phase, Purpose};

/// How many lost nodes a node remembers to rejoin through.
pub const REMEMBERED_PEERS: usize = 16;

impl<A: Address> Node<A> {
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

    /// Completes the join: the successor is known.
    pub(super) fn joined(&mut self, now: Instant, owner: NodeRef<A>, replicas: &[NodeRef<A>]) {
        self.join_in_flight = false;
        let rejoined = std::mem::take(&mut self.rejoining);
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
        // Back from a partition: the ring may have taken newer puts for
        // this node's keys while it was alone.
        if rejoined && owner.addr != me.addr {
            self.resync(now);
        }
    }

    /// Remembers a node taken for dead, to ask it back after a partition.
    pub(super) fn remember_lost(&mut self, addr: A) {
        if addr == self.me().addr {
            return;
        }
        self.lost_peers.retain(|&a| a != addr);
        self.lost_peers.push_back(addr);
        while self.lost_peers.len() > REMEMBERED_PEERS {
            self.lost_peers.pop_front();
        }
    }

    /// A node with neither successor nor predecessor left (every node it
    /// knew timed out: a partition, or all of them died) is a ring of one;
    /// no other node knows it any more. It asks the nodes it lost, one per
    /// attempt, to look up its own id, as a join does; the first answer
    /// links it back in.
    pub(super) fn rejoin_when_alone(&mut self, now: Instant) {
        if self.join_in_flight || now < self.next_join_attempt || self.lost_peers.is_empty() {
            return;
        }
        self.next_join_attempt = now + self.config.stabilize_interval * 2;
        let Some(peer) = self.lost_peers.pop_front() else {
            return;
        };
        self.lost_peers.push_back(peer);
        let op = self.new_op();
        self.join_in_flight = true;
        self.rejoining = true;
        self.begin_join(now, op, peer);
    }
}
