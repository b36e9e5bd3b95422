//! The data-only pickle reader.
//!
//! Containers live in an arena while the opcodes run, because Python shares
//! them through the memo and fills them after memoizing them; the arena
//! becomes a [`Value`] at STOP, bounded in depth (which also refuses
//! cycles) and in total size (which refuses memo-reference bombs).

use std::collections::HashMap;

use super::arena::{Budget, Node, NodeId, materialize};
use super::error::PickleError;
use super::limits::Limits;
use super::opcode::{code_loading_name, unsupported_name};
use super::text;
use super::value::Value;

/// The highest pickle protocol Python writes today.
const HIGHEST_PROTOCOL: u8 = 5;

/// Decodes one pickle (protocols 0 to 5) as plain data, within the default [`Limits`].
pub fn decode(bytes: &[u8]) -> Result<Value, PickleError> {
    decode_with(bytes, &Limits::default())
}

/// Decodes one pickle (protocols 0 to 5) as plain data, within `limits`.
/// Bytes after STOP are refused.
pub fn decode_with(bytes: &[u8], limits: &Limits) -> Result<Value, PickleError> {
    let (nodes, root) = run(bytes, Calls::Refused)?;
    let mut budget = Budget::new(limits);
    materialize(&nodes, root, 0, limits, &mut budget)
}

/// Whether GLOBAL and REDUCE may spell bytes as Python 3 writes them in
/// protocols 0 to 2, which have no bytes opcode: `_codecs.encode(text,
/// "latin1")` and `__builtin__.bytes()`. The reader builds those bytes
/// itself; any other GLOBAL or REDUCE is refused all the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Calls {
    Refused,
    BytesOnly,
}

/// The two calls [`Calls::BytesOnly`] knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BytesCall {
    /// `_codecs.encode(text, "latin1")`.
    Latin1,
    /// `__builtin__.bytes()`: empty bytes.
    Empty,
}

/// Runs the opcodes of one pickle: the arena of what they built, and the
/// root. Bytes after STOP are refused.
pub(super) fn run(bytes: &[u8], calls: Calls) -> Result<(Vec<Node>, NodeId), PickleError> {
    let mut machine = Machine {
        calls,
        input: bytes,
        pos: 0,
        nodes: Vec::new(),
        stack: Vec::new(),
        memo: HashMap::new(),
    };
    let root = machine.run()?;
    if machine.pos != bytes.len() {
        return Err(PickleError::Malformed("bytes after STOP"));
    }
    Ok((machine.nodes, root))
}

enum Slot {
    Node(NodeId),
    Mark,
}

struct Machine<'a> {
    calls: Calls,
    input: &'a [u8],
    pos: usize,
    nodes: Vec<Node>,
    stack: Vec<Slot>,
    memo: HashMap<u64, NodeId>,
}

