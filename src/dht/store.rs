//! The keys a node holds, its own and its replicas, ordered by ring id so
//! that the keys of an interval can be handed to another node.

use std::collections::BTreeMap;

use super::id::{Id, Ring, in_half_open};
use super::message::Item;

/// Keys and values held by one node.
#[derive(Debug, Clone, Default)]
pub struct Store {
    entries: BTreeMap<(Id, String), Vec<u8>>,
}

impl Store {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores or replaces `key`.
    pub fn insert(&mut self, ring: Ring, key: String, value: Vec<u8>) {
        self.entries
            .insert((ring.key_id(key.as_bytes()), key), value);
    }

    /// The value of `key`.
    pub fn get(&self, ring: Ring, key: &str) -> Option<&Vec<u8>> {
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

    /// Copies of the items whose id lies in `(from, to]`.
    pub fn items_in(&self, from: Id, to: Id) -> Vec<Item> {
        self.entries
            .iter()
            .filter(|((id, _), _)| in_half_open(*id, from, to))
            .map(|((_, key), value)| Item {
                key: key.clone(),
                value: value.clone(),
            })
            .collect()
    }

    /// Copies of the items whose id lies outside `(from, to]`.
    pub fn items_outside(&self, from: Id, to: Id) -> Vec<Item> {
        self.entries
            .iter()
            .filter(|((id, _), _)| !in_half_open(*id, from, to))
            .map(|((_, key), value)| Item {
                key: key.clone(),
                value: value.clone(),
            })
            .collect()
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
        self.items_outside(0, 0)
            .into_iter()
            .chain(self.items_in(0, 0))
            .collect()
    }

    /// Whether `key` is held (for checks that do not need the value).
    pub fn contains(&self, ring: Ring, key: &str) -> bool {
        self.get(ring, key).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_of_an_interval_are_selected_by_key_id() {
        let ring = Ring::tiny(10);
        let mut store = Store::new();
        for i in 0..100 {
            store.insert(ring, format!("key-{i}"), vec![i]);
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
    fn insert_replaces_and_remove_reports_presence() {
        let ring = Ring::tiny(10);
        let mut store = Store::new();
        store.insert(ring, "k".into(), b"1".to_vec());
        store.insert(ring, "k".into(), b"2".to_vec());
        assert_eq!(store.len(), 1);
        assert_eq!(store.get(ring, "k").unwrap(), b"2");
        assert!(store.remove(ring, "k"));
        assert!(!store.remove(ring, "k"));
        assert!(store.is_empty());
    }
}
