//! The keys a node holds, its own and its replicas, ordered by ring id so
//! that the keys of an interval can be handed to another node.
//!
//! Every value carries a [`Version`]; storing a copy keeps whichever version
//! is newer, so a late or stale copy never replaces a newer value. The store
//! also keeps the node's Lamport counter (above every version it has seen),
//! from which the node versions the puts it accepts as owner, and when each
//! copy was last sent here, so that copies no owner refreshes any more can be
//! dropped.

use std::collections::BTreeMap;
use std::time::Instant;

use super::id::{Id, Ring, in_half_open};
use super::message::{Item, Version};

/// One held value.
#[derive(Debug, Clone)]
struct Entry {
    value: Vec<u8>,
    version: Version,
    pickle: bool,
    /// When a node last stored this key here (any version).
    refreshed: Instant,
}

/// What storing a copy did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Merge {
    /// The copy was newer (or the key new): it is stored.
    Stored,
    /// The same version was held already.
    Same,
    /// A newer version is held: here it is.
    Kept(Item),
}

/// Keys and values held by one node.
#[derive(Debug, Clone, Default)]
pub struct Store {
    entries: BTreeMap<(Id, String), Entry>,
    /// Above the counter of every version stored or issued here.
    clock: u64,
}

impl Store {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores `item` as the key's owner: with a version newer than any this
    /// store has seen, written by `writer`. Returns the item so versioned.
    pub fn put_as_owner(&mut self, ring: Ring, mut item: Item, writer: Id, now: Instant) -> Item {
        self.clock += 1;
        item.version = Version {
            counter: self.clock,
            writer,
        };
        self.merge(ring, item.clone(), now);
        item
    }

    /// Stores a copy unless a newer version is held; either way the key
    /// counts as refreshed at `now`.
    pub fn merge(&mut self, ring: Ring, item: Item, now: Instant) -> Merge {
        self.clock = self.clock.max(item.version.counter);
        let slot = (ring.key_id(item.key.as_bytes()), item.key);
        match self.entries.get_mut(&slot) {
            Some(held) if held.version > item.version => {
                held.refreshed = now;
                Merge::Kept(Item {
                    key: slot.1,
                    value: held.value.clone(),
                    version: held.version,
                    pickle: held.pickle,
                })
            }
            Some(held) if held.version == item.version => {
                held.refreshed = now;
                Merge::Same
            }
            _ => {
                self.entries.insert(
                    slot,
                    Entry {
                        value: item.value,
                        version: item.version,
                        pickle: item.pickle,
                        refreshed: now,
                    },
                );
                Merge::Stored
            }
        }
    }

    /// The value of `key`.
    pub fn get(&self, ring: Ring, key: &str) -> Option<&Vec<u8>> {
        self.entry(ring, key).map(|e| &e.value)
    }

    /// Whether `key`'s value is a pickle (see [`Item::pickle`]).
    pub fn is_pickle(&self, ring: Ring, key: &str) -> bool {
        self.entry(ring, key).is_some_and(|e| e.pickle)
    }

    /// The version of `key`'s value.
    pub fn version(&self, ring: Ring, key: &str) -> Option<Version> {
        self.entry(ring, key).map(|e| e.version)
    }

    fn entry(&self, ring: Ring, key: &str) -> Option<&Entry> {
        self.entries
            .get(&(ring.key_id(key.as_bytes()), key.to_string()))
    }

