//! Least-load: the backend whose agent reported the lowest load, the first
//! of equals from the round-robin cursor on (round-robin among equals).
//!
//! Unknown loads count as idle while no agent has reported (plain
//! round-robin), and as fully loaded once one has: a backend that stopped
//! reporting should not attract all the work.

use super::round_robin::rotate_from;

/// The load assumed of a backend whose agent has not reported, when another
/// one has.
pub const UNREPORTED_LOAD: u8 = 100;

/// The load that counts for a backend whose agent reported `load`, when
/// `any_reported` says whether any candidate's agent did.
pub fn counted_load(load: Option<u8>, any_reported: bool) -> u8 {
    load.unwrap_or(if any_reported { UNREPORTED_LOAD } else { 0 })
}

/// The first of `0..len` with the least load among those `available`
/// accepts, from `cursor` on round the list; the cursor moves past it.
/// `load` gives each backend's reported load.
pub fn next(
    cursor: &mut usize,
    len: usize,
    available: impl Fn(usize) -> bool,
    load: impl Fn(usize) -> Option<u8>,
) -> Option<usize> {
    let any_reported = (0..len).any(|i| available(i) && load(i).is_some());
    let chosen = rotate_from(*cursor, len)
        .filter(|&i| available(i))
        .min_by_key(|&i| counted_load(load(i), any_reported))?;
    *cursor = chosen + 1;
    Some(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_loaded_wins_and_equals_take_turns() {
        let loads = [Some(30), Some(10), Some(10), None];
        let mut cursor = 0;
        let picks: Vec<usize> = (0..3)
            .map(|_| next(&mut cursor, 4, |_| true, |i| loads[i]).unwrap())
            .collect();
        assert_eq!(picks, [1, 2, 1], "the silent one counts as fully loaded");
        let silent = [None, None];
        assert_eq!(next(&mut 1, 2, |_| true, |i| silent[i]), Some(1));
    }
}
