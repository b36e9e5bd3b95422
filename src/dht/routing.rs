//! A node's view of the ring: predecessor, successor list and finger table,
//! and the routing choice made from them (closest preceding nodes).
//! Pure data: no messages, no time.

use super::id::{Id, Ring, in_half_open, in_open};
use super::message::NodeRef;

/// Predecessor, successors and fingers of one node.
#[derive(Debug, Clone)]
pub struct Routing<A> {
    me: NodeRef<A>,
    ring: Ring,
    max_successors: usize,
    predecessor: Option<NodeRef<A>>,
    /// Nearest first; never contains `me`. Empty means alone on the ring.
    successors: Vec<NodeRef<A>>,
    fingers: Vec<Option<NodeRef<A>>>,
}

impl<A: Copy + Eq> Routing<A> {
    /// The view of a node alone on its ring.
    pub fn new(me: NodeRef<A>, ring: Ring, max_successors: usize) -> Self {
        Self {
            me,
            ring,
            max_successors: max_successors.max(1),
            predecessor: None,
            successors: Vec::new(),
            fingers: vec![None; ring.bits() as usize],
        }
    }

    /// This node.
    pub fn me(&self) -> NodeRef<A> {
        self.me
    }

    /// The ring.
    pub fn ring(&self) -> Ring {
        self.ring
    }

    /// The immediate successor (this node when alone).
    pub fn successor(&self) -> NodeRef<A> {
        self.successors.first().copied().unwrap_or(self.me)
    }

    /// The successor list, nearest first (empty when alone).
    pub fn successors(&self) -> &[NodeRef<A>] {
        &self.successors
    }

    /// The predecessor, if known.
    pub fn predecessor(&self) -> Option<NodeRef<A>> {
        self.predecessor
    }

    /// Finger `i`, if known.
    pub fn finger(&self, i: usize) -> Option<NodeRef<A>> {
        self.fingers.get(i).copied().flatten()
    }

    /// Sets the predecessor.
    pub fn set_predecessor(&mut self, node: Option<NodeRef<A>>) {
        self.predecessor = node.filter(|n| n.addr != self.me.addr);
    }

    /// Replaces the successor list with `first` followed by `rest`, dropping
    /// this node and duplicates and stopping at the list's length.
    pub fn set_successors(&mut self, first: NodeRef<A>, rest: &[NodeRef<A>]) {
        let mut list: Vec<NodeRef<A>> = Vec::with_capacity(self.max_successors);
        for node in std::iter::once(&first).chain(rest) {
            if node.addr == self.me.addr {
                // The list wrapped around the ring back to us.
                break;
            }
            if list.iter().all(|n| n.addr != node.addr) {
                list.push(*node);
            }
            if list.len() == self.max_successors {
                break;
            }
        }
        self.successors = list;
    }

    /// True when `id` lies in `(predecessor, me]`; unknown predecessor: true
    /// only when alone.
    pub fn owns(&self, id: Id) -> bool {
        match self.predecessor {
            Some(pred) => in_half_open(id, pred.id, self.me.id),
            None => self.successors.is_empty(),
        }
    }

    /// Up to `count` known nodes strictly between this node and `target`,
    /// closest to the target first (the paper's closest_preceding_node,
    /// with runners-up to fall back on when the best one is dead).
    pub fn closest_preceding(&self, target: Id, count: usize) -> Vec<NodeRef<A>> {
        let mut found: Vec<NodeRef<A>> = Vec::new();
        let known = self.fingers.iter().flatten().chain(self.successors.iter());
        for node in known {
            if in_open(node.id, self.me.id, target) && found.iter().all(|n| n.addr != node.addr) {
                found.push(*node);
            }
        }
        let me = self.me.id;
        found.sort_by_key(|n| std::cmp::Reverse(self.ring.distance(me, n.id)));
        found.truncate(count);
        found
    }

