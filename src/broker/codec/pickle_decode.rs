//! Data-only pickle reader: it understands the opcodes that build None,
//! booleans, integers, floats, strings, lists, tuples and dicts (protocols
//! 2 to 5, as Python writes them) and refuses every other opcode.
//!
//! Nothing here imports, looks up or calls anything: GLOBAL, STACK_GLOBAL,
//! REDUCE, BUILD, INST, OBJ, NEWOBJ, EXT and persistent ids are refused by
//! name, so a pickle that would run code on `pickle.loads` is an error here.
//!
//! Containers live in an arena while the opcodes run, because pickles share
//! them through the memo and fill them after memoizing; the arena is turned
//! into a [`Value`] at STOP, bounded in depth (which also refuses cycles) and
//! in total size (which refuses memo-reference bombs).

use std::collections::HashMap;

use super::{CodecError, Serializer};
use crate::broker::value::{MAX_NESTING_DEPTH, MAX_VALUES_PER_PAYLOAD, Value};

type NodeId = usize;

enum Node {
    Scalar(Value),
    List(Vec<NodeId>),
    Map(Vec<(NodeId, NodeId)>),
}

enum Slot {
    Node(NodeId),
    Mark,
}

fn bad(reason: impl Into<String>) -> CodecError {
    CodecError::malformed(Serializer::Pickle, reason)
}

/// The name of an opcode this reader refuses, for the error message.
fn refused_name(op: u8) -> &'static str {
    match op {
        b'c' => "GLOBAL",
        0x93 => "STACK_GLOBAL",
        b'R' => "REDUCE",
        b'b' => "BUILD",
        b'i' => "INST",
        b'o' => "OBJ",
        0x81 => "NEWOBJ",
        0x92 => "NEWOBJ_EX",
        0x82..=0x84 => "EXT",
        b'P' => "PERSID",
        b'Q' => "BINPERSID",
        b'B' | b'C' | 0x8e => "BINBYTES",
        b'T' | b'U' => "BINSTRING",
        0x96 => "BYTEARRAY8",
        0x97 | 0x98 => "BUFFER",
        0x8f..=0x91 => "SET",
        0x8b => "LONG4",
        b'I' | b'L' | b'F' | b'S' | b'V' | b'p' | b'g' => "protocol 0 text opcode",
        _ => "unknown",
    }
}

struct Machine<'a> {
    input: &'a [u8],
    pos: usize,
    nodes: Vec<Node>,
    stack: Vec<Slot>,
    memo: HashMap<u64, NodeId>,
}

pub(super) fn decode(bytes: &[u8]) -> Result<Value, CodecError> {
    let mut m = Machine {
        input: bytes,
        pos: 0,
        nodes: Vec::new(),
        stack: Vec::new(),
        memo: HashMap::new(),
    };
    let root = m.run()?;
    if m.pos != bytes.len() {
        return Err(bad("bytes after STOP"));
    }
    let mut budget = MAX_VALUES_PER_PAYLOAD;
    m.materialize(root, 0, &mut budget)
}

