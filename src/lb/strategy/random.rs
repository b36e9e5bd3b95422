//! The `random` strategy (a backend with probability proportional to its
//! weight) and the source of every random choice: SplitMix64, seeded, so
//! that a test with a fixed seed replays the same choices and the core reads
//! no entropy.

use super::hash::mix;

/// Seed of a backend set that was given none.
pub const DEFAULT_SEED: u64 = 0x5eed_0fd1_5710_0b5e;

/// A small, fast, seeded pseudo-random generator (not for secrets).
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator that starts from `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.state)
    }

    /// A number in `0..bound` (`bound` > 0), by Lemire's multiply-shift; the
    /// bias is below 2^-32 for the bounds a pool uses.
    pub fn below(&mut self, bound: u64) -> u64 {
        debug_assert!(bound > 0);
        ((u128::from(self.next_u64()) * u128::from(bound)) >> 64) as u64
    }

    /// Two distinct positions in `0..len` (`len` >= 2).
    pub fn two_distinct(&mut self, len: usize) -> (usize, usize) {
        debug_assert!(len >= 2);
        let first = self.below(len as u64) as usize;
        // Draw from the len - 1 other positions and skip over the first.
        let mut second = self.below(len as u64 - 1) as usize;
        if second >= first {
            second += 1;
        }
        (first, second)
    }
}

/// The `random` strategy: one of `candidates` with probability
/// proportional to its `weight`; `None` when their weights sum to zero.
pub fn weighted(
    candidates: impl Iterator<Item = usize> + Clone,
    weight: impl Fn(usize) -> u16,
    rng: &mut SplitMix64,
) -> Option<usize> {
    let weight = |i: usize| u64::from(weight(i));
    let total: u64 = candidates.clone().map(weight).sum();
    if total == 0 {
        return None;
    }
    let mut ticket = rng.below(total);
    candidates.into_iter().find(|&i| {
        let w = weight(i);
        if ticket < w {
            true
        } else {
            ticket -= w;
            false
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_choices_follow_the_weights_and_never_take_weight_zero() {
        let weights = [1u16, 0, 3];
        let mut rng = SplitMix64::new(3);
        let mut seen = [0u32; 3];
        for _ in 0..4000 {
            seen[weighted(0..3, |i| weights[i], &mut rng).unwrap()] += 1;
        }
        assert_eq!(seen[1], 0);
        assert!(seen[2] > 2 * seen[0], "{seen:?}");
        assert_eq!(weighted(1..2, |i| weights[i], &mut rng), None);
    }

    #[test]
    fn two_distinct_never_returns_the_same_position_and_covers_all() {
        let mut rng = SplitMix64::new(7);
        let mut seen = [0u32; 3];
        for _ in 0..3000 {
            let (a, b) = rng.two_distinct(3);
            assert_ne!(a, b);
            seen[a] += 1;
            seen[b] += 1;
        }
        assert!(seen.iter().all(|&n| n > 1700), "{seen:?}");
    }

    #[test]
    fn below_stays_below_its_bound() {
        let mut rng = SplitMix64::new(1);
        assert!((0..1000).all(|_| rng.below(5) < 5));
    }
}