    /// Records `node` as the successor of finger `i`'s start, and of every
    /// later start it also succeeds. Returns the next finger worth fixing.
    pub fn set_finger(&mut self, i: usize, node: NodeRef<A>) -> usize {
        let bits = self.fingers.len();
        let reach = self.ring.distance(self.me.id, node.id);
        let mut next = i;
        while next < bits {
            let start = self.ring.finger_start(self.me.id, next as u32);
            let gap = self.ring.distance(self.me.id, start);
            // A node at our own id (reach 0) succeeds nothing but our own id.
            if next > i && (reach == 0 || gap > reach) {
                break;
            }
            self.fingers[next] = Some(node).filter(|n| n.addr != self.me.addr);
            next += 1;
        }
        if next >= bits { 0 } else { next }
    }

    /// Forgets a node found dead, wherever it appears.
    pub fn forget(&mut self, addr: A) {
        if self.predecessor.is_some_and(|p| p.addr == addr) {
            self.predecessor = None;
        }
        self.successors.retain(|n| n.addr != addr);
        for finger in &mut self.fingers {
            if finger.is_some_and(|f| f.addr == addr) {
                *finger = None;
            }
        }
        if self.successors.is_empty() {
            // Fall back on the nearest node still known, so that a node whose
            // whole successor list died can still find its way back.
            let me = self.me.id;
            let nearest = self
                .fingers
                .iter()
                .flatten()
                .chain(self.predecessor.iter())
                .min_by_key(|n| self.ring.distance(me, n.id))
                .copied();
            if let Some(node) = nearest {
                self.successors.push(node);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: Id) -> NodeRef<u32> {
        NodeRef {
            id,
            addr: id as u32,
        }
    }

    /// The paper's example ring of 6 bits with nodes 1, 8, 14, 21, 32, 38, 42, 48, 51, 56.
    fn at_8() -> Routing<u32> {
        let ring = Ring::tiny(6);
        let mut routing = Routing::new(node(8), ring, 3);
        routing.set_successors(node(14), &[node(21), node(32)]);
        routing.set_predecessor(Some(node(1)));
        for (i, succ) in [14, 14, 14, 21, 32, 42].into_iter().enumerate() {
            routing.set_finger(i, node(succ));
        }
        routing
    }

    #[test]
    fn closest_preceding_follows_the_papers_example() {
        let routing = at_8();
        let best: Vec<Id> = routing
            .closest_preceding(54, 3)
            .iter()
            .map(|n| n.id)
            .collect();
        assert_eq!(best, vec![42, 32, 21]);
        assert!(routing.closest_preceding(14, 3).is_empty());
        assert_eq!(routing.closest_preceding(15, 1)[0].id, 14);
    }

    #[test]
    fn setting_a_finger_fills_every_later_start_it_succeeds() {
        let ring = Ring::tiny(6);
        let mut routing = Routing::new(node(8), ring, 3);
        // Starts: 9, 10, 12, 16, 24, 40. Node 14 succeeds 9, 10 and 12.
        assert_eq!(routing.set_finger(0, node(14)), 3);
        assert_eq!(routing.finger(2).unwrap().id, 14);
        assert!(routing.finger(3).is_none());
        assert_eq!(routing.set_finger(3, node(21)), 4);
        assert_eq!(routing.set_finger(5, node(42)), 0);
    }

    #[test]
    fn successor_list_stops_where_it_wraps_back_to_this_node() {
        let ring = Ring::tiny(6);
        let mut routing = Routing::new(node(8), ring, 5);
        routing.set_successors(node(14), &[node(21), node(8), node(14)]);
        let ids: Vec<Id> = routing.successors().iter().map(|n| n.id).collect();
        assert_eq!(ids, vec![14, 21]);
    }

    #[test]
    fn a_forgotten_successor_is_replaced_by_the_next_in_the_list() {
        let mut routing = at_8();
        routing.forget(14);
        assert_eq!(routing.successor().id, 21);
        assert!(routing.finger(0).is_none());
        routing.forget(21);
        routing.forget(32);
        assert_eq!(
            routing.successor().id,
            42,
            "falls back on the nearest finger"
        );
    }

    #[test]
    fn ownership_is_the_interval_from_the_predecessor() {
        let routing = at_8();
        assert!(routing.owns(8));
        assert!(routing.owns(2));
        assert!(!routing.owns(1));
        assert!(!routing.owns(9));
        let alone = Routing::new(node(8), Ring::tiny(6), 3);
        assert!(alone.owns(40));
    }
}
