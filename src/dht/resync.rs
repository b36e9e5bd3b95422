//! Keeping a node's copies right: the resynchronisation of a node that was
//! paused (its process stopped, its host frozen) and the dropping of copies
//! a node should no longer hold.
//!
//! A paused node's peers take it for dead after `request_attempts ×
//! request_timeout` and let its successor accept puts for its keys. When it
//! runs again it must not answer with, nor push, the values it missed: it
//! notices the gap in the times passed in, pulls the items of its interval
//! from its replicas (each kept only when newer) and, until every pull is
//! done, answers `Unavailable` for its keys so that readers and writers go
//! to the next replica.
//!
//! Copies outside a node's own interval are kept while some node keeps
//! storing them (owners push to their replicas every refresh interval);
//! those nobody stored for `copy_lease` are dropped, which is how the
//! copies made while the ring was changing go away.
//!
//! It owns no state besides the count of pulls on the node.

use std::time::Instant;

use super::config::MAX_ITEM_BYTES_PER_MESSAGE;
use super::id::Id;
use super::message::{Body, Item};
use super::node::{Address, Node, Purpose};
use super::store::Merge;

impl<A: Address> Node<A> {
    /// Starts pulling this node's interval from its replicas.
    pub(super) fn resync(&mut self, now: Instant) {
        let me = self.me();
        // Unknown predecessor: pull everything they hold, to be safe.
        let from = self.routing.predecessor().map_or(me.id, |p| p.id);
        let targets = self.replica_targets();
        for to in targets {
            self.pull(now, to, from, me.id, None);
            self.resync_pulls += 1;
        }
    }

    fn pull(&mut self, now: Instant, to: A, from: Id, until: Id, after: Option<String>) {
        let body = Body::Pull {
            from,
            to: until,
            after,
        };
        self.request(now, to, body, Purpose::Resync);
    }

    /// The answer to one pull: keep the newer items, and ask for the next
    /// page while there is one.
    pub(super) fn on_pulled(&mut self, now: Instant, to: A, asked: &Body<A>, answer: Body<A>) {
        let (
            Body::Pull {
                from, to: until, ..
            },
            Body::Pulled { items, more },
        ) = (asked, answer)
        else {
            self.resync_pulls = self.resync_pulls.saturating_sub(1);
            return;
        };
        let last = items.last().map(|i| i.key.clone());
        self.merge_items(now, items);
        match last {
            Some(after) if more => self.pull(now, to, *from, *until, Some(after)),
            _ => self.resync_pulls = self.resync_pulls.saturating_sub(1),
        }
    }

    /// A pull that was never answered: that replica is left out.
    pub(super) fn on_pull_timeout(&mut self) {
        self.resync_pulls = self.resync_pulls.saturating_sub(1);
    }

    /// Stores copies, each only if newer; returns the newer items held here
    /// in their place, up to what one message carries.
    pub(super) fn merge_items(&mut self, now: Instant, items: Vec<Item>) -> Vec<Item> {
        let ring = self.config.ring;
        let mut newer = Vec::new();
        let mut bytes = 0;
        for item in items {
            if let Merge::Kept(held) = self.store.merge(ring, item, now) {
                let size = held.key.len() + held.value.len();
                if bytes + size <= MAX_ITEM_BYTES_PER_MESSAGE {
                    bytes += size;
                    newer.push(held);
                }
            }
        }
        newer
    }

