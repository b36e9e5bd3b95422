//! Round-robin: each available backend in turn, in list order. A cursor
//! remembers where the next scan starts and moves past each choice, so a
//! backend that leaves and comes back takes its turn where it stands in the
//! list. Least-load walks from the same cursor to break its ties.

/// Indices `0..len`, starting at `start % len` and wrapping round.
pub fn rotate_from(start: usize, len: usize) -> impl Iterator<Item = usize> {
    let start = if len == 0 { 0 } else { start % len };
    (start..len).chain(0..start)
}

/// The first of `0..len` that `available` accepts from `cursor` on, round
/// the list; the cursor moves past it.
pub fn next(cursor: &mut usize, len: usize, available: impl Fn(usize) -> bool) -> Option<usize> {
    let chosen = rotate_from(*cursor, len).find(|&i| available(i))?;
    *cursor = chosen + 1;
    Some(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_cycles_in_list_order_and_skips_the_unavailable() {
        let mut cursor = 0;
        let picks: Vec<usize> = (0..5)
            .map(|_| next(&mut cursor, 3, |i| i != 1).unwrap())
            .collect();
        assert_eq!(picks, [0, 2, 0, 2, 0]);
        assert_eq!(next(&mut cursor, 3, |_| false), None);
        assert_eq!(rotate_from(7, 3).collect::<Vec<_>>(), [1, 2, 0]);
        assert_eq!(rotate_from(0, 0).count(), 0);
    }
}
