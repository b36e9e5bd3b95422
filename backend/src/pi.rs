//! π to any number of decimal places, truncated, by the Chudnovsky series
//! summed with binary splitting on malachite's big integers.
//!
//! This module owns only the arithmetic: it knows nothing of HTTP, threads
//! or limits (the caller bounds `n`).
//!
//! The series is
//! `1/π = 12 Σ (-1)^k (6k)! (13591409 + 545140134 k) / ((3k)! (k!)^3 640320^(3k + 3/2))`,
//! which rearranges to `π = 426880 √10005 · Q / T` where binary splitting
//! gives the exact rationals `Q` and `T` of the first terms. Each term adds
//! about 14.18 correct digits.
//!
//! Truncation must be exact to the last digit, so the computation runs with
//! guard digits and an error bound: the integer `x` it produces satisfies
//! `|x − π·10^w| < 2` for `w` working digits. Whenever the guard digits of
//! `x` are too close to a multiple of `10^guard` for that bound to decide
//! the last requested digit, the computation is repeated with more guard
//! digits; π is irrational, so this ends.

use malachite_base::num::arithmetic::traits::{FloorSqrt, Pow};
use malachite_nz::integer::Integer;
use malachite_nz::natural::Natural;

/// Guard digits of the first attempt.
const FIRST_GUARD_DIGITS: usize = 12;

/// Decimal digits each Chudnovsky term adds, rounded down (really ≈ 14.18).
const DIGITS_PER_TERM: usize = 14;

/// Ranges of at most this many terms are summed directly instead of split:
/// below it, big-integer bookkeeping costs more than it saves.
const LEAF_TERMS: u64 = 8;

/// `640320³ / 24`, the per-term factor of `Q`.
const C3_OVER_24: u128 = 10_939_058_860_032_000;

/// π to `n` decimal places, truncated (never rounded): `"3"` for `n = 0`,
/// otherwise `"3."` followed by exactly `n` digits.
///
/// ```
/// assert_eq!(pi_backend::pi_digits(0), "3");
/// assert_eq!(pi_backend::pi_digits(4), "3.1415"); // rounding would give 3.1416
/// ```
pub fn pi_digits(n: usize) -> String {
    let digits = pi_integer_digits(n);
    let mut out = String::with_capacity(n + 2);
    out.push_str(&digits[..1]);
    if n > 0 {
        out.push('.');
        out.push_str(&digits[1..]);
    }
    out
}

/// The decimal digits of `⌊π·10^n⌋` (`n + 1` of them: "3" then the decimals).
fn pi_integer_digits(n: usize) -> String {
    let mut guard = FIRST_GUARD_DIGITS;
    loop {
        if let Some(digits) = truncated_with_guard(n, guard) {
            return digits;
        }
        guard *= 2;
    }
}

/// `⌊π·10^n⌋` in decimal, or `None` when `guard` digits cannot decide it.
fn truncated_with_guard(n: usize, guard: usize) -> Option<String> {
    let working = n + guard;
    let x = pi_scaled(working);
    let unit = ten_to(guard);
    let low = &x % &unit;
    // |x − π·10^w| < 2, so π·10^w lies in (x − 2, x + 2); the digits above
    // the guard are decided when that interval stays inside one block of
    // `unit`, i.e. when 2 <= low <= unit − 3 (both integers).
    let two = Natural::from(2u32);
    if low < two || low + Natural::from(3u32) > unit {
        return None;
    }
    let mut digits = x.to_string();
    digits.truncate(n + 1);
    Some(digits)
}

/// An integer `x` with `|x − π·10^w| < 2`.
fn pi_scaled(w: usize) -> Natural {
    let terms = (w / DIGITS_PER_TERM + 2) as u64;
    let (_, q, t) = split(0, terms);
    let t = Natural::try_from(t).expect("the Chudnovsky sum is positive");
    // ⌊√(10005·10^2w)⌋ is √10005·10^w less some δ in [0, 1); multiplied by
    // 426880·Q/T ≈ π/√10005 < 0.04 that costs less than 0.04, the floor of the
    // division costs less than 1 and the omitted terms (relative size
    // 10^(-14.18·terms) < 10^(-w-28)) far less: the total stays below 2.
    let sqrt = (Natural::from(10_005u32) * ten_to(2 * w)).floor_sqrt();
    sqrt * q * Natural::from(426_880u32) / t
}

/// `10^k`.
fn ten_to(k: usize) -> Natural {
    Natural::from(10u32).pow(k as u64)
}

/// Binary splitting over terms `a..b`: returns `(P, Q, T)` with
/// `P = Π p(k)`, `Q = Π q(k)` and `T/Q` the sum of the terms `a..b`
/// relative to term `a`'s predecessors (the usual formulation, where term 0
/// contributes 13591409).
fn split(a: u64, b: u64) -> (Natural, Natural, Integer) {
    if b - a <= LEAF_TERMS {
        let (mut p, mut q, mut t) = term(a);
        for k in a + 1..b {
            let (pk, qk, tk) = term(k);
            // Appending one term is the merge below with (pk, qk, tk).
            t = t * Integer::from(&qk) + Integer::from(&p) * tk;
            p *= pk;
            q *= qk;
        }
        return (p, q, t);
    }
    let mid = a + (b - a) / 2;
    let (p_left, q_left, t_left) = split(a, mid);
    let (p_right, q_right, t_right) = split(mid, b);
    let t = t_left * Integer::from(&q_right) + Integer::from(&p_left) * t_right;
    (p_left * p_right, q_left * q_right, t)
}

