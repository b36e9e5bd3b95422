//! A data-only pickle codec, for the original Python client's datagrams.
//!
//! The decoder knows the opcodes that build plain data (None, booleans,
//! integers, floats, strings, bytes, lists, tuples, dicts, the memo) and
//! refuses every opcode that names a Python callable or object (GLOBAL,
//! STACK_GLOBAL, REDUCE, BUILD, INST, OBJ, NEWOBJ, NEWOBJ_EX, the persistent
//! ids and the extension registry): a pickle is read as data, never as a
//! program. The encoder writes protocol 3, which every Python 3 reads.
//!
//! A decoded pickle is bounded: containers nest at most
//! [`MAX_NESTING_DEPTH`] levels and the value holds at most
//! [`MAX_DECODED_UNITS`] units (one per value plus one per byte of text), so
//! a short pickle that duplicates a value again and again (DUP, memo GET)
//! is refused instead of growing without bound.
//!
//! Limitation: the memo stores values, not references, so a container
//! fetched from the memo is the copy made when it was memoized. Plain
//! message dicts never refer back to a container.

use std::collections::BTreeMap;
use std::fmt;

/// A decoded pickle value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `None`.
    None,
    /// `True` or `False`.
    Bool(bool),
    /// An int that fits 64 bits.
    Int(i64),
    /// A float.
    Float(f64),
    /// A `str`.
    Str(String),
    /// A `bytes` (or a Python 2 `str`).
    Bytes(Vec<u8>),
    /// A `list`.
    List(Vec<Value>),
    /// A `tuple`.
    Tuple(Vec<Value>),
    /// A `dict`, in insertion order.
    Dict(Vec<(Value, Value)>),
}

impl Value {
    /// The value of `key` in a dict with string keys.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Dict(items) => items
                .iter()
                .find(|(k, _)| matches!(k, Value::Str(s) if s == key))
                .map(|(_, v)| v),
            _ => None,
        }
    }
}

/// Why a datagram is not an acceptable pickle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PickleError {
    /// It ended before STOP.
    Truncated,
    /// An opcode that would load or call Python code.
    Forbidden(u8),
    /// An opcode this codec does not know.
    Unsupported(u8),
    /// The opcodes do not form a value.
    Malformed(&'static str),
}

impl fmt::Display for PickleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated => f.write_str("the pickle ends before its STOP opcode"),
            Self::Forbidden(op) => {
                write!(f, "pickle opcode 0x{op:02x} loads code and is refused")
            }
            Self::Unsupported(op) => write!(f, "pickle opcode 0x{op:02x} is not supported"),
            Self::Malformed(why) => write!(f, "malformed pickle: {why}"),
        }
    }
}

impl std::error::Error for PickleError {}

/// How deep lists, tuples and dicts may nest in a decoded pickle.
pub const MAX_NESTING_DEPTH: usize = 64;

/// Size bound of one decoded pickle: one unit per value plus one per byte
/// of its strings and bytes (1 Mi units, a few tens of MiB at most).
pub const MAX_DECODED_UNITS: usize = 1 << 20;

const TOO_DEEP: PickleError = PickleError::Malformed("containers nest too deep");
const TOO_LARGE: PickleError = PickleError::Malformed("the value expands past the size limit");

/// Opcodes that reach Python callables or classes.
const FORBIDDEN: &[u8] = &[
    b'c', // GLOBAL
    0x93, // STACK_GLOBAL
    b'R', // REDUCE
    b'b', // BUILD
    b'i', // INST
    b'o', // OBJ
    0x81, // NEWOBJ
    0x92, // NEWOBJ_EX
    b'P', // PERSID
    b'Q', // BINPERSID
    0x82, // EXT1
    0x83, // EXT2
    0x84, // EXT4
];

enum Slot {
    Mark,
    /// A value and its nesting depth (0 for a scalar, 1 for a flat container).
    Value(Value, usize),
}

