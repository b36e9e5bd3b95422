//! The calculator's expression language: parsing and exact evaluation in one
//! recursive-descent pass over a line of text, with no I/O.
//!
//! ```text
//! sum     := product (('+' | '-') product)*
//! product := unary (('*' | '/' | '%') unary)*
//! unary   := ('-' | '+') unary | power
//! power   := atom ('^' unary)?            right-associative: 2^3^2 = 2^9
//! atom    := number | '(' sum ')'
//! number  := digits ['.' digits] [('e' | 'E') ['+' | '-'] digits]   or   '.' digits ...
//! ```
//!
//! Values are exact rationals of any size ([`Rational`]). `%` is the
//! remainder of truncated division (its sign follows the dividend, as in C
//! and Rust): `a % b = a - b * trunc(a / b)`, also for fractions. `^` takes an
//! integer exponent, negative ones too. Errors carry the 1-based column of
//! the character they are about; every limit below is checked before the
//! work it guards, so no input can exhaust the stack or the memory.

use std::cmp::Ordering;
use std::fmt;

use malachite_base::num::arithmetic::traits::{Pow, Sign};
use malachite_base::num::basic::traits::Zero;
use malachite_base::num::conversion::traits::RoundingFrom;
use malachite_base::num::logic::traits::SignificantBits;
use malachite_base::rounding_modes::RoundingMode;
use malachite_nz::integer::Integer;
use malachite_q::Rational;

use super::number::{LiteralError, parse_literal};

/// Longest expression accepted, in bytes.
pub const MAX_EXPRESSION_BYTES: usize = 64 * 1024;
/// Largest exponent magnitude, for `^` and for `e` in number literals.
pub const MAX_EXPONENT: u64 = 1_000_000;
/// Deepest nesting of parentheses, unary signs and powers: the parser
/// recurses once per level, and this keeps it far from the thread's stack
/// limit.
pub const MAX_NESTING: usize = 256;
/// Largest value kept, in bits of numerator plus denominator (about 1.26
/// million decimal digits): `2^1000000` fits, `(2^1000000)^5` does not.
pub const MAX_RESULT_BITS: u64 = 1 << 22;

/// Why an expression has no value. Each names the 1-based column it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CalcError {
    /// Not a well-formed expression.
    Syntax {
        /// Where the parser stopped.
        column: usize,
        /// What it expected or found.
        message: String,
    },
    /// `/` or `%` by zero (or `0 ^ -n`).
    DivisionByZero {
        /// The operator's column.
        column: usize,
    },
    /// An exponent that is not a whole number.
    FractionalExponent {
        /// The `^`'s column.
        column: usize,
    },
    /// An exponent over [`MAX_EXPONENT`] in magnitude.
    ExponentTooLarge {
        /// The exponent's column.
        column: usize,
    },
    /// A value that would exceed [`MAX_RESULT_BITS`].
    ResultTooLarge {
        /// The operator's column.
        column: usize,
    },
    /// Nesting deeper than [`MAX_NESTING`].
    TooDeep {
        /// Where the limit was crossed.
        column: usize,
    },
    /// An expression over [`MAX_EXPRESSION_BYTES`].
    TooLong {
        /// Its length in bytes.
        bytes: usize,
    },
}

impl CalcError {
    /// The 1-based column the error is about (the length + 1 for
    /// [`CalcError::TooLong`]).
    pub fn column(&self) -> usize {
        match self {
            CalcError::Syntax { column, .. }
            | CalcError::DivisionByZero { column }
            | CalcError::FractionalExponent { column }
            | CalcError::ExponentTooLarge { column }
            | CalcError::ResultTooLarge { column }
            | CalcError::TooDeep { column } => *column,
            CalcError::TooLong { bytes } => bytes + 1,
        }
    }

    /// The message without the column.
    pub fn message(&self) -> String {
        match self {
            CalcError::Syntax { message, .. } => message.clone(),
            CalcError::DivisionByZero { .. } => "division by zero".into(),
            CalcError::FractionalExponent { .. } => "the exponent is not a whole number".into(),
            CalcError::ExponentTooLarge { .. } => {
                format!("an exponent over {MAX_EXPONENT} in magnitude")
            }
            CalcError::ResultTooLarge { .. } => {
                format!("the result would exceed {MAX_RESULT_BITS} bits")
            }
            CalcError::TooDeep { .. } => format!("nested deeper than {MAX_NESTING} levels"),
            CalcError::TooLong { bytes } => {
                format!("the expression is {bytes} bytes, over the {MAX_EXPRESSION_BYTES} limit")
            }
        }
    }
}