    /// Drops the copies outside this node's interval that nobody stored for
    /// a lease. Skipped while the interval is unknown or being resynchronised.
    pub(super) fn drop_stale_copies(&mut self, now: Instant) {
        let Some(pred) = self.routing.predecessor() else {
            return;
        };
        if self.is_resyncing() {
            return;
        }
        if let Some(since) = now.checked_sub(self.config.copy_lease()) {
            self.store.drop_unrefreshed(pred.id, self.me().id, since);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::dht::message::{Message, Version};
    use crate::dht::node::test_ring::{config, me};

    fn item(key: &str, value: &str, counter: u64) -> Item {
        Item {
            key: key.into(),
            value: value.as_bytes().to_vec(),
            version: Version {
                counter,
                writer: 200,
            },
            pickle: false,
        }
    }

    const PRED: Id = 10_000;
    const ME: Id = 30_000;
    const SUCC: Id = 40_000;
    const SUCC2: Id = 50_000;

    /// Node 30000 after 10000 and before 40000, 50000, 60000.
    fn linked_node(start: Instant) -> Node<u32> {
        let mut node = Node::create(config(), me(ME), start);
        node.routing.set_predecessor(Some(me(PRED)));
        node.routing
            .set_successors(me(SUCC), &[me(SUCC2), me(60_000)]);
        node
    }

    /// Runs the node from `from` to `until`, ticking every 50 ms, with its
    /// neighbours answering as a settled ring would; `between` runs at each
    /// tick and may send it requests.
    fn run(
        node: &mut Node<u32>,
        from: Instant,
        until: Instant,
        mut between: impl FnMut(&mut Node<u32>, Instant),
    ) {
        let mut now = from;
        while now < until {
            now += Duration::from_millis(50);
            let mut out = node.tick(now);
            between(node, now);
            while let Some((to, sent)) = out.pop() {
                let answer = match sent.body {
                    Body::GetNeighbors => Body::Neighbors {
                        node: me(SUCC),
                        predecessor: Some(me(ME)),
                        successors: vec![me(SUCC2), me(60_000)],
                        stored: 0,
                        owned: 0,
                    },
                    Body::FindSuccessor { .. } => Body::Owner {
                        owner: me(SUCC),
                        replicas: vec![me(SUCC), me(SUCC2)],
                    },
                    _ => Body::Ack,
                };
                out.extend(node.handle(now, to, request(sent.id, answer)));
            }
        }
    }

    /// A key the node owns, and keys it holds only as copies.
    fn keys() -> (String, Vec<String>) {
        let ring = config().ring;
        let owned = |k: &String| crate::dht::id::in_half_open(ring.key_id(k.as_bytes()), PRED, ME);
        let all: Vec<String> = (0..100).map(|i| format!("key-{i}")).collect();
        let mine = all.iter().find(|k| owned(k)).expect("a key owned").clone();
        let copies = all.into_iter().filter(|k| !owned(k)).collect();
        (mine, copies)
    }

    fn request(id: u64, body: Body<u32>) -> Message<u32> {
        Message { id, body }
    }

    #[test]
    fn after_a_pause_the_node_pulls_its_interval_and_answers_for_no_key_until_done() {
        let start = Instant::now();
        let mut node = linked_node(start);
        let put = Body::Store {
            items: vec![item("k", "old", 0)],
            replicate: true,
        };
        node.handle(start, 9, request(1, put));

        let back = start + config().pause_threshold() + Duration::from_millis(1);
        let out = node.handle(back, 9, request(2, Body::Fetch { key: "k".into() }));
        assert!(node.is_resyncing());
        let pulls: Vec<(u32, u64)> = out
            .iter()
            .filter(|(_, m)| {
                m.body
                    == Body::Pull {
                        from: PRED,
                        to: ME,
                        after: None,
                    }
            })
            .map(|(to, m)| (*to, m.id))
            .collect();
        assert_eq!(
            pulls.iter().map(|p| p.0).collect::<Vec<_>>(),
            vec![SUCC as u32, SUCC2 as u32],
            "from the replicas"
        );
        assert!(out.contains(&(9, request(2, Body::Unavailable))));
        let put_again = Body::Store {
            items: vec![item("k", "mine", 0)],
            replicate: true,
        };
        let out = node.handle(back, 9, request(3, put_again));
        assert_eq!(out, vec![(9, request(3, Body::Unavailable))]);

        // The successor took a newer put while this node was paused.
        let newer = Body::Pulled {
            items: vec![item("k", "new", 7)],
            more: false,
        };
        node.handle(back, SUCC as u32, request(pulls[0].1, newer));
        assert!(node.is_resyncing(), "one replica still to hear from");
        let empty = Body::Pulled {
            items: Vec::new(),
            more: false,
        };
        node.handle(back, SUCC2 as u32, request(pulls[1].1, empty));
        assert!(!node.is_resyncing());
        let out = node.handle(back, 9, request(4, Body::Fetch { key: "k".into() }));
        assert_eq!(
            out,
            vec![(
                9,
                request(
                    4,
                    Body::Fetched {
                        value: Some(b"new".to_vec()),
                        pickle: false,
                    }
                )
            )]
        );
    }

    #[test]
    fn a_pull_pages_until_the_replica_says_no_more() {
        let start = Instant::now();
        let mut node = linked_node(start);
        let back = start + config().pause_threshold() * 2;
        let out = node.tick(back);
        let first = out
            .iter()
            .find(|(to, m)| *to == SUCC as u32 && matches!(m.body, Body::Pull { .. }))
            .unwrap()
            .1
            .id;
        let page = Body::Pulled {
            items: vec![item("a", "1", 3)],
            more: true,
        };
        let out = node.handle(back, SUCC as u32, request(first, page));
        assert!(matches!(
            &out[..],
            [(40_000, Message { body: Body::Pull { after: Some(after), .. }, .. })] if after == "a"
        ));
        assert!(node.is_resyncing());
    }

    #[test]
    fn a_short_silence_is_no_pause() {
        let start = Instant::now();
        let mut node = linked_node(start);
        node.tick(start + config().pause_threshold());
        assert!(!node.is_resyncing());
    }

    #[test]
    fn an_older_copy_is_answered_with_the_newer_one_which_the_sender_keeps() {
        let start = Instant::now();
        let ring = config().ring;
        let (k, _) = keys();
        let store = |i: Item| Body::Store {
            items: vec![i],
            replicate: false,
        };
        let mut holder = linked_node(start);
        holder.handle(start, 9, request(1, store(item(&k, "new", 7))));
        let out = holder.handle(start, 9, request(2, store(item(&k, "old", 3))));
        let newer = Body::Newer {
            items: vec![item(&k, "new", 7)],
        };
        assert_eq!(out, vec![(9, request(2, newer.clone()))]);
        assert_eq!(holder.store().get(ring, &k).unwrap(), b"new");

        // The stale owner, pushing its keys to its replicas, takes the
        // newer value back.
        let mut stale = linked_node(start);
        stale.handle(start, 9, request(1, store(item(&k, "old", 3))));
        let pushes = stale.tick(start + Duration::from_millis(50));
        let (to, push) = pushes
            .iter()
            .find(|(_, m)| matches!(&m.body, Body::Store { items, .. } if items[0].key == k))
            .expect("the owned key is pushed");
        stale.handle(start, *to, request(push.id, newer));
        assert_eq!(stale.store().get(ring, &k).unwrap(), b"new");
    }

    #[test]
    fn copies_nobody_refreshes_are_dropped_after_the_lease_and_owned_keys_never() {
        let start = Instant::now();
        let ring = config().ring;
        let mut node = linked_node(start);
        let (mine, copies) = keys();
        for k in copies.iter().take(2).chain([&mine]) {
            let body = Body::Store {
                items: vec![item(k, "v", 1)],
                replicate: false,
            };
            node.handle(start, 9, request(1, body));
        }
        // One copy is stored again later, as its owner's periodic push does.
        let lease = config().copy_lease();
        run(&mut node, start, start + lease * 2, |node, now| {
            if now == start + lease / 2 || now == start + lease {
                let body = Body::Store {
                    items: vec![item(&copies[1], "v", 1)],
                    replicate: false,
                };
                node.handle(now, 9, request(2, body));
            }
        });
        assert!(node.store().contains(ring, &mine), "owned keys stay");
        assert!(
            !node.store().contains(ring, &copies[0]),
            "an unrefreshed copy goes"
        );
        assert!(
            node.store().contains(ring, &copies[1]),
            "a refreshed copy stays"
        );
    }
}
