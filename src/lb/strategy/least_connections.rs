//! Least-connections: the backend with the fewest active connections
//! (requests) per unit of weight, `(active + 1) / weight` as HAProxy's
//! leastconn; ties go to list order. The measure is compared exactly, by
//! cross-multiplying, so that 1/2 and 2/4 are equal.

use std::cmp::Ordering;

/// Least-connections' measure `(active + 1) / weight`.
#[derive(Debug, Clone, Copy)]
pub struct PerWeight {
    load: u64,
    weight: u64,
}

impl PerWeight {
    /// The measure of a backend with `active` picks and weight `weight`
    /// (a weight of 0 counts as 1).
    pub fn new(active: u32, weight: u16) -> Self {
        Self {
            load: u64::from(active) + 1,
            weight: u64::from(weight).max(1),
        }
    }
}

impl Ord for PerWeight {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.load * other.weight).cmp(&(other.load * self.weight))
    }
}

impl PartialOrd for PerWeight {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Equal measures are equal, however they are made up (1/2 = 2/4).
impl PartialEq for PerWeight {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for PerWeight {}

/// The candidate with the least measure, the first of equals (candidates
/// come in list order).
pub fn choose(
    candidates: impl Iterator<Item = usize>,
    measure: impl Fn(usize) -> PerWeight,
) -> Option<usize> {
    candidates.min_by(|&a, &b| measure(a).cmp(&measure(b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fewest_active_per_weight_wins_and_ties_go_to_list_order() {
        // (active, weight): 3/1, 3/2, 5/4 (least), 5/4 again.
        let backends = [(2, 1), (2, 2), (4, 4), (4, 4)];
        let measure = |i: usize| PerWeight::new(backends[i].0, backends[i].1);
        assert_eq!(choose(0..4, measure), Some(2));
        assert_eq!(PerWeight::new(0, 2), PerWeight::new(1, 4));
        assert_eq!(choose(0..0, measure), None);
    }
}
