//! The two-choice strategies: two distinct random candidates, and the better
//! one wins (the first drawn on a tie). `power-of-two` compares active picks
//! (Envoy's least request); `peak-ewma` compares `latency EWMA x (active +
//! 1)` ([`super::ewma::cost`], Finagle's peak-EWMA).

use super::random::SplitMix64;

/// One choice among `candidates` (at least one): the only one, or the
/// winner of two distinct draws, where `b_beats_a(a, b)` says whether the
/// second drawn is strictly better.
pub fn choose(
    candidates: &[usize],
    rng: &mut SplitMix64,
    b_beats_a: impl Fn(usize, usize) -> bool,
) -> Option<usize> {
    let (a, b) = match candidates.len() {
        0 => return None,
        1 => return Some(candidates[0]),
        n => {
            let (a, b) = rng.two_distinct(n);
            (candidates[a], candidates[b])
        }
    };
    Some(duel(a, b, b_beats_a))
}

/// `a` unless `b` is strictly better.
pub fn duel(a: usize, b: usize, b_beats_a: impl Fn(usize, usize) -> bool) -> usize {
    if b_beats_a(a, b) { b } else { a }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn of_two_draws_the_better_wins_and_one_candidate_is_taken_as_is() {
        let active = [5, 1, 3];
        let mut rng = SplitMix64::new(1);
        let fewer = |a: usize, b: usize| active[b] < active[a];
        for _ in 0..50 {
            let chosen = choose(&[0, 1, 2], &mut rng, fewer).unwrap();
            assert_ne!(chosen, 0, "backend 0 loses every duel it is in");
        }
        assert_eq!(choose(&[2], &mut rng, fewer), Some(2));
        assert_eq!(choose(&[], &mut rng, fewer), None);
    }
}
