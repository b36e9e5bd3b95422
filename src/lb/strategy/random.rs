//! The pool's source of random choices: SplitMix64, seeded, so that a test
//! with a fixed seed replays the same choices and the core reads no entropy.

use super::hash::mix;

/// Seed of a pool that was given none.
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

#[cfg(test)]
mod tests {
    use super::*;

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
