//! A decoded pickle kept whole, for callers that must give a value back
//! exactly as Python sent it: ints of any size, tuples apart from lists,
//! bytes apart from str. [`Value`] holds 64-bit ints only; a [`Document`]
//! holds everything the data-only reader accepts, and writes any part of it
//! again as one standalone pickle in canonical form (protocol 2, or 3 when
//! it holds bytes; no memo, no frames), which Python loads to an equal value
//! of the same types.
//!
//! Bytes as Python 3 writes them in protocols 0 to 2 (`_codecs.encode(text,
//! "latin1")`, `__builtin__.bytes()`) are read as bytes, built by the
//! reader itself; every other GLOBAL and REDUCE is refused, as `decode` refuses them.
//!
//! Writing is bounded by the same [`Limits`] as decoding (depth, values,
//! bytes of text), so memo references cannot make it expand without end.

use super::arena::{Budget, Node, NodeId, materialize};
use super::decode::{Calls, run};
use super::encode::write;
use super::error::PickleError;
use super::limits::Limits;
use super::repr;
use super::value::Value;

/// One decoded pickle, whole.
pub struct Document {
    nodes: Vec<Node>,
    root: NodeId,
    limits: Limits,
}

/// One value inside a [`Document`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part(NodeId);

/// Decodes one pickle (protocols 0 to 5) as plain data, keeping every value
/// whole; the whole value must stay within `limits`.
pub fn decode_document(bytes: &[u8], limits: &Limits) -> Result<Document, PickleError> {
    let (nodes, root) = run(bytes, Calls::BytesOnly)?;
    let document = Document {
        nodes,
        root,
        limits: *limits,
    };
    // Writing the root checks the limits, cycles and dict keys once for all.
    document.canonical(document.root())?;
    Ok(document)
}

impl Document {
    /// The value the pickle holds.
    pub fn root(&self) -> Part {
        Part(self.root)
    }

    /// The value under the str key `key`, when `part` is a dict (the last
    /// one when the pickle set it twice, as Python keeps).
    pub fn entry(&self, part: Part, key: &str) -> Option<Part> {
        let Node::Dict(entries) = &self.nodes[part.0] else {
            return None;
        };
        entries
            .iter()
            .rev()
            .find(|(k, _)| matches!(&self.nodes[*k], Node::Scalar(Value::Str(s)) if s == key))
            .map(|&(_, v)| Part(v))
    }

    /// `part` as a [`Value`]; an int beyond 64 bits anywhere in it is an error.
    pub fn value(&self, part: Part) -> Result<Value, PickleError> {
        let mut budget = Budget::new(&self.limits);
        materialize(&self.nodes, part.0, 0, &self.limits, &mut budget)
    }

    /// The decimal text of `part` when it is an int of any size.
    pub fn int_text(&self, part: Part) -> Option<String> {
        match &self.nodes[part.0] {
            Node::Scalar(Value::Int(n)) => Some(n.to_string()),
            Node::BigInt(bytes) => Some(repr::decimal(bytes)),
            _ => None,
        }
    }

    /// How Python's `repr` shows `part`.
    pub fn repr(&self, part: Part) -> String {
        let mut out = String::new();
        repr::write(&self.nodes, part.0, &mut out);
        out
    }

    /// `part` as one standalone pickle in canonical form.
    pub fn canonical(&self, part: Part) -> Result<Vec<u8>, PickleError> {
        self.encode(|writer, out| writer.write(part.0, 0, out))
    }

    /// The pickle of a dict holding `entries`, then `key` mapped to `part`.
    pub fn encode_in_dict(
        &self,
        entries: &[(Value, Value)],
        key: &Value,
        part: Part,
    ) -> Result<Vec<u8>, PickleError> {
        self.encode(|writer, out| {
            out.extend_from_slice(b"}(");
            let mut bytes = false;
            for (k, v) in entries {
                bytes |= write(k, out) | write(v, out);
            }
            bytes |= write(key, out);
            bytes |= writer.write(part.0, 1, out)?;
            out.push(b'u');
            Ok(bytes)
        })
    }

    fn encode(
        &self,
        body: impl FnOnce(&mut Writer<'_>, &mut Vec<u8>) -> Result<bool, PickleError>,
    ) -> Result<Vec<u8>, PickleError> {
        let mut writer = Writer {
            nodes: &self.nodes,
            limits: &self.limits,
            budget: Budget::new(&self.limits),
        };
        let mut out = vec![0x80, 2];
        if body(&mut writer, &mut out)? {
            out[1] = 3;
        }
        out.push(b'.');
        Ok(out)
    }
}

struct Writer<'a> {
    nodes: &'a [Node],
    limits: &'a Limits,
    budget: Budget,
}

impl Writer<'_> {
    /// Writes node `id` and says whether it needed protocol 3 (bytes).
    fn write(&mut self, id: NodeId, depth: usize, out: &mut Vec<u8>) -> Result<bool, PickleError> {
        if depth > self.limits.max_depth {
            return Err(PickleError::TooDeep {
                limit: self.limits.max_depth,
            });
        }
        let node = &self.nodes[id];
        self.budget.spend(node, self.limits)?;
        Ok(match node {
            Node::Scalar(value) => write(value, out),
            Node::Call(_) => return Err(PickleError::Malformed("a GLOBAL that is never called")),
            Node::BigInt(bytes) => {
                match u8::try_from(bytes.len()) {
                    Ok(len) => out.extend_from_slice(&[0x8a, len]),
                    Err(_) => {
                        out.push(0x8b);
                        out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
                    }
                }
                out.extend_from_slice(bytes);
                false
            }
            Node::List(items) => {
                out.push(b']');
                if items.is_empty() {
                    return Ok(false);
                }
                out.push(b'(');
                let bytes = self.write_all(items, depth, out)?;
                out.push(b'e');
                bytes
            }
            Node::Tuple(items) if items.is_empty() => {
                out.push(b')');
                false
            }
            Node::Tuple(items) if items.len() <= 3 => {
                let bytes = self.write_all(items, depth, out)?;
                out.push(0x84 + items.len() as u8);
                bytes
            }
            Node::Tuple(items) => {
                out.push(b'(');
                let bytes = self.write_all(items, depth, out)?;
                out.push(b't');
                bytes
            }
            Node::Dict(entries) => {
                out.push(b'}');
                if entries.is_empty() {
                    return Ok(false);
                }
                out.push(b'(');
                let mut bytes = false;
                for &(k, v) in entries {
                    if !self.is_hashable(k) {
                        return Err(PickleError::Malformed(
                            "a dict key that is a list or a dict",
                        ));
                    }
                    bytes |= self.write(k, depth + 1, out)?;
                    bytes |= self.write(v, depth + 1, out)?;
                }
                out.push(b'u');
                bytes
            }
        })
    }

    fn write_all(
        &mut self,
        items: &[NodeId],
        depth: usize,
        out: &mut Vec<u8>,
    ) -> Result<bool, PickleError> {
        let mut bytes = false;
        for &item in items {
            bytes |= self.write(item, depth + 1, out)?;
        }
        Ok(bytes)
    }

    /// Tuples are built from items that exist before them, so this walk
    /// (which enters tuples only) always ends.
    fn is_hashable(&self, id: NodeId) -> bool {
        match &self.nodes[id] {
            Node::List(_) | Node::Dict(_) | Node::Call(_) => false,
            Node::Tuple(items) => items.iter().all(|&i| self.is_hashable(i)),
            Node::Scalar(_) | Node::BigInt(_) => true,
        }
    }
}