impl<'a> Machine<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], PickleError> {
        let end = self.pos.checked_add(n).ok_or(PickleError::Truncated)?;
        let slice = self
            .input
            .get(self.pos..end)
            .ok_or(PickleError::Truncated)?;
        self.pos = end;
        Ok(slice)
    }

    fn byte(&mut self) -> Result<u8, PickleError> {
        Ok(self.take(1)?[0])
    }

    /// An unsigned little-endian integer of `n` bytes (at most 8).
    fn le(&mut self, n: usize) -> Result<u64, PickleError> {
        let bytes = self.take(n)?;
        Ok(bytes
            .iter()
            .rev()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    /// A signed little-endian integer of `len_bytes` bytes (LONG1, LONG4).
    fn long(&mut self, len_bytes: usize) -> Result<Node, PickleError> {
        let len = usize::try_from(self.le(len_bytes)?).map_err(|_| PickleError::Truncated)?;
        let bytes = self.take(len)?;
        if len > 8 {
            return Ok(Node::BigInt(bytes.to_vec()));
        }
        let mut buf = if bytes.last().is_some_and(|b| b & 0x80 != 0) {
            [0xff; 8]
        } else {
            [0; 8]
        };
        buf[..bytes.len()].copy_from_slice(bytes);
        Ok(Node::Scalar(Value::Int(i64::from_le_bytes(buf))))
    }

    /// The bytes after a little-endian length of `len_bytes` bytes.
    fn sized(&mut self, len_bytes: usize) -> Result<&'a [u8], PickleError> {
        let len = usize::try_from(self.le(len_bytes)?).map_err(|_| PickleError::Truncated)?;
        self.take(len)
    }

    fn utf8(&mut self, len_bytes: usize) -> Result<Value, PickleError> {
        let bytes = self.sized(len_bytes)?;
        let text = std::str::from_utf8(bytes)
            .map_err(|_| PickleError::Malformed("a str that is not UTF-8"))?;
        Ok(Value::Str(text.to_string()))
    }

    /// A protocol 0 argument, up to its newline.
    fn line(&mut self) -> Result<&'a [u8], PickleError> {
        let rest = &self.input[self.pos..];
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or(PickleError::Truncated)?;
        self.pos += end + 1;
        Ok(&rest[..end])
    }

    fn push(&mut self, node: Node) {
        self.nodes.push(node);
        self.stack.push(Slot::Node(self.nodes.len() - 1));
    }

    fn pop(&mut self) -> Result<NodeId, PickleError> {
        match self.stack.pop() {
            Some(Slot::Node(id)) => Ok(id),
            Some(Slot::Mark) => Err(PickleError::Malformed("MARK where a value was expected")),
            None => Err(PickleError::Malformed("stack underflow")),
        }
    }

    fn top(&self) -> Result<NodeId, PickleError> {
        match self.stack.last() {
            Some(Slot::Node(id)) => Ok(*id),
            _ => Err(PickleError::Malformed("no value on the stack")),
        }
    }

    /// Pops everything down to the topmost MARK, oldest first.
    fn pop_to_mark(&mut self) -> Result<Vec<NodeId>, PickleError> {
        let mark = self
            .stack
            .iter()
            .rposition(|s| matches!(s, Slot::Mark))
            .ok_or(PickleError::Malformed("no MARK on the stack"))?;
        let items = self
            .stack
            .drain(mark + 1..)
            .filter_map(|s| match s {
                Slot::Node(id) => Some(id),
                Slot::Mark => None,
            })
            .collect();
        self.stack.pop();
        Ok(items)
    }

    fn append(&mut self, items: &[NodeId]) -> Result<(), PickleError> {
        let list = self.top()?;
        match &mut self.nodes[list] {
            Node::List(v) => {
                v.extend_from_slice(items);
                Ok(())
            }
            _ => Err(PickleError::Malformed(
                "APPEND to something that is not a list",
            )),
        }
    }

    fn set_items(&mut self, items: &[NodeId]) -> Result<(), PickleError> {
        if items.len() % 2 != 0 {
            return Err(PickleError::Malformed("SETITEMS with a key and no value"));
        }
        let dict = self.top()?;
        match &mut self.nodes[dict] {
            Node::Dict(v) => {
                v.extend(items.chunks(2).map(|kv| (kv[0], kv[1])));
                Ok(())
            }
            _ => Err(PickleError::Malformed(
                "SETITEM on something that is not a dict",
            )),
        }
    }

    /// GLOBAL, when it names one of the bytes calls and they are allowed.
    fn global(&mut self) -> Result<Option<BytesCall>, PickleError> {
        if self.calls == Calls::Refused {
            return Ok(None);
        }
        let module = self.line()?;
        let name = self.line()?;
        Ok(match (module, name) {
            (b"_codecs", b"encode") => Some(BytesCall::Latin1),
            (b"__builtin__" | b"builtins", b"bytes") => Some(BytesCall::Empty),
            _ => None,
        })
    }

    /// REDUCE of a bytes call: the bytes, built here.
    fn reduce(&mut self) -> Result<Option<Node>, PickleError> {
        if self.calls == Calls::Refused {
            return Ok(None);
        }
        let args = self.pop()?;
        let call = self.pop()?;
        let Node::Call(call) = self.nodes[call] else {
            return Ok(None);
        };
        let Node::Tuple(args) = &self.nodes[args] else {
            return Err(PickleError::Malformed("REDUCE without an argument tuple"));
        };
        let text = |id: NodeId| match &self.nodes[id] {
            Node::Scalar(Value::Str(s)) => Some(s.as_str()),
            _ => None,
        };
        let bytes = match (call, args.as_slice()) {
            (BytesCall::Empty, []) => Vec::new(),
            (BytesCall::Latin1, &[data, encoding]) if text(encoding) == Some("latin1") => {
                text(data)
                    .ok_or(PickleError::Malformed("latin1 bytes that are not text"))?
                    .chars()
                    .map(|c| u8::try_from(u32::from(c)))
                    .collect::<Result<_, _>>()
                    .map_err(|_| PickleError::Malformed("latin1 bytes beyond U+00FF"))?
            }
            _ => return Err(PickleError::Malformed("a bytes call with other arguments")),
        };
        Ok(Some(Node::Scalar(Value::Bytes(bytes))))
    }

    fn memo_put(&mut self, index: u64) -> Result<(), PickleError> {
        let top = self.top()?;
        self.memo.insert(index, top);
        Ok(())
    }

    fn memo_get(&mut self, index: u64) -> Result<(), PickleError> {
        let id = *self
            .memo
            .get(&index)
            .ok_or(PickleError::EmptyMemoSlot(index))?;
        self.stack.push(Slot::Node(id));
        Ok(())
    }

    /// Runs the opcodes up to STOP and returns the node it pops.
    fn run(&mut self) -> Result<NodeId, PickleError> {
        loop {
            let op = self.byte()?;
            let scalar = match op {
                0x80 => {
                    let version = self.byte()?;
                    if version > HIGHEST_PROTOCOL {
                        return Err(PickleError::UnknownProtocol(version));
                    }
                    continue;
                }
                0x95 => {
                    self.take(8)?;
                    continue;
                }
                b'.' => return self.pop(),
                b'N' => Value::None,
                0x88 => Value::Bool(true),
                0x89 => Value::Bool(false),
                b'J' => Value::Int(i64::from(self.le(4)? as u32 as i32)),
                b'K' => Value::Int(self.le(1)? as i64),
                b'M' => Value::Int(self.le(2)? as i64),
                b'I' => text::int(self.line()?)?,
                b'L' => text::long(self.line()?)?,
                b'c' => match self.global()? {
                    Some(call) => {
                        self.push(Node::Call(call));
                        continue;
                    }
                    None => {
                        return Err(PickleError::Refused {
                            opcode: op,
                            name: "GLOBAL",
                        });
                    }
                },
                b'R' => match self.reduce()? {
                    Some(bytes) => {
                        self.push(bytes);
                        continue;
                    }
                    None => {
                        return Err(PickleError::Refused {
                            opcode: op,
                            name: "REDUCE",
                        });
                    }
                },
                0x8a | 0x8b => {
                    let node = self.long(if op == 0x8a { 1 } else { 4 })?;
                    self.nodes.push(node);
                    self.stack.push(Slot::Node(self.nodes.len() - 1));
                    continue;
                }
                b'G' => Value::Float(f64::from_be_bytes(
                    self.take(8)?.try_into().expect("8 bytes"),
                )),
                b'F' => text::float(self.line()?)?,
                0x8c => self.utf8(1)?,
                b'X' => self.utf8(4)?,
                0x8d => self.utf8(8)?,
                b'V' => text::raw_unicode_escape(self.line()?)?,
                b'C' | b'U' => Value::Bytes(self.sized(1)?.to_vec()),
                b'B' | b'T' => Value::Bytes(self.sized(4)?.to_vec()),
                0x8e => Value::Bytes(self.sized(8)?.to_vec()),
                b']' => {
                    self.push(Node::List(Vec::new()));
                    continue;
                }
                b')' => {
                    self.push(Node::Tuple(Vec::new()));
                    continue;
                }
                b'}' => {
                    self.push(Node::Dict(Vec::new()));
                    continue;
                }
                b'(' => {
                    self.stack.push(Slot::Mark);
                    continue;
                }
                b'a' => {
                    let item = self.pop()?;
                    self.append(&[item])?;
                    continue;
                }
                b'e' => {
                    let items = self.pop_to_mark()?;
                    self.append(&items)?;
                    continue;
                }
                b's' => {
                    let value = self.pop()?;
                    let key = self.pop()?;
                    self.set_items(&[key, value])?;
                    continue;
                }
                b'u' => {
                    let items = self.pop_to_mark()?;
                    self.set_items(&items)?;
                    continue;
                }
                b'l' => {
                    let items = self.pop_to_mark()?;
                    self.push(Node::List(items));
                    continue;
                }
                b't' => {
                    let items = self.pop_to_mark()?;
                    self.push(Node::Tuple(items));
                    continue;
                }
                b'd' => {
                    let items = self.pop_to_mark()?;
                    self.push(Node::Dict(Vec::new()));
                    self.set_items(&items)?;
                    continue;
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop()?);
                    }
                    items.reverse();
                    self.push(Node::Tuple(items));
                    continue;
                }
                0x94 => {
                    let index = self.memo.len() as u64;
                    self.memo_put(index)?;
                    continue;
                }
                b'p' | b'q' | b'r' => {
                    let index = match op {
                        b'p' => text::memo_index(self.line()?)?,
                        b'q' => self.le(1)?,
                        _ => self.le(4)?,
                    };
                    self.memo_put(index)?;
                    continue;
                }
                b'g' | b'h' | b'j' => {
                    let index = match op {
                        b'g' => text::memo_index(self.line()?)?,
                        b'h' => self.le(1)?,
                        _ => self.le(4)?,
                    };
                    self.memo_get(index)?;
                    continue;
                }
                b'0' => {
                    self.stack
                        .pop()
                        .ok_or(PickleError::Malformed("POP on an empty stack"))?;
                    continue;
                }
                b'1' => {
                    self.pop_to_mark()?;
                    continue;
                }
                b'2' => {
                    let top = self.top()?;
                    self.stack.push(Slot::Node(top));
                    continue;
                }
                other => {
                    return Err(match code_loading_name(other) {
                        Some(name) => PickleError::Refused {
                            opcode: other,
                            name,
                        },
                        None => PickleError::Unsupported {
                            opcode: other,
                            name: unsupported_name(other),
                        },
                    });
                }
            };
            self.push(Node::Scalar(scalar));
        }
    }
}
