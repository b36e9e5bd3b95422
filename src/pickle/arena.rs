//! The arena the pickle reader builds: one node per value, containers
//! holding the ids of their items (Python shares them through the memo and
//! fills them after memoizing them), and the bounded conversion of a node to
//! a [`Value`].

use std::collections::HashMap;

use super::decode::BytesCall;
use super::encode::encode;
use super::error::PickleError;
use super::limits::Limits;
use super::value::Value;

/// What is left of [`Limits`] while a value is materialized or written.
pub(super) struct Budget {
    values: usize,
    text_bytes: usize,
}

pub(super) type NodeId = usize;

/// One value in the arena.
pub(super) enum Node {
    Scalar(Value),
    /// An int beyond 64 signed bits: little-endian two's complement, as
    /// LONG1 and LONG4 carry it.
    BigInt(Vec<u8>),
    List(Vec<NodeId>),
    Tuple(Vec<NodeId>),
    Dict(Vec<(NodeId, NodeId)>),
    /// A GLOBAL naming a [`BytesCall`], waiting for its REDUCE: not a value.
    Call(BytesCall),
}

impl Budget {
    pub(super) fn new(limits: &Limits) -> Self {
        Budget {
            values: limits.max_values,
            text_bytes: limits.max_text_bytes,
        }
    }

    /// Counts one more value, and the bytes of a str or bytes.
    pub(super) fn spend(&mut self, node: &Node, limits: &Limits) -> Result<(), PickleError> {
        self.values = self.values.checked_sub(1).ok_or(PickleError::TooLarge {
            limit: limits.max_values,
        })?;
        match node {
            Node::Scalar(Value::Str(text)) => self.spend_text(text.len(), limits),
            Node::Scalar(Value::Bytes(bytes)) | Node::BigInt(bytes) => {
                self.spend_text(bytes.len(), limits)
            }
            _ => Ok(()),
        }
    }

    fn spend_text(&mut self, len: usize, limits: &Limits) -> Result<(), PickleError> {
        self.text_bytes =
            self.text_bytes
                .checked_sub(len)
                .ok_or(PickleError::TooManyTextBytes {
                    limit: limits.max_text_bytes,
                })?;
        Ok(())
    }
}

/// The value of node `id` of the arena, within `limits`.
pub(super) fn materialize(
    nodes: &[Node],
    id: NodeId,
    depth: usize,
    limits: &Limits,
    budget: &mut Budget,
) -> Result<Value, PickleError> {
    if depth > limits.max_depth {
        return Err(PickleError::TooDeep {
            limit: limits.max_depth,
        });
    }
    budget.spend(&nodes[id], limits)?;
    let all = |ids: &[NodeId], budget: &mut Budget| -> Result<Vec<Value>, PickleError> {
        ids.iter()
            .map(|&i| materialize(nodes, i, depth + 1, limits, budget))
            .collect()
    };
    Ok(match &nodes[id] {
        Node::Scalar(v) => v.clone(),
        Node::BigInt(_) => {
            return Err(PickleError::Malformed(
                "an integer that does not fit in 64 signed bits",
            ));
        }
        Node::Call(_) => return Err(PickleError::Malformed("a GLOBAL that is never called")),
        Node::List(items) => Value::List(all(items, budget)?),
        Node::Tuple(items) => Value::Tuple(all(items, budget)?),
        Node::Dict(entries) => {
            let mut out: Vec<(Value, Value)> = Vec::with_capacity(entries.len());
            // Keys compare by their encoding, so that equal keys of any
            // hashable kind find each other without hashing floats.
            let mut index: HashMap<Vec<u8>, usize> = HashMap::new();
            for &(k, v) in entries {
                let key = materialize(nodes, k, depth + 1, limits, budget)?;
                if !key.is_hashable() {
                    return Err(PickleError::Malformed(
                        "a dict key that is a list or a dict",
                    ));
                }
                let value = materialize(nodes, v, depth + 1, limits, budget)?;
                // A later SETITEM of an equal key replaces the value in place, as in Python.
                match index.entry(encode(&key)) {
                    std::collections::hash_map::Entry::Occupied(at) => out[*at.get()].1 = value,
                    std::collections::hash_map::Entry::Vacant(slot) => {
                        slot.insert(out.len());
                        out.push((key, value));
                    }
                }
            }
            Value::Dict(out)
        }
    })
}
