//! The value model every serialization maps to and from: the plain data
//! that JSON, the XML mapping and data-only Pickle all express.
//!
//! Maps keep their insertion order and have string keys (JSON's rule), so a
//! message crosses serializations without reordering or losing keys.

use std::collections::HashMap;

/// One message payload, independent of its serialization.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// JSON `null`, Python `None`.
    Null,
    /// A boolean.
    Bool(bool),
    /// A signed 64-bit integer.
    Int(i64),
    /// A double-precision float.
    Float(f64),
    /// A UTF-8 string.
    Str(String),
    /// A list (Python tuples decode to lists too).
    List(Vec<Value>),
    /// A map with string keys, in insertion order.
    Map(Vec<(String, Value)>),
}

/// Builds a map's entries as Python's `dict` does: a repeated key keeps its
/// first position and takes the last value. Every decoder uses it, so a
/// payload with a repeated key means the same in all three serializations.
#[derive(Debug, Default)]
pub(crate) struct MapBuilder {
    entries: Vec<(String, Value)>,
    index: HashMap<String, usize>,
}

impl MapBuilder {
    /// Adds `key`, or replaces its value when it is already there.
    pub(crate) fn insert(&mut self, key: String, value: Value) {
        match self.index.get(&key) {
            Some(&at) => self.entries[at].1 = value,
            None => {
                self.index.insert(key.clone(), self.entries.len());
                self.entries.push((key, value));
            }
        }
    }

    /// The map.
    pub(crate) fn finish(self) -> Value {
        Value::Map(self.entries)
    }
}

/// How deep lists and maps may nest in a decoded payload.
pub const MAX_NESTING_DEPTH: usize = 64;

/// How many values one decoded payload may hold (guards memo-reference bombs).
pub const MAX_VALUES_PER_PAYLOAD: usize = 1 << 20;

impl Value {
    /// A string value.
    pub fn str(text: impl Into<String>) -> Self {
        Value::Str(text.into())
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Self {
        Value::Int(n)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.to_string())
    }
}

impl From<f64> for Value {
    fn from(x: f64) -> Self {
        Value::Float(x)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}
