//! Least-response-time: the backend with the smallest mean completed
//! duration (a backend without one counts as zero, so that it is tried);
//! ties go to the fewest active, then to list order.

use std::time::Duration;

/// The candidate with the least `(mean duration, active)`, the first of
/// equals (candidates come in list order).
pub fn choose(
    candidates: impl Iterator<Item = usize>,
    figures: impl Fn(usize) -> (Duration, u32),
) -> Option<usize> {
    candidates.min_by_key(|&i| {
        let (mean, active) = figures(i);
        (mean, active, i)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn the_smallest_mean_wins_then_the_fewest_active() {
        let backends = [(5 * MS, 0), (2 * MS, 3), (2 * MS, 1), (2 * MS, 1)];
        assert_eq!(choose(0..4, |i| backends[i]), Some(2));
        assert_eq!(choose([0].into_iter(), |i| backends[i]), Some(0));
    }
}
