//! The broker's Pickle serialization: the shared data-only codec of
//! [`crate::pickle`], mapped to and from the broker's JSON-like [`Value`].
//!
//! The mapping is where the broker's rules live: tuples become lists, dict
//! keys must be strings, bytes have no JSON form and are refused, and the
//! broker's own nesting and size limits bound what a payload may expand to.

use super::{CodecError, Serializer};
use crate::broker::value::{MAX_NESTING_DEPTH, MAX_VALUES_PER_PAYLOAD, Value};
use crate::pickle::{self, Limits, PickleError};

const LIMITS: Limits = Limits {
    max_depth: MAX_NESTING_DEPTH,
    max_values: MAX_VALUES_PER_PAYLOAD,
    max_text_bytes: pickle::MAX_TEXT_BYTES,
};

fn bad(reason: impl Into<String>) -> CodecError {
    CodecError::malformed(Serializer::Pickle, reason)
}

impl From<PickleError> for CodecError {
    fn from(e: PickleError) -> Self {
        match e {
            PickleError::Refused { opcode, name } | PickleError::Unsupported { opcode, name } => {
                CodecError::RefusedOpcode { opcode, name }
            }
            PickleError::TooDeep { .. } => CodecError::TooDeep,
            PickleError::TooLarge { .. } => CodecError::TooLarge,
            PickleError::TooManyTextBytes { limit } => {
                bad(format!("the text expands to more than {limit} bytes"))
            }
            PickleError::Truncated => bad("truncated pickle"),
            PickleError::UnknownProtocol(version) => {
                bad(format!("unknown pickle protocol {version}"))
            }
            PickleError::EmptyMemoSlot(index) => bad(format!("memo slot {index} is empty")),
            PickleError::Malformed(why) => bad(why),
        }
    }
}

pub(super) fn decode(bytes: &[u8]) -> Result<Value, CodecError> {
    from_pickle(pickle::decode_with(bytes, &LIMITS)?)
}

pub(super) fn encode_into(value: &Value, out: &mut Vec<u8>) {
    pickle::encode_into(&to_pickle(value), out);
}

fn from_pickle(value: pickle::Value) -> Result<Value, CodecError> {
    Ok(match value {
        pickle::Value::None => Value::Null,
        pickle::Value::Bool(b) => Value::Bool(b),
        pickle::Value::Int(n) => Value::Int(n),
        pickle::Value::Float(x) => Value::Float(x),
        pickle::Value::Str(s) => Value::Str(s),
        pickle::Value::Bytes(_) => return Err(bad("bytes values are refused: only str is text")),
        pickle::Value::List(items) | pickle::Value::Tuple(items) => Value::List(
            items
                .into_iter()
                .map(from_pickle)
                .collect::<Result<_, _>>()?,
        ),
        pickle::Value::Dict(entries) => Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| match k {
                    pickle::Value::Str(key) => Ok((key, from_pickle(v)?)),
                    _ => Err(bad("dict keys must be strings")),
                })
                .collect::<Result<_, _>>()?,
        ),
    })
}

fn to_pickle(value: &Value) -> pickle::Value {
    match value {
        Value::Null => pickle::Value::None,
        Value::Bool(b) => pickle::Value::Bool(*b),
        Value::Int(n) => pickle::Value::Int(*n),
        Value::Float(x) => pickle::Value::Float(*x),
        Value::Str(s) => pickle::Value::Str(s.clone()),
        Value::List(items) => pickle::Value::List(items.iter().map(to_pickle).collect()),
        Value::Map(entries) => pickle::Value::Dict(
            entries
                .iter()
                .map(|(k, v)| (pickle::Value::Str(k.clone()), to_pickle(v)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuples_become_lists_and_python_dicts_become_maps() {
        // pickle.dumps({'a': [1, 2.5, 'x', None, True], 'b': (300, -5, 2**40)})
        let bytes = b"\x80\x04\x954\x00\x00\x00\x00\x00\x00\x00}\x94(\x8c\x01a\x94]\x94(K\x01G@\x04\x00\x00\x00\x00\x00\x00\x8c\x01x\x94N\x88e\x8c\x01b\x94M,\x01J\xfb\xff\xff\xff\x8a\x06\x00\x00\x00\x00\x00\x01\x87\x94u.";
        assert_eq!(
            decode(bytes).unwrap(),
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
    fn code_loading_opcodes_are_refused_opcodes_of_the_broker() {
        // pickle.dumps(os.system)
        let bytes = b"\x80\x04\x95\x14\x00\x00\x00\x00\x00\x00\x00\x8c\x05posix\x94\x8c\x06system\x94\x93\x94.";
        assert_eq!(
            decode(bytes),
            Err(CodecError::RefusedOpcode {
                opcode: 0x93,
                name: "STACK_GLOBAL"
            })
        );
        assert!(matches!(
            decode(b"\x80\x02N)R."),
            Err(CodecError::RefusedOpcode {
                opcode: b'R',
                name: "REDUCE"
            })
        ));
    }

    #[test]
    fn non_string_keys_bytes_and_truncation_are_malformed() {
        for bytes in [
            &b"\x80\x02}K\x01K\x02s."[..],
            b"\x80\x03C\x01x.",
            b"\x80\x04J\x01\x00",
            b"\x80\x04K\x01",
        ] {
            assert!(
                matches!(decode(bytes), Err(CodecError::Malformed { .. })),
                "{bytes:?}"
            );
        }
    }

    #[test]
    fn cycles_and_memo_bombs_meet_the_brokers_limits() {
        // x = []; x.append(x); pickle.dumps(x)
        let cycle = b"\x80\x04\x95\x06\x00\x00\x00\x00\x00\x00\x00]\x94h\x00a.";
        assert_eq!(decode(cycle), Err(CodecError::TooDeep));
        let mut bomb = b"\x80\x04K\x00\x94".to_vec();
        for level in 0..40u8 {
            bomb.extend_from_slice(&[b'(', b'h', level, b'h', level, b'l', 0x94]);
        }
        bomb.push(b'.');
        assert_eq!(decode(&bomb), Err(CodecError::TooLarge));
    }

    #[test]
    fn the_encoding_is_protocol_2_as_documented() {
        let mut out = Vec::new();
        encode_into(&Value::Int(42), &mut out);
        assert_eq!(out, b"\x80\x02J\x2a\x00\x00\x00.");
    }
}
