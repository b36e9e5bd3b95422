//! nginx's smooth weighted round-robin.
//!
//! Each backend carries a running `current` value. On every pick each
//! candidate's `current` grows by its weight, the largest wins, and the winner
//! gives back the sum of the weights. Over a cycle of `sum(weights)` picks each
//! backend wins exactly `weight` times, and wins are spread out: weights 5, 1,
//! 1 give `a a b a c a a`, never `a a a a a b c`.

/// One pick among `candidates` (backend index, weight > 0); `current` holds
/// the running values, indexed by backend. Ties go to the earlier candidate.
pub fn next(current: &mut [i64], candidates: impl Iterator<Item = (usize, u16)>) -> Option<usize> {
    let mut total: i64 = 0;
    let mut best: Option<usize> = None;
    for (i, weight) in candidates {
        current[i] += i64::from(weight);
        total += i64::from(weight);
        if best.is_none_or(|b| current[i] > current[b]) {
            best = Some(i);
        }
    }
    let best = best?;
    current[best] -= total;
    Some(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(weights: &[u16], picks: usize) -> String {
        let mut current = vec![0; weights.len()];
        (0..picks)
            .map(|_| {
                let i = next(&mut current, weights.iter().copied().enumerate()).unwrap();
                (b'a' + i as u8) as char
            })
            .collect()
    }

    #[test]
    fn weights_five_one_one_interleave_as_nginx_does() {
        assert_eq!(run(&[5, 1, 1], 14), "aabacaaaabacaa");
    }

    #[test]
    fn over_a_full_cycle_each_backend_gets_exactly_its_weight() {
        let weights = [3, 7, 1, 4];
        let cycle = weights.iter().map(|&w| w as usize).sum::<usize>();
        let picks = run(&weights, cycle * 3);
        for chunk in picks.as_bytes().chunks(cycle) {
            for (i, &w) in weights.iter().enumerate() {
                let got = chunk.iter().filter(|&&c| c == b'a' + i as u8).count();
                assert_eq!(got, w as usize, "{picks}");
            }
        }
    }

    #[test]
    fn no_candidate_gives_no_pick() {
        assert_eq!(next(&mut [], std::iter::empty()), None);
    }
}