impl<'a> Machine<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.input.len());
        let end = end.ok_or_else(|| bad("truncated pickle"))?;
        let slice = &self.input[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn u8(&mut self) -> Result<u8, CodecError> {
        Ok(self.take(1)?[0])
    }

    fn le(&mut self, n: usize) -> Result<u64, CodecError> {
        let bytes = self.take(n)?;
        Ok(bytes
            .iter()
            .rev()
            .fold(0u64, |acc, b| (acc << 8) | *b as u64))
    }

    fn push_value(&mut self, value: Value) {
        self.push_node(Node::Scalar(value));
    }

    fn push_node(&mut self, node: Node) {
        self.nodes.push(node);
        self.stack.push(Slot::Node(self.nodes.len() - 1));
    }

    fn pop(&mut self) -> Result<NodeId, CodecError> {
        match self.stack.pop() {
            Some(Slot::Node(id)) => Ok(id),
            Some(Slot::Mark) => Err(bad("MARK where a value was expected")),
            None => Err(bad("stack underflow")),
        }
    }

    fn top(&self) -> Result<NodeId, CodecError> {
        match self.stack.last() {
            Some(Slot::Node(id)) => Ok(*id),
            _ => Err(bad("no value on the stack")),
        }
    }

    /// Pops everything down to the topmost MARK, oldest first.
    fn pop_to_mark(&mut self) -> Result<Vec<NodeId>, CodecError> {
        let mark = self
            .stack
            .iter()
            .rposition(|s| matches!(s, Slot::Mark))
            .ok_or_else(|| bad("no MARK on the stack"))?;
        let items = self
            .stack
            .drain(mark + 1..)
            .map(|s| match s {
                Slot::Node(id) => id,
                Slot::Mark => unreachable!("the topmost mark is at `mark`"),
            })
            .collect();
        self.stack.pop();
        Ok(items)
    }

    fn string(&mut self, len: u64) -> Result<(), CodecError> {
        let len = usize::try_from(len).map_err(|_| bad("string length overflows"))?;
        let bytes = self.take(len)?;
        let text = std::str::from_utf8(bytes).map_err(|_| bad("string is not UTF-8"))?;
        self.push_value(Value::Str(text.to_string()));
        Ok(())
    }

    fn append(&mut self, list: NodeId, items: &[NodeId]) -> Result<(), CodecError> {
        match &mut self.nodes[list] {
            Node::List(v) => {
                v.extend_from_slice(items);
                Ok(())
            }
            _ => Err(bad("APPEND to something that is not a list")),
        }
    }

    fn set_items(&mut self, map: NodeId, items: &[NodeId]) -> Result<(), CodecError> {
        if items.len() % 2 != 0 {
            return Err(bad("SETITEMS with an odd number of items"));
        }
        match &mut self.nodes[map] {
            Node::Map(v) => {
                v.extend(items.chunks(2).map(|kv| (kv[0], kv[1])));
                Ok(())
            }
            _ => Err(bad("SETITEM on something that is not a dict")),
        }
    }

    fn memo_put(&mut self, index: u64) -> Result<(), CodecError> {
        let top = self.top()?;
        self.memo.insert(index, top);
        Ok(())
    }

    fn memo_get(&mut self, index: u64) -> Result<(), CodecError> {
        let id = *self
            .memo
            .get(&index)
            .ok_or_else(|| bad(format!("memo slot {index} is empty")))?;
        self.stack.push(Slot::Node(id));
        Ok(())
    }

    fn run(&mut self) -> Result<NodeId, CodecError> {
        loop {
            let op = self.u8()?;
            match op {
                0x80 => {
                    let version = self.u8()?;
                    if version > 5 {
                        return Err(bad(format!("unknown pickle protocol {version}")));
                    }
                }
                0x95 => {
                    self.take(8)?;
                }
                b'.' => return self.pop(),
                b'N' => self.push_value(Value::Null),
                0x88 => self.push_value(Value::Bool(true)),
                0x89 => self.push_value(Value::Bool(false)),
                b'J' => {
                    let n = self.le(4)? as u32 as i32;
                    self.push_value(Value::Int(n as i64));
                }
                b'K' => {
                    let n = self.le(1)?;
                    self.push_value(Value::Int(n as i64));
                }
                b'M' => {
                    let n = self.le(2)?;
                    self.push_value(Value::Int(n as i64));
                }
                0x8a => {
                    let len = self.u8()? as usize;
                    if len > 8 {
                        return Err(bad("integer does not fit in 64 signed bits"));
                    }
                    let bytes = self.take(len)?;
                    let mut buf = if bytes.last().is_some_and(|b| b & 0x80 != 0) {
                        [0xff; 8]
                    } else {
                        [0; 8]
                    };
                    buf[..len].copy_from_slice(bytes);
                    self.push_value(Value::Int(i64::from_le_bytes(buf)));
                }
                b'G' => {
                    let bytes: [u8; 8] = self.take(8)?.try_into().expect("8 bytes");
                    self.push_value(Value::Float(f64::from_be_bytes(bytes)));
                }
                0x8c => {
                    let len = self.le(1)?;
                    self.string(len)?;
                }
                b'X' => {
                    let len = self.le(4)?;
                    self.string(len)?;
                }
                0x8d => {
                    let len = self.le(8)?;
                    self.string(len)?;
                }
                b']' => self.push_node(Node::List(Vec::new())),
                b')' => self.push_node(Node::List(Vec::new())),
                b'}' => self.push_node(Node::Map(Vec::new())),
                b'(' => self.stack.push(Slot::Mark),
                b'a' => {
                    let item = self.pop()?;
                    let list = self.top()?;
                    self.append(list, &[item])?;
                }
                b'e' => {
                    let items = self.pop_to_mark()?;
                    let list = self.top()?;
                    self.append(list, &items)?;
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    let map = self.top()?;
                    self.set_items(map, &[k, v])?;
                }
                b'u' => {
                    let items = self.pop_to_mark()?;
                    let map = self.top()?;
                    self.set_items(map, &items)?;
                }
                b't' | b'l' => {
                    let items = self.pop_to_mark()?;
                    self.push_node(Node::List(items));
                }
                b'd' => {
                    let items = self.pop_to_mark()?;
                    self.push_node(Node::Map(Vec::new()));
                    let map = self.top()?;
                    self.set_items(map, &items)?;
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop()?);
                    }
                    items.reverse();
                    self.push_node(Node::List(items));
                }
                0x94 => {
                    let index = self.memo.len() as u64;
                    self.memo_put(index)?;
                }
                b'q' => {
                    let index = self.le(1)?;
                    self.memo_put(index)?;
                }
                b'r' => {
                    let index = self.le(4)?;
                    self.memo_put(index)?;
                }
                b'h' => {
                    let index = self.le(1)?;
                    self.memo_get(index)?;
                }
                b'j' => {
                    let index = self.le(4)?;
                    self.memo_get(index)?;
                }
                b'0' => {
                    self.stack
                        .pop()
                        .ok_or_else(|| bad("POP on an empty stack"))?;
                }
                other => {
                    return Err(CodecError::RefusedOpcode {
                        opcode: other,
                        name: refused_name(other),
                    });
                }
            }
        }
    }

    fn materialize(
        &self,
        id: NodeId,
        depth: usize,
        budget: &mut usize,
    ) -> Result<Value, CodecError> {
        if depth > MAX_NESTING_DEPTH {
            return Err(CodecError::TooDeep);
        }
        *budget = budget.checked_sub(1).ok_or(CodecError::TooLarge)?;
        Ok(match &self.nodes[id] {
            Node::Scalar(v) => v.clone(),
            Node::List(items) => Value::List(
                items
                    .iter()
                    .map(|&i| self.materialize(i, depth + 1, budget))
                    .collect::<Result<_, _>>()?,
            ),
            Node::Map(entries) => {
                let mut out: Vec<(String, Value)> = Vec::with_capacity(entries.len());
                let mut index: HashMap<String, usize> = HashMap::new();
                for &(k, v) in entries {
                    let Node::Scalar(Value::Str(key)) = &self.nodes[k] else {
                        return Err(bad("dict keys must be strings"));
                    };
                    let value = self.materialize(v, depth + 1, budget)?;
                    // A later SETITEM of the same key replaces the earlier one, as in Python.
                    match index.get(key) {
                        Some(&at) => out[at].1 = value,
                        None => {
                            index.insert(key.clone(), out.len());
                            out.push((key.clone(), value));
                        }
                    }
                }
                Value::Map(out)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Bytes below come from CPython 3.11 (`pickle.dumps(...)`, default protocol 4).

    #[test]
    fn reads_what_python_writes_for_plain_data() {
        // pickle.dumps({'a': [1, 2.5, 'x', None, True], 'b': (300, -5, 2**40)})
        let bytes = b"\x80\x04\x954\x00\x00\x00\x00\x00\x00\x00}\x94(\x8c\x01a\x94]\x94(K\x01G@\x04\x00\x00\x00\x00\x00\x00\x8c\x01x\x94N\x88e\x8c\x01b\x94M,\x01J\xfb\xff\xff\xff\x8a\x06\x00\x00\x00\x00\x00\x01\x87\x94u.";
        let v = decode(bytes).unwrap();
        assert_eq!(
            v,
            Value::Map(vec![
                (
                    "a".into(),
                    Value::List(vec![
                        Value::Int(1),
                        Value::Float(2.5),
                        Value::str("x"),
                        Value::Null,
                        Value::Bool(true)
                    ])
                ),
                (
                    "b".into(),
                    Value::List(vec![Value::Int(300), Value::Int(-5), Value::Int(1 << 40)])
                ),
            ])
        );
    }

    #[test]
    fn shared_lists_are_filled_after_memoizing() {
        // x = [1]; pickle.dumps([x, x])
        let bytes = b"\x80\x04\x95\x0c\x00\x00\x00\x00\x00\x00\x00]\x94(]\x94K\x01ah\x01e.";
        let inner = Value::List(vec![Value::Int(1)]);
        assert_eq!(
            decode(bytes).unwrap(),
            Value::List(vec![inner.clone(), inner])
        );
    }

    #[test]
    fn os_system_global_is_refused() {
        // pickle.dumps(os.system)
        let bytes = b"\x80\x04\x95\x14\x00\x00\x00\x00\x00\x00\x00\x8c\x05posix\x94\x8c\x06system\x94\x93\x94.";
        assert_eq!(
            decode(bytes),
            Err(CodecError::RefusedOpcode {
                opcode: 0x93,
                name: "STACK_GLOBAL"
            })
        );
    }

    #[test]
    fn reduce_trick_with_protocol_0_global_is_refused() {
        // class E: __reduce__ = lambda self: (os.system, ('echo pwned',))
        // pickle.dumps(E(), protocol=0)
        let bytes = b"cposix\nsystem\np0\n(Vecho pwned\np1\ntp2\nRp3\n.";
        let err = decode(bytes).unwrap_err();
        assert!(
            matches!(err, CodecError::RefusedOpcode { opcode: b'c', .. }),
            "{err}"
        );
        // The same with protocol 2: GLOBAL, then REDUCE.
        let bytes = b"\x80\x02cposix\nsystem\nq\x00X\n\x00\x00\x00echo pwnedq\x01\x85q\x02Rq\x03.";
        assert!(matches!(
            decode(bytes),
            Err(CodecError::RefusedOpcode { opcode: b'c', .. })
        ));
    }

    #[test]
    fn reduce_without_a_global_is_refused_too() {
        assert!(matches!(
            decode(b"\x80\x02N)R."),
            Err(CodecError::RefusedOpcode {
                opcode: b'R',
                name: "REDUCE"
            })
        ));
    }

    #[test]
    fn self_referencing_list_is_refused_not_looped() {
        // x = []; x.append(x); pickle.dumps(x)
        let bytes = b"\x80\x04\x95\x06\x00\x00\x00\x00\x00\x00\x00]\x94h\x00a.";
        assert_eq!(decode(bytes), Err(CodecError::TooDeep));
    }

    #[test]
    fn memo_reference_bomb_is_refused() {
        // Each level is a list holding the previous level twice: 2^40 leaves.
        let mut bytes = b"\x80\x04K\x00\x94".to_vec();
        for level in 0..40u32 {
            bytes.extend_from_slice(b"(h");
            bytes.push(level as u8);
            bytes.push(b'h');
            bytes.push(level as u8);
            bytes.extend_from_slice(b"l\x94");
        }
        bytes.push(b'.');
        assert_eq!(decode(&bytes), Err(CodecError::TooLarge));
    }

    #[test]
    fn truncated_pickles_are_malformed() {
        assert!(matches!(
            decode(b"\x80\x04J\x01\x00"),
            Err(CodecError::Malformed { .. })
        ));
        assert!(matches!(
            decode(b"\x80\x04K\x01"),
            Err(CodecError::Malformed { .. })
        ));
    }
}
