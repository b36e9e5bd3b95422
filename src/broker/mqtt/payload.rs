//! The mapping between MQTT payloads (opaque bytes) and the broker's values.
//!
//! MQTT to the broker: a payload that is JSON text is that JSON value;
//! any other UTF-8 text is a string; bytes that are not UTF-8 become a
//! string with U+FFFD in place of each bad sequence. The broker to MQTT: a
//! string is its UTF-8 text, without quotes; any other value is its JSON
//! text (a JSON payload is passed on as published, byte for byte). Between
//! two MQTT clients the payload is never mapped: it passes through as is.

use std::borrow::Cow;

use crate::broker::codec::{CodecError, Serializer};
use crate::broker::value::Value;

/// The JSON payload that stands for an MQTT payload.
pub fn json_of_mqtt(raw: &[u8]) -> Cow<'_, [u8]> {
    // Decoded, not only validated: JSON that no subscriber could decode
    // (a number past 64 bits) is text like any other.
    if Serializer::Json.decode(raw).is_ok() {
        return Cow::Borrowed(raw);
    }
    let text = String::from_utf8_lossy(raw).into_owned();
    Cow::Owned(Serializer::Json.encode(&Value::Str(text)))
}

/// The MQTT payload of a native payload in `serializer`.
pub fn mqtt_of_native(serializer: Serializer, payload: &[u8]) -> Result<Cow<'_, [u8]>, CodecError> {
    let starts_a_string = payload.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'"');
    if serializer == Serializer::Json && !starts_a_string {
        return Ok(Cow::Borrowed(payload));
    }
    Ok(Cow::Owned(match serializer.decode(payload)? {
        Value::Str(text) => text.into_bytes(),
        other => Serializer::Json.encode(&other),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_text_is_its_value_and_other_text_a_string() {
        assert_eq!(&*json_of_mqtt(b"{\"a\": 1}"), b"{\"a\": 1}");
        assert_eq!(&*json_of_mqtt(b"21.5"), b"21.5");
        assert_eq!(&*json_of_mqtt(b"on"), b"\"on\"");
        assert_eq!(&*json_of_mqtt(b""), b"\"\"");
        let digits = "7".repeat(400);
        assert_eq!(json_of_mqtt(digits.as_bytes()).len(), 402);
        assert_eq!(
            Serializer::Json
                .decode(&json_of_mqtt(&[b'a', 0xff]))
                .unwrap(),
            Value::str("a\u{fffd}")
        );
    }

    #[test]
    fn strings_reach_mqtt_as_text_and_other_values_as_json() {
        let s = Serializer::Pickle.encode(&Value::str("on"));
        assert_eq!(&*mqtt_of_native(Serializer::Pickle, &s).unwrap(), b"on");
        let x = Serializer::Xml.encode(&Value::Int(42));
        assert_eq!(&*mqtt_of_native(Serializer::Xml, &x).unwrap(), b"42");
        assert_eq!(
            &*mqtt_of_native(Serializer::Json, b" \"on\"").unwrap(),
            b"on"
        );
        assert_eq!(
            &*mqtt_of_native(Serializer::Json, b"[1,  2]").unwrap(),
            b"[1,  2]"
        );
    }

    #[test]
    fn plain_text_survives_the_round_trip_through_a_native_value() {
        for text in [&b"on"[..], b"21.5", b"{\"a\":[1,2]}", b"hello world"] {
            let json = json_of_mqtt(text);
            assert_eq!(&*mqtt_of_native(Serializer::Json, &json).unwrap(), text);
        }
    }
}