impl fmt::Display for CalcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at column {}", self.message(), self.column())
    }
}

impl std::error::Error for CalcError {}

/// The four operations of the original wire, and the two this language adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// `+`
    Add,
    /// `-`
    Subtract,
    /// `*`
    Multiply,
    /// `/`, exact.
    Divide,
    /// `%`, remainder of truncated division.
    Remainder,
    /// `^`, integer exponent.
    Power,
}

impl Operator {
    /// The operator written as one character (`+`, `-`, `*`, `/`, `%`, `^`).
    pub fn from_symbol(symbol: &str) -> Option<Operator> {
        Some(match symbol {
            "+" => Operator::Add,
            "-" => Operator::Subtract,
            "*" | "x" | "×" => Operator::Multiply,
            "/" | "÷" => Operator::Divide,
            "%" => Operator::Remainder,
            "^" | "**" => Operator::Power,
            _ => return None,
        })
    }
}

/// Applies `op`; `column` is where errors point.
pub fn apply(
    op: Operator,
    a: &Rational,
    b: &Rational,
    column: usize,
) -> Result<Rational, CalcError> {
    let too_large = || CalcError::ResultTooLarge { column };
    let bits = |x: &Rational| x.significant_bits();
    match op {
        Operator::Add | Operator::Subtract => {
            // A sum's numerator and denominator are bounded by the products
            // of the operands' parts.
            if bits(a) + bits(b) > MAX_RESULT_BITS {
                return Err(too_large());
            }
            Ok(if op == Operator::Add { a + b } else { a - b })
        }
        Operator::Multiply => {
            if bits(a) + bits(b) > MAX_RESULT_BITS {
                return Err(too_large());
            }
            Ok(a * b)
        }
        Operator::Divide => {
            if *b == Rational::ZERO {
                return Err(CalcError::DivisionByZero { column });
            }
            if bits(a) + bits(b) > MAX_RESULT_BITS {
                return Err(too_large());
            }
            Ok(a / b)
        }
        Operator::Remainder => {
            if *b == Rational::ZERO {
                return Err(CalcError::DivisionByZero { column });
            }
            if 2 * (bits(a) + bits(b)) > MAX_RESULT_BITS {
                return Err(too_large());
            }
            let (quotient, _) = Integer::rounding_from(a / b, RoundingMode::Down);
            Ok(a - b * Rational::from(quotient))
        }
        Operator::Power => power(a, b, column),
    }
}

fn power(base: &Rational, exponent: &Rational, column: usize) -> Result<Rational, CalcError> {
    let exponent =
        Integer::try_from(exponent).map_err(|_| CalcError::FractionalExponent { column })?;
    let magnitude = exponent.unsigned_abs_ref();
    if *magnitude > MAX_EXPONENT {
        return Err(CalcError::ExponentTooLarge { column });
    }
    let magnitude = u64::try_from(magnitude).expect("bounded by MAX_EXPONENT");
    if *base == Rational::ZERO && exponent.sign() == Ordering::Less {
        return Err(CalcError::DivisionByZero { column });
    }
    // A part of b bits is at least 2^(b-1), so its power has at least
    // (b - 1) * exponent bits (and at most twice that); 0, 1 and -1 cost none.
    let floor_bits = base.significant_bits().saturating_sub(2);
    if floor_bits.saturating_mul(magnitude) > MAX_RESULT_BITS {
        return Err(CalcError::ResultTooLarge { column });
    }
    let exponent = i64::try_from(&exponent).expect("bounded by MAX_EXPONENT");
    Ok(base.pow(exponent))
}

/// Evaluates one expression exactly.
///
/// ```
/// use distloop::apps::calc::expression::evaluate;
/// assert_eq!(evaluate("2 * (3 + 4)").unwrap().to_string(), "14");
/// assert_eq!(evaluate("1/3 + 1/6").unwrap().to_string(), "1/2");
/// assert_eq!(evaluate("1 / (2 - 2)").unwrap_err().to_string(), "division by zero at column 3");
/// ```
pub fn evaluate(text: &str) -> Result<Rational, CalcError> {
    if text.len() > MAX_EXPRESSION_BYTES {
        return Err(CalcError::TooLong { bytes: text.len() });
    }
    let mut parser = Parser {
        bytes: text.as_bytes(),
        position: 0,
        depth: 0,
    };
    let value = parser.sum()?;
    parser.skip_spaces();
    match parser.peek() {
        None => Ok(value),
        Some(b')') => Err(parser.syntax("a `)` without its `(`")),
        Some(_) => Err(parser.syntax(&format!(
            "expected an operator, found {}",
            parser.describe_here()
        ))),
    }
}

