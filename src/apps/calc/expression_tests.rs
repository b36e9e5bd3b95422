//! The expression core as a specification: worked examples, the errors with
//! their columns, and a property test against i128 fraction arithmetic.

use super::expression::{CalcError, MAX_EXPRESSION_BYTES, MAX_NESTING, evaluate};
use super::number::{Notation, parse_literal, show};

fn exact(text: &str) -> String {
    show(&evaluate(text).unwrap(), Notation::Fraction)
}

fn decimal(text: &str, digits: u32) -> String {
    show(&evaluate(text).unwrap(), Notation::Decimal { digits })
}

#[test]
fn precedence_parentheses_and_unary_minus() {
    assert_eq!(exact("2 * (3 + 4)"), "14");
    assert_eq!(exact("2 + 3 * 4"), "14");
    assert_eq!(exact("(2 + 3) * 4"), "20");
    assert_eq!(exact("10 - 4 - 3"), "3");
    assert_eq!(exact("64 / 4 / 2"), "8");
    assert_eq!(exact("-3 + 5"), "2");
    assert_eq!(exact("--3"), "3");
    assert_eq!(exact("-(2 + 3) * 2"), "-10");
    assert_eq!(exact("2 * -3"), "-6");
    assert_eq!(exact("+7"), "7");
}

#[test]
fn powers_are_right_associative_and_bind_tighter_than_unary_minus() {
    assert_eq!(exact("2 ^ 3 ^ 2"), "512");
    assert_eq!(exact("-2 ^ 2"), "-4");
    assert_eq!(exact("(-2) ^ 3"), "-8");
    assert_eq!(exact("2 ^ -2"), "1/4");
    assert_eq!(exact("2 ** 10"), "1024");
    assert_eq!(exact("(2/3) ^ 3"), "8/27");
    assert_eq!(exact("0 ^ 0"), "1");
}

#[test]
fn remainder_follows_the_dividend_sign_as_truncated_division() {
    assert_eq!(exact("7 % 3"), "1");
    assert_eq!(exact("-7 % 3"), "-1");
    assert_eq!(exact("7 % -3"), "1");
    assert_eq!(exact("7.5 % 2"), "3/2");
    assert_eq!(
        exact("2 * 7 % 4"),
        "2",
        "same precedence as *, left to right"
    );
}

#[test]
fn results_are_exact_rationals_of_any_size() {
    assert_eq!(exact("1/3 + 1/6"), "1/2");
    assert_eq!(exact("0.1 + 0.2"), "3/10");
    assert_eq!(exact("0.1 + 0.2 - 0.3"), "0");
    assert_eq!(
        exact("2 ^ 128"),
        "340282366920938463463374607431768211456",
        "beyond u128"
    );
    assert_eq!(
        exact("(10^30 + 1) * (10^30 - 1)"),
        format!("{}{}", "9".repeat(60), "")
    );
    assert_eq!(exact("6.02e23 / 1e-3"), "602000000000000000000000000");
    assert_eq!(exact("2 ^ 100000 / 2 ^ 99999"), "2");
    assert!(evaluate("10 ^ 1000000").is_ok(), "3.3 million bits fit");
    assert_eq!(exact("(-1) ^ 999999"), "-1");
    assert_eq!(exact("0.5 ^ 1000000 * 2 ^ 1000000"), "1");
}

#[test]
fn decimals_round_to_the_requested_digits() {
    assert_eq!(decimal("1/3", 20), "0.33333333333333333333");
    assert_eq!(decimal("2/3", 5), "0.66667");
    assert_eq!(decimal("-2/3", 5), "-0.66667");
    assert_eq!(decimal("1/8", 2), "0.12", "ties go to even");
    assert_eq!(decimal("7/2", 20), "3.5");
    assert_eq!(decimal("1/1000", 2), "0");
    assert_eq!(decimal("22/7", 0), "3");
    assert_eq!(decimal("10^25", 3), "10000000000000000000000000");
}

