//! A consistent-hash ring with virtual nodes.
//!
//! Each backend owns [`POINTS_PER_WEIGHT`] points per unit of weight, placed by
//! hashing its *name* (not its index, which a reload may change). A key belongs
//! to the first point at or after its hash, going round. When a backend is
//! unavailable the pool walks on to the next point, so only that backend's
//! keys move; when it is removed its points vanish, with the same effect.

use super::hash::{hash_key, mix};

/// Virtual nodes per unit of weight: enough for an even spread (the share of
/// each backend varies by about 1/sqrt(160), 8%).
pub const POINTS_PER_WEIGHT: usize = 160;
/// At most this many points in one ring (4 MiB): large pools get fewer points
/// per unit of weight, at least one.
pub const MAX_POINTS: usize = 1 << 18;

/// Points of backends sorted by hash.
#[derive(Debug, Clone, Default)]
pub struct HashRing {
    points: Vec<(u64, u32)>,
}

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
        Self { points }
    }

    /// True when no backend owns a point.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// Owners of the points from `key` onwards, round the ring once (an owner
    /// repeats once per point it has).
    pub fn walk(&self, key: u64) -> impl Iterator<Item = usize> + '_ {
        let start = self.points.partition_point(|&(point, _)| point < key);
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
    fn a_huge_pool_is_capped_at_one_point_per_weight_at_least() {
        let names: Vec<String> = (0..2000).map(|i| format!("b{i}")).collect();
        let ring = HashRing::new(names.iter().enumerate().map(|(i, n)| (i, n.as_str(), 256)));
        assert_eq!(ring.len(), 2000 * 256);
    }
}