struct Parser<'a> {
    bytes: &'a [u8],
    position: usize,
    depth: usize,
}

impl Parser<'_> {
    fn column(&self) -> usize {
        self.position + 1
    }

    fn syntax(&self, message: &str) -> CalcError {
        CalcError::Syntax {
            column: self.column(),
            message: message.to_string(),
        }
    }

    fn skip_spaces(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r')) {
            self.position += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.position).copied()
    }

    fn describe_here(&self) -> String {
        match self.peek() {
            None => "the end".into(),
            Some(byte) if byte.is_ascii_graphic() => format!("`{}`", byte as char),
            Some(byte) => format!("byte 0x{byte:02x}"),
        }
    }

    fn descend(&mut self) -> Result<(), CalcError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(CalcError::TooDeep {
                column: self.column(),
            });
        }
        Ok(())
    }

    fn sum(&mut self) -> Result<Rational, CalcError> {
        let mut value = self.product()?;
        loop {
            self.skip_spaces();
            let op = match self.peek() {
                Some(b'+') => Operator::Add,
                Some(b'-') => Operator::Subtract,
                _ => return Ok(value),
            };
            let column = self.column();
            self.position += 1;
            let right = self.product()?;
            value = apply(op, &value, &right, column)?;
        }
    }

    fn product(&mut self) -> Result<Rational, CalcError> {
        let mut value = self.unary()?;
        loop {
            self.skip_spaces();
            let op = match self.peek() {
                Some(b'*') if self.bytes.get(self.position + 1) != Some(&b'*') => {
                    Operator::Multiply
                }
                Some(b'/') => Operator::Divide,
                Some(b'%') => Operator::Remainder,
                _ => return Ok(value),
            };
            let column = self.column();
            self.position += 1;
            let right = self.unary()?;
            value = apply(op, &value, &right, column)?;
        }
    }

    fn unary(&mut self) -> Result<Rational, CalcError> {
        self.skip_spaces();
        match self.peek() {
            Some(sign @ (b'-' | b'+')) => {
                self.descend()?;
                self.position += 1;
                let value = self.unary()?;
                self.depth -= 1;
                Ok(if sign == b'-' { -value } else { value })
            }
            _ => self.power(),
        }
    }

    fn power(&mut self) -> Result<Rational, CalcError> {
        let base = self.atom()?;
        self.skip_spaces();
        let column = self.column();
        let width = match (self.peek(), self.bytes.get(self.position + 1)) {
            (Some(b'^'), _) => 1,
            (Some(b'*'), Some(b'*')) => 2,
            _ => return Ok(base),
        };
        self.position += width;
        self.descend()?;
        let exponent = self.unary()?;
        self.depth -= 1;
        apply(Operator::Power, &base, &exponent, column)
    }

    fn atom(&mut self) -> Result<Rational, CalcError> {
        self.skip_spaces();
        match self.peek() {
            Some(b'(') => {
                self.descend()?;
                self.position += 1;
                let value = self.sum()?;
                self.skip_spaces();
                if self.peek() != Some(b')') {
                    return Err(
                        self.syntax(&format!("expected `)`, found {}", self.describe_here()))
                    );
                }
                self.position += 1;
                self.depth -= 1;
                Ok(value)
            }
            Some(b'0'..=b'9' | b'.') => self.number(),
            _ => Err(self.syntax(&format!(
                "expected a number or `(`, found {}",
                self.describe_here()
            ))),
        }
    }

    fn number(&mut self) -> Result<Rational, CalcError> {
        let start = self.position;
        let column = start + 1;
        match parse_literal(&self.bytes[start..]) {
            Ok((value, used)) => {
                self.position += used;
                Ok(value)
            }
            Err(LiteralError::Malformed(offset)) => {
                self.position = start + offset;
                Err(self.syntax("a malformed number"))
            }
            Err(LiteralError::ExponentTooLarge) => Err(CalcError::ExponentTooLarge { column }),
            Err(LiteralError::TooLarge) => Err(CalcError::ResultTooLarge { column }),
        }
    }
}