#[test]
fn literals_take_fractions_and_exponents() {
    let (value, used) = parse_literal(b"1.25e2+").unwrap();
    assert_eq!((value.to_string().as_str(), used), ("125", 6));
    assert_eq!(parse_literal(b".5").unwrap().0.to_string(), "1/2");
    assert_eq!(parse_literal(b"2.").unwrap().1, 2);
    assert!(parse_literal(b"1e").is_err());
    assert!(parse_literal(b".").is_err());
}

fn error(text: &str) -> CalcError {
    evaluate(text).unwrap_err()
}

#[test]
fn division_by_zero_names_the_operator_column() {
    assert_eq!(error("1 / 0"), CalcError::DivisionByZero { column: 3 });
    assert_eq!(
        error("1 % (2 - 2)"),
        CalcError::DivisionByZero { column: 3 }
    );
    assert_eq!(error("0 ^ -1"), CalcError::DivisionByZero { column: 3 });
    assert_eq!(error("1 / 0").to_string(), "division by zero at column 3");
}

#[test]
fn syntax_errors_name_their_column() {
    assert_eq!(error("2 +").column(), 4);
    assert_eq!(error("2 + * 3").column(), 5);
    assert_eq!(error("(1 + 2").column(), 7);
    assert_eq!(error("1 + 2)").column(), 6);
    assert_eq!(error("3 4").column(), 3);
    assert_eq!(error("").column(), 1);
    assert_eq!(error("2 + x").column(), 5);
    assert_eq!(error("1 + é").column(), 5);
    assert!(error("1 + é").to_string().contains("byte 0xc3"));
}

#[test]
fn limits_are_errors_not_crashes() {
    assert!(matches!(
        error("2 ^ 1000001"),
        CalcError::ExponentTooLarge { column: 3 }
    ));
    assert!(matches!(
        error("1e1000001"),
        CalcError::ExponentTooLarge { .. }
    ));
    assert!(matches!(
        error("2 ^ 0.5"),
        CalcError::FractionalExponent { .. }
    ));
    assert!(matches!(
        error("(2 ^ 1000000) ^ 5"),
        CalcError::ResultTooLarge { .. }
    ));
    assert!(matches!(
        error("2 ^ 1000000 * 2 ^ 1000000 * 2 ^ 1000000 * 2 ^ 1000000 * 2 ^ 1000000"),
        CalcError::ResultTooLarge { .. }
    ));
    let long = format!("1{}", " + 1".repeat(MAX_EXPRESSION_BYTES / 4));
    assert!(matches!(error(&long), CalcError::TooLong { .. }));
    let deep = format!(
        "{}1{}",
        "(".repeat(MAX_NESTING + 1),
        ")".repeat(MAX_NESTING + 1)
    );
    assert!(matches!(error(&deep), CalcError::TooDeep { .. }));
    let minus = "-".repeat(60_000) + "1";
    assert!(matches!(error(&minus), CalcError::TooDeep { .. }));
    let towers = "2^".repeat(30_000) + "1";
    assert!(matches!(error(&towers), CalcError::TooDeep { .. }));
    assert_eq!(
        exact(&format!("{}1{}", "(".repeat(200), ")".repeat(200))),
        "1"
    );
}

/// The same arithmetic over i128 fractions in lowest terms; `None` when a
/// step overflows (the exact core must still agree whenever this answers).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Fraction(i128, i128);

fn gcd(a: i128, b: i128) -> i128 {
    if b == 0 { a.abs() } else { gcd(b, a % b) }
}