/// Charges the units of `value` (and everything in it) to `left`, walking
/// no further than the units that are left.
fn charge(value: &Value, left: &mut usize) -> Result<(), PickleError> {
    let own = match value {
        Value::Str(s) => s.len(),
        Value::Bytes(b) => b.len(),
        _ => 0,
    };
    *left = left.checked_sub(1 + own).ok_or(TOO_LARGE)?;
    match value {
        Value::List(items) | Value::Tuple(items) => {
            items.iter().try_for_each(|item| charge(item, left))
        }
        Value::Dict(items) => items.iter().try_for_each(|(k, v)| {
            charge(k, left)?;
            charge(v, left)
        }),
        _ => Ok(()),
    }
}

/// The depth of a container holding values of `depths`, if within the limit.
fn container_depth(depths: impl IntoIterator<Item = usize>) -> Result<usize, PickleError> {
    let depth = 1 + depths.into_iter().max().unwrap_or(0);
    if depth > MAX_NESTING_DEPTH {
        return Err(TOO_DEEP);
    }
    Ok(depth)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], PickleError> {
        let end = self.at.checked_add(n).ok_or(PickleError::Truncated)?;
        let slice = self.bytes.get(self.at..end).ok_or(PickleError::Truncated)?;
        self.at = end;
        Ok(slice)
    }

    fn byte(&mut self) -> Result<u8, PickleError> {
        Ok(self.take(1)?[0])
    }

    fn uint(&mut self, n: usize) -> Result<u64, PickleError> {
        let bytes = self.take(n)?;
        Ok(bytes
            .iter()
            .rev()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    fn line(&mut self) -> Result<&'a [u8], PickleError> {
        let rest = &self.bytes[self.at..];
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or(PickleError::Truncated)?;
        self.at += end + 1;
        Ok(&rest[..end])
    }

    fn sized(&mut self, len_bytes: usize) -> Result<&'a [u8], PickleError> {
        let len = self.uint(len_bytes)?;
        let len = usize::try_from(len).map_err(|_| PickleError::Truncated)?;
        self.take(len)
    }
}

fn utf8(bytes: &[u8]) -> Result<String, PickleError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| PickleError::Malformed("a str that is not UTF-8"))
}

/// Python's raw-unicode-escape, as written by protocol 0's UNICODE opcode.
fn raw_unicode_escape(bytes: &[u8]) -> Result<String, PickleError> {
    let mut out = String::new();
    let mut i = 0;
    while i < bytes.len() {
        let width = match (bytes[i], bytes.get(i + 1)) {
            (b'\\', Some(b'u')) => 4,
            (b'\\', Some(b'U')) => 8,
            _ => 0,
        };
        if width > 0 && i + 2 + width <= bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 2..i + 2 + width])
                .map_err(|_| PickleError::Malformed("a bad \\u escape"))?;
            let code = u32::from_str_radix(hex, 16)
                .map_err(|_| PickleError::Malformed("a bad \\u escape"))?;
            out.push(char::from_u32(code).ok_or(PickleError::Malformed("a bad code point"))?);
            i += 2 + width;
        } else {
            out.push(char::from(bytes[i]));
            i += 1;
        }
    }
    Ok(out)
}

fn text_int(line: &[u8]) -> Result<Value, PickleError> {
    let text = std::str::from_utf8(line).map_err(|_| PickleError::Malformed("a bad int"))?;
    match text.trim_end_matches('L') {
        "00" => Ok(Value::Bool(false)),
        "01" => Ok(Value::Bool(true)),
        digits => digits
            .parse()
            .map(Value::Int)
            .map_err(|_| PickleError::Malformed("an int beyond 64 bits")),
    }
}

fn pop_value(stack: &mut Vec<Slot>) -> Result<(Value, usize), PickleError> {
    match stack.pop() {
        Some(Slot::Value(v, depth)) => Ok((v, depth)),
        _ => Err(PickleError::Malformed("a value was expected on the stack")),
    }
}

