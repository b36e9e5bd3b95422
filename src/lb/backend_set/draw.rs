//! Random draws among the eligible backends in constant time.
//!
//! [`UniformDraw`] keeps the eligible backends in a dense list (removal swaps
//! the last one in), so two distinct uniform draws are two array reads.
//! [`WeightedDraw`] draws with probability proportional to weight: backends
//! are grouped by weight class (weights in `2^c..2^(c+1)`), a class is chosen
//! in proportion to its total weight (nine classes at most), then a member of
//! the class uniformly, kept with probability `weight / 2^(c+1)` (at least
//! one half) or redrawn. The result is exactly proportional to weight, with
//! fewer than two draws on average.

use crate::lb::backend_spec::MAX_WEIGHT;
use crate::lb::strategy::random::SplitMix64;

/// Marks a backend absent from a list.
const ABSENT: u32 = u32::MAX;
/// Weight classes: `floor(log2(weight))` for weights 1 to [`MAX_WEIGHT`].
const CLASSES: usize = (u16::BITS - MAX_WEIGHT.leading_zeros()) as usize;

/// A set of backends as a dense list, for uniform draws.
#[derive(Debug, Clone, Default)]
pub struct UniformDraw {
    members: Vec<u32>,
    /// Position of each backend in `members`, or [`ABSENT`].
    position: Vec<u32>,
}

impl UniformDraw {
    /// An empty set over `len` backends.
    pub fn new(len: usize) -> Self {
        Self {
            members: Vec::new(),
            position: vec![ABSENT; len],
        }
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// True when `i` is a member.
    pub fn contains(&self, i: usize) -> bool {
        self.position[i] != ABSENT
    }

    /// Adds `i` (no-op if present).
    pub fn insert(&mut self, i: usize) {
        if !self.contains(i) {
            self.position[i] = self.members.len() as u32;
            self.members.push(i as u32);
        }
    }

    /// Removes `i` (no-op if absent).
    pub fn remove(&mut self, i: usize) {
        let at = self.position[i];
        if at == ABSENT {
            return;
        }
        let last = self.members.pop().expect("a member") as usize;
        if last != i {
            self.members[at as usize] = last as u32;
            self.position[last] = at;
        }
        self.position[i] = ABSENT;
    }

    /// The member at position `at` (`at < len`).
    pub fn at(&self, at: usize) -> usize {
        self.members[at] as usize
    }
}

/// A set of weighted backends, for draws in proportion to weight.
#[derive(Debug, Clone, Default)]
pub struct WeightedDraw {
    classes: [UniformDraw; CLASSES],
    /// Sum of the weights in each class.
    class_weight: [u64; CLASSES],
    /// The weight each member was added with (0 for absent).
    weight: Vec<u16>,
    total: u64,
}

fn class_of(weight: u16) -> usize {
    (u16::BITS - 1 - weight.leading_zeros()) as usize
}

impl WeightedDraw {
    /// An empty set over `len` backends.
    pub fn new(len: usize) -> Self {
        Self {
            classes: std::array::from_fn(|_| UniformDraw::new(len)),
            class_weight: [0; CLASSES],
            weight: vec![0; len],
            total: 0,
        }
    }

    /// Sum of the members' weights.
    #[cfg(test)]
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Makes `i` a member of weight `weight` (0 removes it).
    pub fn set(&mut self, i: usize, weight: u16) {
        let old = self.weight[i];
        if old == weight {
            return;
        }
        if old > 0 {
            let c = class_of(old);
            self.classes[c].remove(i);
            self.class_weight[c] -= u64::from(old);
            self.total -= u64::from(old);
        }
        if weight > 0 {
            let c = class_of(weight);
            self.classes[c].insert(i);
            self.class_weight[c] += u64::from(weight);
            self.total += u64::from(weight);
        }
        self.weight[i] = weight;
    }

    /// A member drawn with probability proportional to its weight.
    pub fn draw(&self, rng: &mut SplitMix64) -> Option<usize> {
        if self.total == 0 {
            return None;
        }
        let mut ticket = rng.below(self.total);
        let class = (0..CLASSES)
            .find(|&c| {
                if ticket < self.class_weight[c] {
                    true
                } else {
                    ticket -= self.class_weight[c];
                    false
                }
            })
            .expect("the ticket falls in a class");
        let members = &self.classes[class];
        let ceiling = 2u64 << class;
        loop {
            let i = members.at(rng.below(members.len() as u64) as usize);
            if rng.below(ceiling) < u64::from(self.weight[i]) {
                return Some(i);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_removal_keeps_the_other_members() {
        let mut set = UniformDraw::new(5);
        for i in [4, 1, 3] {
            set.insert(i);
        }
        set.remove(4);
        set.remove(0);
        let mut members: Vec<usize> = (0..set.len()).map(|k| set.at(k)).collect();
        members.sort();
        assert_eq!(members, vec![1, 3]);
        assert!(set.contains(3) && !set.contains(4));
    }

    #[test]
    fn weighted_draws_follow_the_weights_across_classes() {
        let weights = [1u16, 3, 5, 0, 256, 100, 7];
        let mut set = WeightedDraw::new(weights.len());
        for (i, &w) in weights.iter().enumerate() {
            set.set(i, w);
        }
        set.set(6, 0);
        let total: u64 = weights[..6].iter().map(|&w| u64::from(w)).sum();
        assert_eq!(set.total(), total);
        let mut rng = SplitMix64::new(9);
        let draws = 200_000;
        let mut seen = [0u32; 7];
        for _ in 0..draws {
            seen[set.draw(&mut rng).unwrap()] += 1;
        }
        assert_eq!((seen[3], seen[6]), (0, 0));
        for i in 0..6 {
            let want = f64::from(weights[i]) / total as f64;
            let got = f64::from(seen[i]) / f64::from(draws);
            // Five standard deviations of a binomial share.
            let sigma = (want * (1.0 - want) / f64::from(draws)).sqrt();
            assert!(
                (got - want).abs() < 5.0 * sigma + 1e-4,
                "{i}: {got} vs {want}"
            );
        }
    }
}
