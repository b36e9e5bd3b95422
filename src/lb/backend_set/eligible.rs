//! The set of backends that may take a new pick, as a bitset with summary
//! levels: finding the first member at or after an index reads one word per
//! level (three levels cover 262,144 backends), so the first-available and
//! round-robin choices cost the same with 4 backends or 10,000.
//!
//! It holds indices only; the set decides who belongs (see
//! [`super::BackendSet`]'s eligibility rule) and keeps it up to date.

/// Bits per word.
const WORD: usize = 64;

/// A set of indices in `0..len` with fast "next member from here".
#[derive(Debug, Clone, Default)]
pub struct EligibleSet {
    /// `levels[0]` has one bit per index; each higher level one bit per
    /// non-empty word of the level below; the last level is a single word.
    levels: Vec<Vec<u64>>,
    count: usize,
    len: usize,
}

impl EligibleSet {
    /// An empty set over `0..len`.
    pub fn new(len: usize) -> Self {
        let mut levels = Vec::new();
        let mut bits = len.max(1);
        loop {
            let words = bits.div_ceil(WORD);
            levels.push(vec![0; words]);
            if words == 1 {
                break;
            }
            bits = words;
        }
        Self {
            levels,
            count: 0,
            len,
        }
    }

    /// Number of members.
    pub fn count(&self) -> usize {
        self.count
    }

    /// True when `i` is a member.
    pub fn contains(&self, i: usize) -> bool {
        i < self.len && self.levels[0][i / WORD] & (1 << (i % WORD)) != 0
    }

    /// Adds `i`; returns true when it was not a member.
    pub fn insert(&mut self, i: usize) -> bool {
        if self.contains(i) {
            return false;
        }
        let mut at = i;
        for level in &mut self.levels {
            let word = &mut level[at / WORD];
            let was_empty = *word == 0;
            *word |= 1 << (at % WORD);
            if !was_empty {
                break;
            }
            at /= WORD;
        }
        self.count += 1;
        true
    }

    /// Removes `i`; returns true when it was a member.
    pub fn remove(&mut self, i: usize) -> bool {
        if !self.contains(i) {
            return false;
        }
        let mut at = i;
        for level in &mut self.levels {
            let word = &mut level[at / WORD];
            *word &= !(1 << (at % WORD));
            if *word != 0 {
                break;
            }
            at /= WORD;
        }
        self.count -= 1;
        true
    }

    /// The smallest member `>= from`, if any.
    pub fn next_from(&self, from: usize) -> Option<usize> {
        if from >= self.len {
            return None;
        }
        // Climb while the rest of the current word is empty, then descend
        // along the first set bits.
        let mut at = from;
        let mut level = 0;
        loop {
            let word = self.levels[level][at / WORD] & (u64::MAX << (at % WORD));
            if word != 0 {
                at = (at / WORD) * WORD + word.trailing_zeros() as usize;
                break;
            }
            level += 1;
            if level == self.levels.len() {
                return None;
            }
            at = at / WORD + 1;
            if at >= self.levels[level].len() * WORD {
                return None;
            }
        }
        while level > 0 {
            level -= 1;
            let word = self.levels[level][at];
            at = at * WORD + word.trailing_zeros() as usize;
        }
        Some(at)
    }

    /// The first member at or after `from`, going round past the end.
    pub fn next_round_from(&self, from: usize) -> Option<usize> {
        self.next_from(from).or_else(|| self.next_from(0))
    }

    /// Members in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        let mut from = 0;
        std::iter::from_fn(move || {
            let i = self.next_from(from)?;
            from = i + 1;
            Some(i)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lb::strategy::random::SplitMix64;

    #[test]
    fn next_from_finds_the_next_member_across_words_and_levels() {
        let mut set = EligibleSet::new(10_000);
        assert_eq!(set.next_from(0), None);
        for i in [3, 64, 4095, 4096, 9_999] {
            assert!(set.insert(i));
        }
        assert!(!set.insert(64));
        assert_eq!(set.count(), 5);
        assert_eq!(set.next_from(0), Some(3));
        assert_eq!(set.next_from(4), Some(64));
        assert_eq!(set.next_from(65), Some(4095));
        assert_eq!(set.next_from(4097), Some(9_999));
        assert_eq!(set.next_from(10_000), None);
        assert!(set.remove(9_999));
        assert_eq!(set.next_from(4097), None);
        assert_eq!(set.next_round_from(4097), Some(3));
    }

    #[test]
    fn random_inserts_and_removes_agree_with_a_plain_list() {
        let mut rng = SplitMix64::new(11);
        for len in [1, 5, 64, 65, 700, 5000] {
            let mut set = EligibleSet::new(len);
            let mut plain = vec![false; len];
            for _ in 0..4 * len + 50 {
                let i = rng.below(len as u64) as usize;
                if rng.below(2) == 0 {
                    assert_eq!(set.insert(i), !plain[i]);
                    plain[i] = true;
                } else {
                    assert_eq!(set.remove(i), plain[i]);
                    plain[i] = false;
                }
                let from = rng.below(len as u64 + 1) as usize;
                let want = (from..len).find(|&k| plain[k]);
                assert_eq!(set.next_from(from), want, "len {len} from {from}");
            }
            let members: Vec<usize> = set.iter().collect();
            let want: Vec<usize> = (0..len).filter(|&k| plain[k]).collect();
            assert_eq!(members, want);
            assert_eq!(set.count(), want.len());
        }
    }
}