/// `(p(k), q(k), t(k))` of the single term `k`.
fn term(k: u64) -> (Natural, Natural, Integer) {
    if k == 0 {
        return (
            Natural::from(1u32),
            Natural::from(1u32),
            Integer::from(13_591_409u32),
        );
    }
    // u128 holds these for every k below 2^20 (over 14 million digits), far
    // beyond what the server allows.
    let k = u128::from(k);
    let p = (6 * k - 5) * (2 * k - 1) * (6 * k - 1);
    let q = k * k * k * C3_OVER_24;
    let t = Integer::from(Natural::from(p)) * Integer::from(13_591_409u128 + 545_140_134 * k);
    let t = if k % 2 == 1 { -t } else { t };
    (Natural::from(p), Natural::from(q), t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::OnceLock;

    /// π's decimals by the Rabinowitz–Wagon spigot, on machine integers
    /// only, independent of the big-integer code above. Returns "3" followed
    /// by `n` decimals, all correct (it computes some extra and drops them).
    fn spigot_digits(n: usize) -> String {
        let wanted = n + 1 + 10;
        let len = wanted * 10 / 3 + 1;
        let mut a = vec![2u64; len];
        let mut out: Vec<u8> = Vec::with_capacity(wanted + 1);
        let mut nines = 0usize;
        let mut predigit: Option<u8> = None;
        for _ in 0..wanted {
            let mut carry = 0u64;
            for i in (1..len).rev() {
                let x = 10 * a[i] + carry * (i as u64 + 1);
                let denominator = 2 * i as u64 + 1;
                a[i] = x % denominator;
                carry = x / denominator;
            }
            let x = 10 * a[0] + carry;
            a[0] = x % 10;
            let q = (x / 10) as u8;
            match q {
                9 => nines += 1,
                10 => {
                    out.push(predigit.map_or(1, |d| d + 1));
                    out.extend(std::iter::repeat_n(0, nines));
                    predigit = Some(0);
                    nines = 0;
                }
                _ => {
                    if let Some(d) = predigit {
                        out.push(d);
                    }
                    out.extend(std::iter::repeat_n(9, nines));
                    predigit = Some(q);
                    nines = 0;
                }
            }
        }
        out.truncate(n + 1);
        assert_eq!(out.len(), n + 1, "the spigot produced too few digits");
        out.iter().map(|d| char::from(b'0' + d)).collect()
    }

    const REFERENCE_DIGITS: usize = 3_000;

    fn reference() -> &'static str {
        static DIGITS: OnceLock<String> = OnceLock::new();
        DIGITS.get_or_init(|| spigot_digits(REFERENCE_DIGITS))
    }

    fn expected(n: usize) -> String {
        let digits = &reference()[..n + 1];
        if n == 0 {
            digits.to_string()
        } else {
            format!("{}.{}", &digits[..1], &digits[1..])
        }
    }

    #[test]
    fn the_reference_spigot_starts_like_pi() {
        assert!(reference().starts_with("314159265358979323846264338327950288419716939937510"));
    }

    #[test]
    fn zero_places_is_just_three() {
        assert_eq!(pi_digits(0), "3");
    }

    #[test]
    fn digits_are_truncated_not_rounded() {
        // The next digit is 5 after 3.141 and 9 after 3.1415.
        assert_eq!(pi_digits(3), "3.141");
        assert_eq!(pi_digits(4), "3.1415");
        assert_eq!(pi_digits(1), "3.1");
        assert_eq!(pi_digits(2), "3.14");
    }

    #[test]
    fn digits_through_the_run_of_six_nines_are_truncated() {
        // Decimals 762..=767 are all 9: rounding would carry into 761 and
        // earlier, truncation must keep the nines.
        for n in 758..=770 {
            assert_eq!(pi_digits(n), expected(n), "n = {n}");
        }
        assert!(pi_digits(767).ends_with("999999"));
    }

    #[test]
    fn digits_match_the_independent_spigot_for_many_lengths() {
        let lengths = [
            5, 6, 7, 8, 9, 10, 13, 14, 15, 27, 28, 29, 31, 32, 33, 50, 99, 100, 101, 255, 500,
            1_000, 1_234, 2_047, 2_500, 2_999, 3_000,
        ];
        for n in lengths {
            assert_eq!(pi_digits(n), expected(n), "n = {n}");
        }
    }

    #[test]
    fn every_length_up_to_two_hundred_matches_the_spigot() {
        for n in 0..=200 {
            assert_eq!(pi_digits(n), expected(n), "n = {n}");
        }
    }

    #[test]
    fn output_has_exactly_the_requested_number_of_decimals() {
        for n in [1, 17, 400, 4_321] {
            let digits = pi_digits(n);
            assert_eq!(digits.len(), n + 2);
            assert!(digits[2..].bytes().all(|b| b.is_ascii_digit()));
        }
    }

    #[test]
    fn guard_digit_check_rejects_undecidable_blocks_and_retries() {
        // With one guard digit many n are undecidable; the answer must still
        // be correct through the retry path.
        for n in 0..60 {
            let digits = (1..)
                .map(|guard| truncated_with_guard(n, guard))
                .find_map(|d| d)
                .expect("some guard decides");
            assert_eq!(digits, reference()[..n + 1], "n = {n}");
        }
    }
}
