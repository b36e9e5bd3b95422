//! JSON payloads through serde_json, into and out of [`Value`] directly so
//! that object keys keep their order.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer as SerdeSerializer};

use super::{CodecError, Serializer};
use crate::broker::value::{MAX_NESTING_DEPTH, MapBuilder, Value};

pub(super) fn decode(bytes: &[u8]) -> Result<Value, CodecError> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| CodecError::malformed(Serializer::Json, e.to_string()))?;
    if depth_of(&value) > MAX_NESTING_DEPTH {
        return Err(CodecError::TooDeep);
    }
    Ok(value)
}

pub(super) fn validate(bytes: &[u8]) -> Result<(), CodecError> {
    // serde_json bounds its own recursion (128 levels), so skipping the value
    // is safe; the tighter depth limit matters only once a value is built.
    serde_json::from_slice::<IgnoredAny>(bytes)
        .map(|_| ())
        .map_err(|e| CodecError::malformed(Serializer::Json, e.to_string()))
}

pub(super) fn encode_into(value: &Value, out: &mut Vec<u8>) {
    serde_json::to_writer(out, value).expect("writing JSON to a Vec cannot fail");
}

/// The most containers around any one value inside `value`, the measure
/// the XML and Pickle decoders bound too (an empty container adds none).
fn depth_of(value: &Value) -> usize {
    match value {
        Value::List(items) => items.iter().map(|v| 1 + depth_of(v)).max().unwrap_or(0),
        Value::Map(entries) => entries
            .iter()
            .map(|(_, v)| 1 + depth_of(v))
            .max()
            .unwrap_or(0),
        _ => 0,
    }
}

impl Serialize for Value {
    fn serialize<S: SerdeSerializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(n) => s.serialize_i64(*n),
            Value::Float(x) => s.serialize_f64(*x),
            Value::Str(text) => s.serialize_str(text),
            Value::List(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Value::Map(entries) => {
                let mut map = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::Int(n))
    }
    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Value, E> {
        i64::try_from(n)
            .map(Value::Int)
            .map_err(|_| E::custom("integer does not fit in 64 signed bits"))
    }
    fn visit_f64<E>(self, x: f64) -> Result<Value, E> {
        Ok(Value::Float(x))
    }
    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::Str(s.to_string()))
    }
    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::Str(s))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::List(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = MapBuilder::default();
        while let Some((k, v)) = map.next_entry::<String, Value>()? {
            entries.insert(k, v);
        }
        Ok(entries.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_keys_keep_their_order() {
        let v = decode(br#"{"z":1,"a":[true,null,1.5,"s"]}"#).unwrap();
        let mut out = Vec::new();
        encode_into(&v, &mut out);
        assert_eq!(out, br#"{"z":1,"a":[true,null,1.5,"s"]}"#);
    }

    #[test]
    fn every_float_reads_back_as_the_bits_it_was_written_from() {
        // Found by the broker_frame fuzz target: a float from a pickle, sent
        // to a JSON subscriber, read back one unit in the last place off.
        for x in [1.0526165107594019e-148, 2.2250738585072014e-308, 0.1, 1e300] {
            let mut out = Vec::new();
            encode_into(&Value::Float(x), &mut out);
            match decode(&out).unwrap() {
                Value::Float(y) => assert_eq!(y.to_bits(), x.to_bits(), "{x:e}"),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn a_repeated_key_keeps_its_place_and_takes_the_last_value() {
        // Found by the broker_frame fuzz target: the pickle decoder already
        // followed Python's rule, so a JSON payload with a repeated key
        // changed meaning when delivered as a pickle.
        let v = decode(br#"{"t":1,"u":2,"t":3}"#).unwrap();
        assert_eq!(
            v,
            Value::Map(vec![
                ("t".into(), Value::Int(3)),
                ("u".into(), Value::Int(2))
            ])
        );
    }

    #[test]
    fn integers_past_64_signed_bits_are_refused() {
        assert!(decode(b"18446744073709551615").is_err());
    }
}
