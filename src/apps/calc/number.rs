//! Numbers as text: reading a decimal literal into an exact rational, and
//! showing a rational as an integer, a rounded decimal or an exact fraction.

use malachite_base::num::arithmetic::traits::Pow;
use malachite_base::num::conversion::traits::RoundingFrom;
use malachite_base::rounding_modes::RoundingMode;
use malachite_nz::integer::Integer;
use malachite_nz::natural::Natural;
use malachite_q::Rational;

use super::expression::{MAX_EXPONENT, MAX_RESULT_BITS};

/// Fraction digits shown by default.
pub const DEFAULT_DIGITS: u32 = 20;
/// Most fraction digits a request may ask for.
pub const MAX_DIGITS: u32 = 10_000;

/// How a non-integer result is shown (integers are always shown whole).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notation {
    /// Rounded to this many fraction digits (to nearest, ties to even),
    /// trailing zeros dropped: `1/3` -> `0.33333333333333333333`.
    Decimal {
        /// Fraction digits, at most [`MAX_DIGITS`].
        digits: u32,
    },
    /// The exact fraction in lowest terms: `1/3`.
    Fraction,
}

impl Default for Notation {
    fn default() -> Self {
        Notation::Decimal {
            digits: DEFAULT_DIGITS,
        }
    }
}

/// Why a literal could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiteralError {
    /// Malformed at this byte offset from the literal's start.
    Malformed(usize),
    /// An `e` exponent over [`MAX_EXPONENT`] in magnitude.
    ExponentTooLarge,
    /// The value would exceed [`MAX_RESULT_BITS`].
    TooLarge,
}

/// Reads `123`, `1.5`, `.5`, `2.`, `6.02e23` or `1E-3` from the front of
/// `bytes`; answers the value and how many bytes it took.
pub fn parse_literal(bytes: &[u8]) -> Result<(Rational, usize), LiteralError> {
    let digits_from = |from: usize| {
        bytes[from..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count()
    };
    let whole = digits_from(0);
    let mut end = whole;
    let mut fraction = 0;
    if bytes.get(end) == Some(&b'.') {
        fraction = digits_from(end + 1);
        end += 1 + fraction;
    }
    if whole + fraction == 0 {
        return Err(LiteralError::Malformed(0));
    }
    let mut exponent: i64 = 0;
    if matches!(bytes.get(end), Some(b'e' | b'E')) {
        let mut at = end + 1;
        let negative = bytes.get(at) == Some(&b'-');
        if matches!(bytes.get(at), Some(b'+' | b'-')) {
            at += 1;
        }
        let count = digits_from(at);
        if count == 0 {
            return Err(LiteralError::Malformed(at));
        }
        let text = std::str::from_utf8(&bytes[at..at + count]).expect("ASCII digits");
        let magnitude = text.parse::<u64>().unwrap_or(u64::MAX);
        if magnitude > MAX_EXPONENT {
            return Err(LiteralError::ExponentTooLarge);
        }
        exponent = if negative {
            -(magnitude as i64)
        } else {
            magnitude as i64
        };
        end = at + count;
    }
    // Each decimal digit and each power of ten costs under 3.33 bits.
    let estimated_bits = (whole + fraction) as u64 * 10 / 3 + exponent.unsigned_abs() * 10 / 3;
    if estimated_bits > MAX_RESULT_BITS {
        return Err(LiteralError::TooLarge);
    }
    let mut all_digits = Vec::with_capacity(whole + fraction);
    all_digits.extend_from_slice(&bytes[..whole]);
    if fraction > 0 {
        all_digits.extend_from_slice(&bytes[whole + 1..whole + 1 + fraction]);
    }
    let text = std::str::from_utf8(&all_digits).expect("ASCII digits");
    let mantissa: Natural = text.parse().expect("a run of digits");
    let scale = exponent - fraction as i64;
    let value = Rational::from(mantissa) * Rational::from(10u32).pow(scale);
    Ok((value, end))
}

/// Shows `value` in `notation`. Integers are always shown whole.
///
/// ```
/// use distloop::apps::calc::expression::evaluate;
/// use distloop::apps::calc::number::{Notation, show};
/// let third = evaluate("-1/3").unwrap();
/// assert_eq!(show(&third, Notation::Decimal { digits: 4 }), "-0.3333");
/// assert_eq!(show(&third, Notation::Fraction), "-1/3");
/// assert_eq!(show(&evaluate("7/2").unwrap(), Notation::default()), "3.5");
/// ```
pub fn show(value: &Rational, notation: Notation) -> String {
    let digits = match notation {
        Notation::Fraction => return value.to_string(),
        Notation::Decimal { digits } => digits.min(MAX_DIGITS),
    };
    if let Ok(integer) = Integer::try_from(value) {
        return integer.to_string();
    }
    let scaled = value * Rational::from(10u32).pow(u64::from(digits));
    let (rounded, _) = Integer::rounding_from(scaled, RoundingMode::Nearest);
    let negative = rounded < 0;
    let magnitude = rounded.unsigned_abs_ref().to_string();
    let width = digits as usize + 1;
    let padded = format!("{magnitude:0>width$}");
    let (whole, fraction) = padded.split_at(padded.len() - digits as usize);
    let fraction = fraction.trim_end_matches('0');
    let sign = if negative { "-" } else { "" };
    if fraction.is_empty() {
        format!("{sign}{whole}")
    } else {
        format!("{sign}{whole}.{fraction}")
    }
}
