//! A tournament tree (a segment tree of minima) over the backends: each
//! eligible backend holds a key, each inner node the smaller of its two
//! children's, so the least key overall is read at the root and changing one
//! backend's key costs one walk up the tree, O(log N).
//!
//! Keys are compared with the backend's index after them, so ties go to list
//! order exactly as the linear scans they replace do.

/// A leaf: a key and the backend's index; `None` for a backend not eligible.
type Entry<K> = Option<(K, u32)>;

/// The least (key, index) over a fixed number of slots, with point updates.
#[derive(Debug, Clone)]
pub struct Tournament<K> {
    /// Number of leaves, a power of two.
    width: usize,
    /// `nodes[1]` is the root; node `n` has children `2n` and `2n + 1`;
    /// leaves start at `width`.
    nodes: Vec<Entry<K>>,
}

fn smaller<K: Ord + Copy>(a: Entry<K>, b: Entry<K>) -> Entry<K> {
    match (a, b) {
        (Some(x), Some(y)) => Some(if y < x { y } else { x }),
        (x, None) => x,
        (None, y) => y,
    }
}

impl<K: Ord + Copy> Tournament<K> {
    /// A tree of `len` empty slots.
    pub fn new(len: usize) -> Self {
        let width = len.max(1).next_power_of_two();
        Self {
            width,
            nodes: vec![None; 2 * width],
        }
    }

    /// Sets (or clears) the key of slot `i`.
    pub fn set(&mut self, i: usize, key: Option<K>) {
        let mut node = self.width + i;
        self.nodes[node] = key.map(|k| (k, i as u32));
        while node > 1 {
            node /= 2;
            let best = smaller(self.nodes[2 * node], self.nodes[2 * node + 1]);
            if best == self.nodes[node] {
                break; // nothing above can change either
            }
            self.nodes[node] = best;
        }
    }

    /// The key of slot `i` (`None` for a slot out of range).
    pub fn get(&self, i: usize) -> Option<K> {
        let leaf = self.nodes.get(self.width + i)?;
        leaf.map(|(k, _)| k)
    }

    /// The slot with the least key (ties to the lower index).
    pub fn least(&self) -> Option<(K, usize)> {
        self.nodes[1].map(|(k, i)| (k, i as usize))
    }

    /// The slot with the least key among slots `from..to`.
    pub fn least_in(&self, from: usize, to: usize) -> Option<(K, usize)> {
        let (mut lo, mut hi) = (from + self.width, to.min(self.width) + self.width);
        let mut best = None;
        while lo < hi {
            if lo % 2 == 1 {
                best = smaller(best, self.nodes[lo]);
                lo += 1;
            }
            if hi % 2 == 1 {
                hi -= 1;
                best = smaller(best, self.nodes[hi]);
            }
            lo /= 2;
            hi /= 2;
        }
        best.map(|(k, i)| (k, i as usize))
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
    fn random_updates_agree_with_a_linear_minimum() {
        let mut rng = SplitMix64::new(5);
        for len in [1, 2, 3, 17, 300] {
            let mut tree = Tournament::new(len);
            let mut plain: Vec<Option<u64>> = vec![None; len];
            for _ in 0..20 * len {
                let i = rng.below(len as u64) as usize;
                let key = (rng.below(4) > 0).then(|| rng.below(10));
                tree.set(i, key);
                plain[i] = key;
                let from = rng.below(len as u64) as usize;
                let to = from + rng.below((len - from) as u64 + 1) as usize;
                let want = |range: std::ops::Range<usize>| {
                    range.filter_map(|k| plain[k].map(|v| (v, k))).min()
                };
                assert_eq!(tree.least(), want(0..len));
                assert_eq!(tree.least_in(from, to), want(from..to), "{from}..{to}");
            }
        }
    }
}
