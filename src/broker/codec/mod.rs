//! Payload serializations: JSON, the XML mapping and data-only Pickle, each
//! turning bytes into a [`Value`] and back. The broker decodes a payload only
//! when a subscriber needs another serialization, and validates it always.

mod json;
mod pickle;
mod xml;

use std::fmt;

use super::value::Value;

/// A payload serialization, with the wire ids of the original broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Serializer {
    /// JSON text (id 0).
    Json = 0,
    /// The XML mapping of docs/broker-protocol.md (id 1).
    Xml = 1,
    /// Python pickle, plain data opcodes only (id 2).
    Pickle = 2,
}

/// Every serializer, in id order.
pub const ALL_SERIALIZERS: [Serializer; 3] =
    [Serializer::Json, Serializer::Xml, Serializer::Pickle];

impl Serializer {
    /// The serializer with wire id `id`, if there is one.
    pub fn from_id(id: u8) -> Option<Self> {
        match id {
            0 => Some(Serializer::Json),
            1 => Some(Serializer::Xml),
            2 => Some(Serializer::Pickle),
            _ => None,
        }
    }

    /// The wire id.
    pub fn id(self) -> u8 {
        self as u8
    }

    /// The lowercase name used on the command line (`json`, `xml`, `pickle`).
    pub fn name(self) -> &'static str {
        match self {
            Serializer::Json => "json",
            Serializer::Xml => "xml",
            Serializer::Pickle => "pickle",
        }
    }

    /// Decodes a payload into a value.
    pub fn decode(self, bytes: &[u8]) -> Result<Value, CodecError> {
        match self {
            Serializer::Json => json::decode(bytes),
            Serializer::Xml => xml::decode(bytes),
            Serializer::Pickle => pickle::decode(bytes),
        }
    }

    /// Checks that a payload decodes, without keeping the value when that is cheaper.
    pub fn validate(self, bytes: &[u8]) -> Result<(), CodecError> {
        match self {
            Serializer::Json => json::validate(bytes),
            _ => self.decode(bytes).map(|_| ()),
        }
    }

    /// Appends the encoding of `value` to `out`.
    pub fn encode_into(self, value: &Value, out: &mut Vec<u8>) {
        match self {
            Serializer::Json => json::encode_into(value, out),
            Serializer::Xml => xml::encode_into(value, out),
            Serializer::Pickle => pickle::encode_into(value, out),
        }
    }

    /// The encoding of `value`.
    pub fn encode(self, value: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(value, &mut out);
        out
    }
}

impl fmt::Display for Serializer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Serializer {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "json" => Ok(Serializer::Json),
            "xml" => Ok(Serializer::Xml),
            "pickle" => Ok(Serializer::Pickle),
            other => Err(format!(
                "unknown serialization `{other}` (json, xml or pickle)"
            )),
        }
    }
}

/// Why a payload could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodecError {
    /// The bytes are not valid in this serialization.
    Malformed {
        /// The serialization that was expected.
        serializer: Serializer,
        /// What was wrong.
        reason: String,
    },
    /// A pickle opcode that does more than build plain data (GLOBAL, REDUCE, ...).
    RefusedOpcode {
        /// The opcode byte.
        opcode: u8,
        /// Its name in Python's pickletools.
        name: &'static str,
    },
    /// Lists and maps nest deeper than [`super::value::MAX_NESTING_DEPTH`].
    TooDeep,
    /// The payload expands to more than [`super::value::MAX_VALUES_PER_PAYLOAD`] values.
    TooLarge,
}

impl CodecError {
    pub(crate) fn malformed(serializer: Serializer, reason: impl Into<String>) -> Self {
        CodecError::Malformed {
            serializer,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodecError::Malformed { serializer, reason } => {
                write!(f, "malformed {serializer} payload: {reason}")
            }
            CodecError::RefusedOpcode { opcode, name } => write!(
                f,
                "pickle opcode {name} (0x{opcode:02x}) refused: only plain data is accepted"
            ),
            CodecError::TooDeep => write!(
                f,
                "payload nests deeper than {} levels",
                super::value::MAX_NESTING_DEPTH
            ),
            CodecError::TooLarge => write!(
                f,
                "payload holds more than {} values",
                super::value::MAX_VALUES_PER_PAYLOAD
            ),
        }
    }
}

impl std::error::Error for CodecError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Value {
        Value::Map(vec![
            ("n".into(), Value::Int(-7)),
            ("big".into(), Value::Int(i64::MAX)),
            ("x".into(), Value::Float(2.5)),
            ("s".into(), Value::str("a<b & \"c\" 'd' ünï")),
            ("ok".into(), Value::Bool(true)),
            ("none".into(), Value::Null),
            (
                "list".into(),
                Value::List(vec![Value::Int(1), Value::List(vec![]), Value::Map(vec![])]),
            ),
        ])
    }

    #[test]
    fn every_serialization_round_trips_every_kind_of_value() {
        for ser in ALL_SERIALIZERS {
            let bytes = ser.encode(&sample());
            assert_eq!(ser.decode(&bytes).unwrap(), sample(), "{ser}");
            ser.validate(&bytes).unwrap();
        }
    }

    #[test]
    fn a_value_crosses_from_each_serialization_to_each_other() {
        for from in ALL_SERIALIZERS {
            for to in ALL_SERIALIZERS {
                let value = from.decode(&from.encode(&sample())).unwrap();
                assert_eq!(to.decode(&to.encode(&value)).unwrap(), sample());
            }
        }
    }

    #[test]
    fn serializer_ids_match_the_original_broker() {
        assert_eq!(Serializer::from_id(0), Some(Serializer::Json));
        assert_eq!(Serializer::from_id(1), Some(Serializer::Xml));
        assert_eq!(Serializer::from_id(2), Some(Serializer::Pickle));
        assert_eq!(Serializer::from_id(3), None);
    }

    #[test]
    fn garbage_is_refused_by_every_serialization() {
        for ser in ALL_SERIALIZERS {
            assert!(ser.decode(b"\xff\x00garbage").is_err(), "{ser}");
            assert!(ser.validate(b"").is_err(), "{ser}");
        }
    }

    #[test]
    fn every_serialization_draws_the_nesting_limit_at_the_same_place() {
        // Found by the broker_frame fuzz target: 65 nested empty lists
        // decoded from a pickle, but their JSON encoding was refused.
        let limit = crate::broker::value::MAX_NESTING_DEPTH;
        let nested =
            |levels: usize, inner: Value| (0..levels).fold(inner, |v, _| Value::List(vec![v]));
        for ser in ALL_SERIALIZERS {
            for inner in [Value::List(vec![]), Value::Int(1)] {
                let at_limit = nested(limit, inner.clone());
                assert_eq!(
                    ser.decode(&ser.encode(&at_limit)).unwrap(),
                    at_limit,
                    "{ser}"
                );
                let past = nested(limit + 1, inner);
                assert_eq!(
                    ser.decode(&ser.encode(&past)),
                    Err(CodecError::TooDeep),
                    "{ser}"
                );
            }
        }
    }

    #[test]
    fn deep_nesting_is_refused_by_every_serialization() {
        let mut v = Value::Int(1);
        for _ in 0..(crate::broker::value::MAX_NESTING_DEPTH + 2) {
            v = Value::List(vec![v]);
        }
        for ser in ALL_SERIALIZERS {
            let bytes = ser.encode(&v);
            assert!(ser.decode(&bytes).is_err(), "{ser}");
        }
    }
}