/// The values above the topmost mark, in order, and their greatest depth.
fn pop_to_mark(stack: &mut Vec<Slot>) -> Result<(Vec<Value>, usize), PickleError> {
    let mut items = Vec::new();
    let mut depth = 0;
    loop {
        match stack.pop() {
            Some(Slot::Mark) => break,
            Some(Slot::Value(v, d)) => {
                items.push(v);
                depth = depth.max(d);
            }
            None => return Err(PickleError::Malformed("no mark on the stack")),
        }
    }
    items.reverse();
    Ok((items, depth))
}

fn pairs(items: Vec<Value>) -> Result<Vec<(Value, Value)>, PickleError> {
    if items.len() % 2 != 0 {
        return Err(PickleError::Malformed("a dict with a key and no value"));
    }
    let mut out = Vec::with_capacity(items.len() / 2);
    let mut it = items.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((k, v));
    }
    Ok(out)
}

/// The container on top of the stack and its depth, after `extra` values of
/// depth up to `extra_depth` were added to it.
fn top_mut(stack: &mut [Slot], extra_depth: usize) -> Result<&mut Value, PickleError> {
    match stack.last_mut() {
        Some(Slot::Value(v, depth)) => {
            *depth = (*depth).max(container_depth([extra_depth])?);
            Ok(v)
        }
        _ => Err(PickleError::Malformed(
            "a container was expected on the stack",
        )),
    }
}