    /// Removes `key`; true when it was there.
    pub fn remove(&mut self, ring: Ring, key: &str) -> bool {
        self.entries
            .remove(&(ring.key_id(key.as_bytes()), key.to_string()))
            .is_some()
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no key is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn entry_item(((_, key), entry): (&(Id, String), &Entry)) -> Item {
        Self::item(key, entry)
    }

    fn item(key: &str, entry: &Entry) -> Item {
        Item {
            key: key.to_string(),
            value: entry.value.clone(),
            version: entry.version,
            pickle: entry.pickle,
        }
    }

    /// Copies of the items whose id lies in `(from, to]`.
    pub fn items_in(&self, from: Id, to: Id) -> Vec<Item> {
        self.entries
            .iter()
            .filter(|((id, _), _)| in_half_open(*id, from, to))
            .map(Self::entry_item)
            .collect()
    }

    /// Copies of the items whose id lies outside `(from, to]`.
    pub fn items_outside(&self, from: Id, to: Id) -> Vec<Item> {
        self.entries
            .iter()
            .filter(|((id, _), _)| !in_half_open(*id, from, to))
            .map(Self::entry_item)
            .collect()
    }

    /// The items of `(from, to]` that come after the item of key `after`
    /// (from the start of the interval when `None`), in ring order from
    /// `from`, up to `max_bytes` of keys and values (at least one item).
    /// The flag is true when more items follow.
    pub fn items_after(
        &self,
        ring: Ring,
        from: Id,
        to: Id,
        after: Option<&str>,
        max_bytes: usize,
    ) -> (Vec<Item>, bool) {
        // Ring order from `from`: by distance, then key.
        let mut selected: Vec<(Id, &String, &Entry)> = self
            .entries
            .iter()
            .filter(|((id, _), _)| in_half_open(*id, from, to))
            .map(|((id, key), entry)| (ring.distance(from, *id), key, entry))
            .collect();
        selected.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        let start = match after {
            None => 0,
            Some(key) => {
                let cursor = (ring.distance(from, ring.key_id(key.as_bytes())), key);
                selected.partition_point(|(d, k, _)| (*d, k.as_str()) <= (cursor.0, cursor.1))
            }
        };
        let mut items = Vec::new();
        let mut bytes = 0;
        for &(_, key, entry) in &selected[start..] {
            let size = key.len() + entry.value.len();
            if !items.is_empty() && bytes + size > max_bytes {
                return (items, true);
            }
            bytes += size;
            items.push(Self::item(key, entry));
        }
        (items, false)
    }

    /// How many items have an id in `(from, to]`.
    pub fn count_in(&self, from: Id, to: Id) -> usize {
        self.entries
            .keys()
            .filter(|(id, _)| in_half_open(*id, from, to))
            .count()
    }

    /// Every item.
    pub fn all(&self) -> Vec<Item> {
        self.entries.iter().map(Self::entry_item).collect()
    }

    /// Whether `key` is held (for checks that do not need the value).
    pub fn contains(&self, ring: Ring, key: &str) -> bool {
        self.get(ring, key).is_some()
    }

    /// Drops the copies outside `(from, to]` (the interval this node owns)
    /// that no node stored here since `since`; returns how many.
    pub fn drop_unrefreshed(&mut self, from: Id, to: Id, since: Instant) -> usize {
        let before = self.entries.len();
        self.entries
            .retain(|(id, _), entry| in_half_open(*id, from, to) || entry.refreshed >= since);
        before - self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn copy(key: &str, value: &str, counter: u64) -> Item {
        Item {
            key: key.into(),
            value: value.as_bytes().to_vec(),
            version: Version { counter, writer: 1 },
            pickle: false,
        }
    }

    fn owned(key: &str, value: &[u8]) -> Item {
        Item {
            key: key.into(),
            value: value.to_vec(),
            version: Version::default(),
            pickle: false,
        }
    }

    #[test]
    fn items_of_an_interval_are_selected_by_key_id() {
        let ring = Ring::tiny(10);
        let now = Instant::now();
        let mut store = Store::new();
        for i in 0..100 {
            store.put_as_owner(ring, owned(&format!("key-{i}"), &[i]), 1, now);
        }
        let (a, b) = (100, 700);
        let inside = store.items_in(a, b);
        let outside = store.items_outside(a, b);
        assert_eq!(inside.len() + outside.len(), 100);
        assert_eq!(store.count_in(a, b), inside.len());
        assert!(
            inside
                .iter()
                .all(|i| in_half_open(ring.key_id(i.key.as_bytes()), a, b))
        );
        assert_eq!(store.all().len(), 100);
    }

    #[test]
    fn an_owner_put_replaces_and_remove_reports_presence() {
        let ring = Ring::tiny(10);
        let now = Instant::now();
        let mut store = Store::new();
        let first = store.put_as_owner(ring, owned("k", b"1"), 7, now);
        let second = store.put_as_owner(ring, owned("k", b"2"), 7, now);
        assert!(second.version > first.version);
        assert_eq!(store.len(), 1);
        assert_eq!(store.get(ring, "k").unwrap(), b"2");
        assert!(store.remove(ring, "k"));
        assert!(!store.remove(ring, "k"));
        assert!(store.is_empty());
    }

    #[test]
    fn an_older_copy_never_replaces_a_newer_value() {
        let ring = Ring::tiny(10);
        let now = Instant::now();
        let mut store = Store::new();
        assert_eq!(store.merge(ring, copy("k", "new", 5), now), Merge::Stored);
        assert_eq!(
            store.merge(ring, copy("k", "old", 4), now),
            Merge::Kept(copy("k", "new", 5))
        );
        assert_eq!(store.merge(ring, copy("k", "new", 5), now), Merge::Same);
        assert_eq!(store.get(ring, "k").unwrap(), b"new");
        assert_eq!(store.merge(ring, copy("k", "newer", 6), now), Merge::Stored);
        assert_eq!(store.get(ring, "k").unwrap(), b"newer");
    }

    #[test]
    fn owner_versions_exceed_every_version_seen() {
        let ring = Ring::tiny(10);
        let now = Instant::now();
        let mut store = Store::new();
        store.merge(ring, copy("other", "x", 41), now);
        let item = store.put_as_owner(ring, owned("k", b"v"), 9, now);
        assert_eq!(
            item.version,
            Version {
                counter: 42,
                writer: 9
            }
        );
    }

    #[test]
    fn equal_counters_are_ordered_by_writer() {
        let a = Version {
            counter: 3,
            writer: 1,
        };
        let b = Version {
            counter: 3,
            writer: 2,
        };
        assert!(b > a);
    }

    #[test]
    fn pulls_page_through_an_interval_in_ring_order() {
        let ring = Ring::tiny(10);
        let now = Instant::now();
        let mut store = Store::new();
        for i in 0..50 {
            store.put_as_owner(ring, owned(&format!("key-{i}"), &[0; 10]), 1, now);
        }
        let (from, to) = (900, 300);
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let (items, more) = store.items_after(ring, from, to, after.as_deref(), 64);
            assert!(!items.is_empty() && items.len() <= 4);
            after = Some(items.last().unwrap().key.clone());
            seen.extend(items);
            if !more {
                break;
            }
        }
        assert_eq!(seen.len(), store.count_in(from, to));
        let distances: Vec<u64> = seen
            .iter()
            .map(|i| ring.distance(from, ring.key_id(i.key.as_bytes())))
            .collect();
        assert!(distances.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn only_unrefreshed_copies_outside_the_owned_interval_are_dropped() {
        let ring = Ring::tiny(10);
        let start = Instant::now();
        let later = start + Duration::from_secs(10);
        let mut store = Store::new();
        for i in 0..100 {
            store.merge(ring, copy(&format!("key-{i}"), "v", 1), start);
        }
        store.merge(ring, copy("key-0", "v", 1), later);
        let owned = store.count_in(100, 700);
        let refreshed_outside = usize::from(!in_half_open(ring.key_id(b"key-0"), 100, 700));
        let dropped = store.drop_unrefreshed(100, 700, later);
        assert_eq!(dropped, 100 - owned - refreshed_outside);
        assert_eq!(store.len(), owned + refreshed_outside);
        assert!(store.contains(ring, "key-0"));
    }
}