impl Fraction {
    fn new(n: i128, d: i128) -> Option<Fraction> {
        if d == 0 {
            return None;
        }
        let g = gcd(n, d);
        let (n, d) = (n / g, d / g);
        Some(if d < 0 {
            Fraction(n.checked_neg()?, -d)
        } else {
            Fraction(n, d)
        })
    }
    fn add(self, o: Fraction) -> Option<Fraction> {
        Fraction::new(
            self.0
                .checked_mul(o.1)?
                .checked_add(o.0.checked_mul(self.1)?)?,
            self.1.checked_mul(o.1)?,
        )
    }
    fn neg(self) -> Option<Fraction> {
        Some(Fraction(self.0.checked_neg()?, self.1))
    }
    fn mul(self, o: Fraction) -> Option<Fraction> {
        Fraction::new(self.0.checked_mul(o.0)?, self.1.checked_mul(o.1)?)
    }
    fn div(self, o: Fraction) -> Option<Fraction> {
        Fraction::new(self.0.checked_mul(o.1)?, self.1.checked_mul(o.0)?)
    }
    fn rem(self, o: Fraction) -> Option<Fraction> {
        let q = self.div(o)?;
        let truncated = Fraction(q.0 / q.1, 1);
        self.add(o.mul(truncated)?.neg()?)
    }
    fn pow(self, e: i32) -> Option<Fraction> {
        let base = if e < 0 {
            Fraction(1, 1).div(self)?
        } else {
            self
        };
        let mut acc = Fraction(1, 1);
        for _ in 0..e.unsigned_abs() {
            acc = acc.mul(base)?;
        }
        Some(acc)
    }
    fn text(self) -> String {
        if self.1 == 1 {
            self.0.to_string()
        } else {
            format!("{}/{}", self.0, self.1)
        }
    }
}

struct Random(u64);

impl Random {
    fn below(&mut self, n: u64) -> u64 {
        // xorshift64*: deterministic, so a failure reproduces.
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

/// A random expression as text and its value in i128 fractions (`None`
/// after an overflow or a division by zero).
fn random_expression(random: &mut Random, depth: u32) -> (String, Option<Fraction>) {
    if depth == 0 || random.below(4) == 0 {
        let n = random.below(2001) as i128 - 1000;
        let text = if n < 0 {
            format!("({n})")
        } else {
            n.to_string()
        };
        return (text, Some(Fraction(n, 1)));
    }
    if random.below(8) == 0 {
        let (inner, value) = random_expression(random, depth - 1);
        return (format!("-({inner})"), value.and_then(Fraction::neg));
    }
    if random.below(8) == 0 {
        let (base, value) = random_expression(random, depth - 1);
        let exponent = random.below(7) as i32 - 3;
        let value = value.and_then(|v| v.pow(exponent));
        return (format!("({base})^({exponent})"), value);
    }
    let (left, a) = random_expression(random, depth - 1);
    let (right, b) = random_expression(random, depth - 1);
    let (symbol, value) = match random.below(5) {
        0 => ("+", a.zip(b).and_then(|(a, b)| a.add(b))),
        1 => ("-", a.zip(b).and_then(|(a, b)| a.add(b.neg()?))),
        2 => ("*", a.zip(b).and_then(|(a, b)| a.mul(b))),
        3 => ("/", a.zip(b).and_then(|(a, b)| a.div(b))),
        _ => ("%", a.zip(b).and_then(|(a, b)| a.rem(b))),
    };
    let spaces = if random.below(2) == 0 { " " } else { "" };
    (format!("({left}){spaces}{symbol}{spaces}({right})"), value)
}

#[test]
fn random_expressions_agree_with_i128_fraction_arithmetic() {
    let mut random = Random(0x9e37_79b9_7f4a_7c15);
    let mut compared = 0;
    for _ in 0..5_000 {
        let (text, expected) = random_expression(&mut random, 5);
        let got = evaluate(&text);
        match expected {
            Some(value) => {
                let got = got.unwrap_or_else(|e| panic!("{text}: {e}"));
                assert_eq!(show(&got, Notation::Fraction), value.text(), "{text}");
                compared += 1;
            }
            // Overflowed i128 or divided by zero: the exact core either
            // answers (beyond i128) or names a division by zero.
            None => {
                if let Err(e) = got {
                    assert!(matches!(e, CalcError::DivisionByZero { .. }), "{text}: {e}");
                }
            }
        }
    }
    assert!(
        compared > 2_500,
        "only {compared} expressions fitted in i128"
    );
}
