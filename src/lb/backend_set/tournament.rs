//! A tournament tree (a segment tree of minima) over the backends: each
//! eligible backend holds a key, each inner node the smaller of its two
//! children's, so the least key overall is read at the root and changing one
//! backend's key costs one walk up the tree, O(log N).
//!
//! A key is a number below 2^96 (each strategy orders its backends by one,
//! see `super::index`); a node holds it with the backend's index in the low
//! 32 bits, as one `u128`. Ties thus go to list order exactly as the linear
//! scans the tree replaces do, and a step of the walk is one comparison of
//! two integers (16 bytes a node: the tree of 10,000 backends is 512 KiB).

/// A backend's key: smaller is chosen first; below [`KEY_LIMIT`].
pub type Key = u128;
/// Keys are below this.
pub const KEY_LIMIT: Key = 1 << 96;
/// A slot without a key (no index reaches `u32::MAX`).
const EMPTY: u128 = u128::MAX;

/// The key made of a major and a minor part, compared in that order.
pub fn key(major: u64, minor: u32) -> Key {
    (u128::from(major) << 32) | u128::from(minor)
}

/// The least (key, index) over a fixed number of slots, with point updates.
#[derive(Debug, Clone)]
pub struct Tournament {
    /// Number of leaves, a power of two.
    width: usize,
    /// `nodes[1]` is the root; node `n` has children `2n` and `2n + 1`;
    /// leaves start at `width`. Each holds `key << 32 | index`, or `EMPTY`.
    nodes: Vec<u128>,
}

/// A node's (key, index), `None` for an empty one.
fn unpack(node: u128) -> Option<(Key, usize)> {
    (node != EMPTY).then_some((node >> 32, (node & u128::from(u32::MAX)) as usize))
}

impl Tournament {
    /// A tree of `len` empty slots.
    pub fn new(len: usize) -> Self {
        assert!(len < u32::MAX as usize, "a tournament of {len} slots");
        let width = len.max(1).next_power_of_two();
        Self {
            width,
            nodes: vec![EMPTY; 2 * width],
        }
    }

    /// Sets (or clears) the key of slot `i`.
    pub fn set(&mut self, i: usize, key: Option<Key>) {
        let mut node = self.width + i;
        // The winner of the subtree walked so far stays in a register: each
        // step reads the sibling (whose load does not wait on the step
        // before) instead of re-reading the node just written.
        let mut best = key.map_or(EMPTY, |k| {
            debug_assert!(k < KEY_LIMIT);
            (k << 32) | i as u128
        });
        self.nodes[node] = best;
        while node > 1 {
            best = best.min(self.nodes[node ^ 1]);
            node /= 2;
            if best == self.nodes[node] {
                break; // nothing above can change either
            }
            self.nodes[node] = best;
        }
    }

    /// The key of slot `i` (`None` for a slot out of range).
    pub fn get(&self, i: usize) -> Option<Key> {
        let leaf = *self.nodes.get(self.width + i)?;
        unpack(leaf).map(|(k, _)| k)
    }

    /// The slot with the least key (ties to the lower index).
    pub fn least(&self) -> Option<(Key, usize)> {
        unpack(self.nodes[1])
    }

    /// The first slot at or after `from` whose key is at most `key`: a walk
    /// up from `from` to the first subtree on its right that holds such a
    /// key, and down that subtree's left edge. O(log N), and a few steps when
    /// the slot is near `from` (as least-load's next slot among equals is).
    pub fn first_at_most(&self, from: usize, key: Key) -> Option<usize> {
        if from >= self.width {
            return None;
        }
        let fits = |node: usize| self.nodes[node] != EMPTY && self.nodes[node] >> 32 <= key;
        let mut node = self.width + from;
        while !fits(node) {
            // On to the subtree right after this one: climb while this is a
            // right child, then step to the right sibling.
            while node % 2 == 1 {
                node /= 2;
            }
            if node == 0 {
                return None; // climbed past the root: nothing to the right
            }
            node += 1;
        }
        while node < self.width {
            node = if fits(2 * node) {
                2 * node
            } else {
                2 * node + 1
            };
        }
        Some(node - self.width)
    }

    /// The slot with the least key among slots `from..to`.
    #[cfg(test)]
    pub fn least_in(&self, from: usize, to: usize) -> Option<(Key, usize)> {
        let (mut lo, mut hi) = (from + self.width, to.min(self.width) + self.width);
        let mut best = EMPTY;
        while lo < hi {
            if lo % 2 == 1 {
                best = best.min(self.nodes[lo]);
                lo += 1;
            }
            if hi % 2 == 1 {
                hi -= 1;
                best = best.min(self.nodes[hi]);
            }
            lo /= 2;
            hi /= 2;
        }
        unpack(best)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lb::strategy::random::SplitMix64;

    #[test]
    fn the_least_key_wins_and_ties_go_to_the_lower_index() {
        let mut tree = Tournament::new(5);
        assert_eq!(tree.least(), None);
        for (i, k) in [(0, 7), (1, 3), (2, 9), (3, 3), (4, 5)] {
            tree.set(i, Some(k));
        }
        assert_eq!(tree.least(), Some((3, 1)));
        tree.set(1, None);
        assert_eq!(tree.least(), Some((3, 3)));
        assert_eq!(tree.least_in(4, 5), Some((5, 4)));
        assert_eq!(tree.least_in(0, 3), Some((7, 0)));
        assert_eq!(tree.get(1), None);
    }

    #[test]
    fn keys_order_by_major_part_then_minor_part_up_to_the_limit() {
        let mut tree = Tournament::new(4);
        tree.set(0, Some(key(u64::MAX, u32::MAX)));
        tree.set(1, Some(key(u64::MAX, 7)));
        tree.set(2, Some(key(u64::MAX - 1, u32::MAX)));
        assert_eq!(key(u64::MAX, u32::MAX), KEY_LIMIT - 1);
        assert_eq!(tree.least(), Some((key(u64::MAX - 1, u32::MAX), 2)));
        tree.set(2, None);
        assert_eq!(tree.least(), Some((key(u64::MAX, 7), 1)));
        assert_eq!(tree.get(0), Some(KEY_LIMIT - 1));
        tree.set(1, None);
        assert_eq!(tree.least(), Some((KEY_LIMIT - 1, 0)));
    }

    #[test]
    fn random_updates_agree_with_a_linear_minimum() {
        let mut rng = SplitMix64::new(5);
        for len in [1, 2, 3, 17, 300] {
            let mut tree = Tournament::new(len);
            let mut plain: Vec<Option<Key>> = vec![None; len];
            for _ in 0..20 * len {
                let i = rng.below(len as u64) as usize;
                let key = (rng.below(4) > 0).then(|| Key::from(rng.below(10)));
                tree.set(i, key);
                plain[i] = key;
                let from = rng.below(len as u64) as usize;
                let to = from + rng.below((len - from) as u64 + 1) as usize;
                let want = |range: std::ops::Range<usize>| {
                    range.filter_map(|k| plain[k].map(|v| (v, k))).min()
                };
                assert_eq!(tree.least(), want(0..len));
                assert_eq!(tree.least_in(from, to), want(from..to), "{from}..{to}");
                let most = Key::from(rng.below(10));
                let first = (from..len).find(|&k| plain[k].is_some_and(|v| v <= most));
                assert_eq!(tree.first_at_most(from, most), first, "{from}, {most}");
            }
        }
    }
}