/// Decodes one pickle (protocols 0 to 5) into plain data.
pub fn decode(bytes: &[u8]) -> Result<Value, PickleError> {
    let mut reader = Reader { bytes, at: 0 };
    let mut stack: Vec<Slot> = Vec::new();
    let mut memo: BTreeMap<u64, (Value, usize)> = BTreeMap::new();
    let mut left = MAX_DECODED_UNITS;
    loop {
        let op = reader.byte()?;
        if FORBIDDEN.contains(&op) {
            return Err(PickleError::Forbidden(op));
        }
        let value = match op {
            0x80 => {
                reader.byte()?;
                continue;
            }
            0x95 => {
                reader.take(8)?;
                continue;
            }
            b'.' => return pop_value(&mut stack).map(|(v, _)| v),
            b'(' => {
                stack.push(Slot::Mark);
                continue;
            }
            b'}' => Value::Dict(Vec::new()),
            b']' => Value::List(Vec::new()),
            b')' => Value::Tuple(Vec::new()),
            b'N' => Value::None,
            0x88 => Value::Bool(true),
            0x89 => Value::Bool(false),
            b'K' => Value::Int(reader.uint(1)? as i64),
            b'M' => Value::Int(reader.uint(2)? as i64),
            b'J' => Value::Int(i64::from(reader.uint(4)? as u32 as i32)),
            b'I' | b'L' => text_int(reader.line()?)?,
            0x8a => {
                let n = reader.byte()? as usize;
                if n > 8 {
                    return Err(PickleError::Malformed("an int beyond 64 bits"));
                }
                let raw = reader.uint(n)?;
                let shift = 64 - 8 * n as u32;
                Value::Int(if n == 0 {
                    0
                } else {
                    ((raw << shift) as i64) >> shift
                })
            }
            b'G' => Value::Float(f64::from_be_bytes(
                reader.take(8)?.try_into().expect("8 bytes"),
            )),
            b'F' => {
                let text = std::str::from_utf8(reader.line()?)
                    .map_err(|_| PickleError::Malformed("a bad float"))?;
                Value::Float(
                    text.parse()
                        .map_err(|_| PickleError::Malformed("a bad float"))?,
                )
            }
            b'X' => Value::Str(utf8(reader.sized(4)?)?),
            0x8c => Value::Str(utf8(reader.sized(1)?)?),
            0x8d => Value::Str(utf8(reader.sized(8)?)?),
            b'V' => Value::Str(raw_unicode_escape(reader.line()?)?),
            b'C' | b'U' => Value::Bytes(reader.sized(1)?.to_vec()),
            b'B' | b'T' => Value::Bytes(reader.sized(4)?.to_vec()),
            0x8e => Value::Bytes(reader.sized(8)?.to_vec()),
            b'p' | b'q' | b'r' | 0x94 => {
                let index = match op {
                    b'p' => std::str::from_utf8(reader.line()?)
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .ok_or(PickleError::Malformed("a bad memo index"))?,
                    b'q' => reader.uint(1)?,
                    b'r' => reader.uint(4)?,
                    _ => memo.len() as u64,
                };
                let top = match stack.last() {
                    Some(Slot::Value(v, depth)) => {
                        charge(v, &mut left)?;
                        (v.clone(), *depth)
                    }
                    _ => return Err(PickleError::Malformed("nothing to memoize")),
                };
                memo.insert(index, top);
                continue;
            }
            b'g' | b'h' | b'j' => {
                let index = match op {
                    b'g' => std::str::from_utf8(reader.line()?)
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .ok_or(PickleError::Malformed("a bad memo index"))?,
                    b'h' => reader.uint(1)?,
                    _ => reader.uint(4)?,
                };
                let (value, depth) = memo
                    .get(&index)
                    .ok_or(PickleError::Malformed("a memo index never stored"))?;
                charge(value, &mut left)?;
                stack.push(Slot::Value(value.clone(), *depth));
                continue;
            }
            b's' => {
                let (v, v_depth) = pop_value(&mut stack)?;
                let (k, k_depth) = pop_value(&mut stack)?;
                match top_mut(&mut stack, v_depth.max(k_depth))? {
                    Value::Dict(items) => items.push((k, v)),
                    _ => return Err(PickleError::Malformed("SETITEM on a non-dict")),
                }
                continue;
            }
            b'u' => {
                let (items, depth) = pop_to_mark(&mut stack)?;
                let items = pairs(items)?;
                match top_mut(&mut stack, depth)? {
                    Value::Dict(dict) => dict.extend(items),
                    _ => return Err(PickleError::Malformed("SETITEMS on a non-dict")),
                }
                continue;
            }
            b'a' => {
                let (v, depth) = pop_value(&mut stack)?;
                match top_mut(&mut stack, depth)? {
                    Value::List(list) => list.push(v),
                    _ => return Err(PickleError::Malformed("APPEND on a non-list")),
                }
                continue;
            }
            b'e' => {
                let (items, depth) = pop_to_mark(&mut stack)?;
                match top_mut(&mut stack, depth)? {
                    Value::List(list) => list.extend(items),
                    _ => return Err(PickleError::Malformed("APPENDS on a non-list")),
                }
                continue;
            }
            b't' | b'l' | b'd' => {
                let (items, depth) = pop_to_mark(&mut stack)?;
                let value = match op {
                    b't' => Value::Tuple(items),
                    b'l' => Value::List(items),
                    _ => Value::Dict(pairs(items)?),
                };
                stack.push(Slot::Value(value, container_depth([depth])?));
                continue;
            }
            0x85..=0x87 => {
                let n = usize::from(op - 0x84);
                let mut items = Vec::with_capacity(n);
                let mut depth = 0;
                for _ in 0..n {
                    let (item, d) = pop_value(&mut stack)?;
                    items.push(item);
                    depth = depth.max(d);
                }
                items.reverse();
                stack.push(Slot::Value(Value::Tuple(items), container_depth([depth])?));
                continue;
            }
            b'0' => {
                pop_value(&mut stack)?;
                continue;
            }
            b'2' => {
                let (value, depth) = match stack.last() {
                    Some(Slot::Value(v, depth)) => (v, *depth),
                    _ => return Err(PickleError::Malformed("nothing to duplicate")),
                };
                charge(value, &mut left)?;
                stack.push(Slot::Value(value.clone(), depth));
                continue;
            }
            other => return Err(PickleError::Unsupported(other)),
        };
        // Every value pushed here is a scalar or an empty container.
        charge(&value, &mut left)?;
        let depth = match value {
            Value::List(_) | Value::Tuple(_) | Value::Dict(_) => 1,
            _ => 0,
        };
        stack.push(Slot::Value(value, depth));
    }
}

/// Encodes plain data as a protocol 3 pickle.
pub fn encode(value: &Value) -> Vec<u8> {
    let mut out = vec![0x80, 3];
    write_value(&mut out, value);
    out.push(b'.');
    out
}

fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::None => out.push(b'N'),
        Value::Bool(true) => out.push(0x88),
        Value::Bool(false) => out.push(0x89),
        Value::Int(n) => match i32::try_from(*n) {
            Ok(small) => {
                out.push(b'J');
                out.extend_from_slice(&small.to_le_bytes());
            }
            Err(_) => {
                out.extend_from_slice(&[0x8a, 8]);
                out.extend_from_slice(&n.to_le_bytes());
            }
        },
        Value::Float(x) => {
            out.push(b'G');
            out.extend_from_slice(&x.to_be_bytes());
        }
        Value::Str(s) => {
            out.push(b'X');
            out.extend_from_slice(&(s.len() as u32).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        Value::Bytes(b) => {
            out.push(b'B');
            out.extend_from_slice(&(b.len() as u32).to_le_bytes());
            out.extend_from_slice(b);
        }
        Value::List(items) => {
            out.push(b']');
            if !items.is_empty() {
                out.push(b'(');
                items.iter().for_each(|v| write_value(out, v));
                out.push(b'e');
            }
        }
        Value::Tuple(items) => {
            out.push(b'(');
            items.iter().for_each(|v| write_value(out, v));
            out.push(b't');
        }
        Value::Dict(items) => {
            out.push(b'}');
            if !items.is_empty() {
                out.push(b'(');
                for (k, v) in items {
                    write_value(out, k);
                    write_value(out, v);
                }
                out.push(b'u');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put_kv() -> Value {
        Value::Dict(vec![
            (Value::Str("method".into()), Value::Str("PUT".into())),
            (
                Value::Str("args".into()),
                Value::Dict(vec![
                    (Value::Str("key".into()), Value::Str("k".into())),
                    (Value::Str("value".into()), Value::Str("v".into())),
                ]),
            ),
        ])
    }

    // Produced by CPython's pickle.dumps of {"method": "PUT", "args": {"key": "k", "value": "v"}}.
    const PROTOCOL_0: &[u8] = b"(dp0\nVmethod\np1\nVPUT\np2\nsVargs\np3\n(dp4\nVkey\np5\nVk\np6\nsVvalue\np7\nVv\np8\nss.";
    const PROTOCOL_2: &[u8] = b"\x80\x02}q\x00(X\x06\x00\x00\x00methodq\x01X\x03\x00\x00\x00PUTq\x02X\x04\x00\x00\x00argsq\x03}q\x04(X\x03\x00\x00\x00keyq\x05X\x01\x00\x00\x00kq\x06X\x05\x00\x00\x00valueq\x07X\x01\x00\x00\x00vq\x08uu.";
    const PROTOCOL_4: &[u8] = b"\x80\x04\x955\x00\x00\x00\x00\x00\x00\x00}\x94(\x8c\x06method\x94\x8c\x03PUT\x94\x8c\x04args\x94}\x94(\x8c\x03key\x94\x8c\x01k\x94\x8c\x05value\x94\x8c\x01v\x94uu.";
    /// The same PUT whose value is an object reducing to os.system("echo hi").
    const REDUCE_ATTACK: &[u8] = b"\x80\x04\x95R\x00\x00\x00\x00\x00\x00\x00}\x94(\x8c\x06method\x94\x8c\x03PUT\x94\x8c\x04args\x94}\x94(\x8c\x03key\x94\x8c\x01k\x94\x8c\x05value\x94\x8c\x05posix\x94\x8c\x06system\x94\x93\x94\x8c\x07echo hi\x94\x85\x94R\x94uu.";

    #[test]
    fn cpython_pickles_of_every_protocol_decode_to_the_same_dict() {
        for bytes in [PROTOCOL_0, PROTOCOL_2, PROTOCOL_4] {
            assert_eq!(decode(bytes).unwrap(), put_kv());
        }
    }

    #[test]
    fn small_ints_of_protocol_four_decode() {
        let get = b"\x80\x04\x95&\x00\x00\x00\x00\x00\x00\x00}\x94(\x8c\x06method\x94\x8c\x03GET\x94\x8c\x04args\x94}\x94\x8c\x03key\x94K\x07su.";
        let value = decode(get).unwrap();
        assert_eq!(value.get("args").unwrap().get("key"), Some(&Value::Int(7)));
    }

    #[test]
    fn code_loading_opcodes_are_refused() {
        assert_eq!(decode(REDUCE_ATTACK), Err(PickleError::Forbidden(0x93)));
        assert_eq!(decode(b"cos\nsystem\n."), Err(PickleError::Forbidden(b'c')));
        assert_eq!(decode(b"N)R."), Err(PickleError::Forbidden(b'R')));
        assert_eq!(decode(b"}Nb."), Err(PickleError::Forbidden(b'b')));
    }

    #[test]
    fn a_dup_bomb_is_refused_not_expanded() {
        // Found by the dht_datagram fuzz target: DUP then TUPLE2, repeated,
        // doubles the value with every two bytes.
        let mut bomb = vec![0x80, 2, 0x88];
        for _ in 0..40 {
            bomb.extend_from_slice(b"2\x86");
        }
        bomb.push(b'.');
        assert_eq!(decode(&bomb), Err(TOO_LARGE));
    }

    #[test]
    fn a_memo_bomb_of_long_strings_is_refused() {
        let mut bomb = vec![0x80, 2, b'X'];
        bomb.extend_from_slice(&1000u32.to_le_bytes());
        bomb.extend_from_slice(&[b'a'; 1000]);
        bomb.extend_from_slice(b"q\x00(");
        for _ in 0..2000 {
            bomb.extend_from_slice(b"h\x00");
        }
        bomb.extend_from_slice(b"l.");
        assert_eq!(decode(&bomb), Err(TOO_LARGE));
    }

    #[test]
    fn nesting_past_the_limit_is_refused_and_up_to_it_accepted() {
        let nested = |levels: usize| {
            let mut bytes = vec![0x80, 2, b'N'];
            bytes.extend(std::iter::repeat_n(0x85, levels));
            bytes.push(b'.');
            decode(&bytes)
        };
        assert!(nested(MAX_NESTING_DEPTH).is_ok());
        assert_eq!(nested(MAX_NESTING_DEPTH + 1), Err(TOO_DEEP));
        assert_eq!(nested(60_000), Err(TOO_DEEP));
        let mut appended = vec![0x80, 2];
        appended.extend(std::iter::repeat_n(b']', MAX_NESTING_DEPTH + 1));
        appended.extend(std::iter::repeat_n(b'a', MAX_NESTING_DEPTH));
        appended.push(b'.');
        assert_eq!(decode(&appended), Err(TOO_DEEP));
    }

    #[test]
    fn truncated_and_malformed_pickles_are_errors() {
        assert_eq!(decode(&PROTOCOL_4[..20]), Err(PickleError::Truncated));
        assert_eq!(decode(b""), Err(PickleError::Truncated));
        assert!(matches!(decode(b"s."), Err(PickleError::Malformed(_))));
        assert!(matches!(
            decode(b"\x8a\x09"),
            Err(PickleError::Malformed(_))
        ));
        assert_eq!(decode(b"\xff"), Err(PickleError::Unsupported(0xff)));
    }

    #[test]
    fn encoded_values_decode_back() {
        let value = Value::Dict(vec![
            (Value::Str("method".into()), Value::Str("ACK".into())),
            (
                Value::Str("args".into()),
                Value::List(vec![
                    Value::Int(-5),
                    Value::Int(1 << 40),
                    Value::Float(2.5),
                    Value::Bytes(vec![0, 1]),
                    Value::Tuple(vec![Value::None, Value::Bool(true)]),
                ]),
            ),
        ]);
        assert_eq!(decode(&encode(&value)).unwrap(), value);
    }

    #[test]
    fn protocol_zero_unicode_escapes_decode() {
        assert_eq!(
            decode(b"V\\u00e9t\\u00e9\np0\n.").unwrap(),
            Value::Str("été".into())
        );
    }
}
