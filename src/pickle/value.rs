//! The plain data a pickle carries, in Python's own terms.

/// A decoded pickle value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `None`.
    None,
    /// `True` or `False`.
    Bool(bool),
    /// An int that fits 64 signed bits.
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
    /// A `dict`, in insertion order, each key once (a later SETITEM of an
    /// equal key replaces the value in place, as in Python).
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

    /// Whether Python could use this value as a dict key: no list or dict
    /// anywhere inside it.
    pub fn is_hashable(&self) -> bool {
        match self {
            Value::List(_) | Value::Dict(_) => false,
            Value::Tuple(items) => items.iter().all(Value::is_hashable),
            _ => true,
        }
    }
}
