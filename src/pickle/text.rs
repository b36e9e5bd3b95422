//! The arguments of protocol 0's text opcodes (INT, LONG, FLOAT, UNICODE,
//! PUT, GET): newline-terminated ASCII, as Python writes them.

use super::error::PickleError;
use super::value::Value;

fn ascii<'a>(line: &'a [u8], what: &'static str) -> Result<&'a str, PickleError> {
    std::str::from_utf8(line).map_err(|_| PickleError::Malformed(what))
}

/// INT's argument: `00` and `01` are Python's False and True.
pub(super) fn int(line: &[u8]) -> Result<Value, PickleError> {
    match ascii(line, "a bad text int")? {
        "00" => Ok(Value::Bool(false)),
        "01" => Ok(Value::Bool(true)),
        digits => long(digits.as_bytes()),
    }
}

/// LONG's argument, with or without Python 2's trailing `L`.
pub(super) fn long(line: &[u8]) -> Result<Value, PickleError> {
    ascii(line, "a bad text int")?
        .trim_end_matches('L')
        .parse()
        .map(Value::Int)
        .map_err(|_| PickleError::Malformed("a text int that is not a 64-bit integer"))
}

/// FLOAT's argument, in `repr` form.
pub(super) fn float(line: &[u8]) -> Result<Value, PickleError> {
    ascii(line, "a bad text float")?
        .parse()
        .map(Value::Float)
        .map_err(|_| PickleError::Malformed("a bad text float"))
}

/// The memo index of PUT and GET.
pub(super) fn memo_index(line: &[u8]) -> Result<u64, PickleError> {
    ascii(line, "a bad memo index")?
        .parse()
        .map_err(|_| PickleError::Malformed("a bad memo index"))
}

/// UNICODE's argument: Python's raw-unicode-escape, where `\uXXXX` and
/// `\UXXXXXXXX` are escapes and every other byte is a Latin-1 character.
pub(super) fn raw_unicode_escape(bytes: &[u8]) -> Result<Value, PickleError> {
    let mut out = String::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let width = match (bytes[i], bytes.get(i + 1)) {
            (b'\\', Some(b'u')) => 4,
            (b'\\', Some(b'U')) => 8,
            _ => 0,
        };
        if width > 0 && i + 2 + width <= bytes.len() {
            let hex = ascii(&bytes[i + 2..i + 2 + width], "a bad \\u escape")?;
            let code = u32::from_str_radix(hex, 16)
                .map_err(|_| PickleError::Malformed("a bad \\u escape"))?;
            out.push(char::from_u32(code).ok_or(PickleError::Malformed("a bad code point"))?);
            i += 2 + width;
        } else {
            out.push(char::from(bytes[i]));
            i += 1;
        }
    }
    Ok(Value::Str(out))
}
