//! A consistent-hash ring with virtual nodes.
//!
//! Each backend owns [`POINTS_PER_WEIGHT`] points per unit of weight, placed by
//! hashing its *name* (not its index, which a reload may change). A key belongs
//! to the first point at or after its hash, going round. When a backend is
//! unavailable the backend set walks on to the next point, so only that backend's
//! keys move; when it is removed its points vanish, with the same effect.

use super::hash::{hash_key, mix};

/// Virtual nodes per unit of weight: enough for an even spread (the share of
/// each backend varies by about 1/sqrt(160), 8%).
pub const POINTS_PER_WEIGHT: usize = 160;
/// At most this many points in one ring (1 MiB, and 64 KiB of slice
/// starts): large pools get fewer points per unit of weight, at least one.
/// A lookup reads a slice start and a point at random places in the ring, so
/// its cost is set by where the ring sits in the cache: a ring of 2^18 points
/// (4 MiB, from about 1,600 units of weight on) made a pick over 10,000
/// backends four times as costly as over 4. With 10,000 backends of weight
/// 1 to 4 each unit of weight gets 2 points (10 with the larger ring), so
/// the backends' shares spread wider, by about `1 / sqrt(points)`: 70% for a
/// backend of weight 1 instead of 30%. The keys a backend loses when it goes
/// are still only its own.
pub const MAX_POINTS: usize = 1 << 16;

/// Points of backends sorted by hash.
#[derive(Debug, Clone, Default)]
pub struct HashRing {
    /// Per point, in order: the 32 bits of its hash below the slice bits,
    /// and its owner. Within a slice these bits order the points as their
    /// hashes do, so a lookup reads 8 bytes a point (one line for a slice
    /// of 4 to 8) and finds the owner beside them; 16-byte points (800 KiB
    /// at 10,000 backends) no longer fit in the core's cache.
    points: Vec<(u32, u32)>,
    /// The points' full hashes, in the same order: read only when a key's 32
    /// bits equal a point's.
    hashes: Vec<u64>,
    /// The hash space cut into slices of 4 to 8 points on average, by the
    /// top bits of a hash: `starts[s]` is the first point of slice `s`. A
    /// lookup searches one slice (a cache line or two) instead of the whole
    /// ring, which is a cache miss per step; the table is small enough (64
    /// KiB at most with [`MAX_POINTS`]) to stay in the cache.
    starts: Vec<u32>,
    /// Bits of a hash below its slice number.
    shift: u32,
}

/// At most 2^20 slices (4 MiB of starts).
const MAX_SLICE_BITS: u32 = 20;
/// Slices hold 2^2 to 2^3 points on average.
const POINTS_PER_SLICE_BITS: u32 = 2;

impl HashRing {
    /// A ring of `backends` given as (index, name, weight); weight 0 owns no point.
    pub fn new<'a>(backends: impl Iterator<Item = (usize, &'a str, u16)> + Clone) -> Self {
        let total_weight: usize = backends.clone().map(|(_, _, w)| usize::from(w)).sum();
        let per_weight = (MAX_POINTS / total_weight.max(1)).clamp(1, POINTS_PER_WEIGHT);
        let mut points = Vec::with_capacity(total_weight * per_weight);
        for (index, name, weight) in backends {
            let base = hash_key(name.as_bytes());
            for k in 0..usize::from(weight) * per_weight {
                let point = mix(base ^ (k as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
                points.push((point, index as u32));
            }
        }
        points.sort_unstable();
        let bits = points
            .len()
            .max(1)
            .ilog2()
            .saturating_sub(POINTS_PER_SLICE_BITS)
            .min(MAX_SLICE_BITS);
        let shift = 64 - bits;
        let slice_of = |hash: u64| hash.checked_shr(shift).unwrap_or(0);
        let mut starts = Vec::with_capacity((1 << bits) + 1);
        let mut at = 0;
        for slice in 0..=(1u64 << bits) {
            while at < points.len() && slice_of(points[at].0) < slice {
                at += 1;
            }
            starts.push(at as u32);
        }
        let below = |hash: u64| ((hash << (64 - shift)) >> 32) as u32;
        Self {
            hashes: points.iter().map(|&(hash, _)| hash).collect(),
            points: points
                .iter()
                .map(|&(hash, owner)| (below(hash), owner))
                .collect(),
            starts,
            shift,
        }
    }

    /// True when no backend owns a point.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// Position of the first point `>= key` (`len` when there is none).
    fn first_at_or_after(&self, key: u64) -> usize {
        if self.points.is_empty() {
            return 0;
        }
        let slice = key.checked_shr(self.shift).unwrap_or(0) as usize;
        let (mut from, mut to) = (self.starts[slice] as usize, self.starts[slice + 1] as usize);
        let bits = ((key << (64 - self.shift)) >> 32) as u32;
        // Within the slice, the first point not below `key`.
        let below = |at: usize| {
            let point = self.points[at].0;
            point < bits || (point == bits && self.hashes[at] < key)
        };
        while from < to {
            let middle = from + (to - from) / 2;
            if below(middle) {
                from = middle + 1;
            } else {
                to = middle;
            }
        }
        from
    }

    /// Owners of the points from `key` onwards, round the ring once (an owner
    /// repeats once per point it has).
    pub fn walk(&self, key: u64) -> impl Iterator<Item = usize> + '_ {
        let start = self.first_at_or_after(key);
        self.points[start..]
            .iter()
            .chain(&self.points[..start])
            .map(|&(_, index)| index as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_backend_owns_points_in_proportion_to_its_weight() {
        let ring = HashRing::new([(0, "a", 1), (1, "b", 3), (2, "c", 0)].into_iter());
        assert_eq!(ring.len(), 4 * POINTS_PER_WEIGHT);
        let b = ring.walk(0).filter(|&i| i == 1).count();
        assert_eq!(b, 3 * POINTS_PER_WEIGHT);
        assert!(ring.walk(0).all(|i| i != 2));
    }

    #[test]
    fn the_sliced_lookup_finds_the_same_point_as_a_search_of_the_whole_ring() {
        let mut rng = crate::lb::strategy::random::SplitMix64::new(4);
        for backends in [1, 2, 7, 300] {
            let names: Vec<String> = (0..backends).map(|i| format!("b{i}")).collect();
            let ring = HashRing::new(
                names
                    .iter()
                    .enumerate()
                    .map(|(i, n)| (i, n.as_str(), 1 + (i % 3) as u16)),
            );
            let mut keys: Vec<u64> = (0..2000).map(|_| rng.next_u64()).collect();
            keys.extend([0, u64::MAX]);
            // Points' hashes, and keys that share their 32 bits below the
            // slice bits but differ in the bits under those.
            for &hash in &ring.hashes {
                keys.extend([hash, hash ^ 1, hash.wrapping_sub(1), hash.wrapping_add(1)]);
            }
            for key in keys {
                let want = ring.hashes.partition_point(|&point| point < key);
                assert_eq!(
                    ring.first_at_or_after(key),
                    want,
                    "{backends} backends, key {key}"
                );
            }
        }
    }

    #[test]
    fn a_huge_pool_is_capped_at_one_point_per_weight_at_least() {
        let names: Vec<String> = (0..2000).map(|i| format!("b{i}")).collect();
        let ring = HashRing::new(names.iter().enumerate().map(|(i, n)| (i, n.as_str(), 256)));
        assert_eq!(ring.len(), 2000 * 256);
    }
}
