//! The original Python client's protocol, answered on the same UDP port:
//! pickled dicts `{"method": "PUT", "args": {"key": K, "value": V}}` and
//! `{"method": "GET", "args": {"key": K}}`, answered with `{"method": "ACK"}`,
//! `{"method": "ACK", "args": V}` or `{"method": "NACK"}`.
//!
//! Keys that are ints (of any size) are stored under their decimal text.
//! A value is stored as the client sent it: any plain Python value (str,
//! bytes, int of any size, float, bool, None, list, tuple, dict, nested),
//! kept as one pickle in the codec's canonical form, so that a GET gives
//! back an equal value of the same types. Values put by `distloop dht put`
//! are bytes; a GET answers them as a `str` when they are UTF-8, else
//! `bytes`. Everything is read as data only, and every answer is written
//! afresh by the codec, never copied from stored bytes.

use std::fmt;

use super::config::MAX_VALUE_BYTES;
use super::message::{ClientRequest, Outcome};
use super::wire::MAX_DATAGRAM_BYTES;
use crate::pickle::{self, Document, Limits, Part, PickleError, Value};

/// How far a request or a stored value may expand: a value is at most
/// `MAX_VALUE_BYTES` once stored, and a request fits one datagram, so these
/// bounds only stop memo references from making a small datagram huge.
const LIMITS: Limits = Limits {
    max_depth: pickle::MAX_DEPTH,
    max_values: MAX_DATAGRAM_BYTES,
    max_text_bytes: MAX_DATAGRAM_BYTES + MAX_VALUE_BYTES,
};

/// Which of the original methods a request was (it decides the answer's shape).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// PUT.
    Put,
    /// GET.
    Get,
}

/// Why a legacy datagram was answered with NACK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegacyError {
    /// Not an acceptable pickle.
    Pickle(PickleError),
    /// A pickle, but not a PUT or GET of this protocol.
    NotARequest(&'static str),
}

impl fmt::Display for LegacyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pickle(e) => e.fmt(f),
            Self::NotARequest(why) => write!(f, "not a PUT or GET request: {why}"),
        }
    }
}

impl std::error::Error for LegacyError {}

fn key_text(document: &Document, key: Part) -> Result<String, LegacyError> {
    if let Some(digits) = document.int_text(key) {
        return Ok(digits);
    }
    match document.value(key) {
        Ok(Value::Str(s)) => Ok(s),
        Ok(Value::Bytes(b)) => String::from_utf8(b)
            .map_err(|_| LegacyError::NotARequest("a bytes key that is not UTF-8")),
        _ => Err(LegacyError::NotARequest("the key is not a str or an int")),
    }
}

/// Reads one datagram of the original client.
pub fn parse_request(datagram: &[u8]) -> Result<(Method, ClientRequest), LegacyError> {
    let document = pickle::decode_document(datagram, &LIMITS).map_err(LegacyError::Pickle)?;
    let root = document.root();
    let method = match document.entry(root, "method").map(|m| document.value(m)) {
        Some(Ok(Value::Str(m))) => m,
        _ => return Err(LegacyError::NotARequest("no method")),
    };
    let args = document
        .entry(root, "args")
        .ok_or(LegacyError::NotARequest("no args"))?;
    let key = document
        .entry(args, "key")
        .ok_or(LegacyError::NotARequest("no key"))?;
    let key = key_text(&document, key)?;
    match method.as_str() {
        "PUT" => {
            let value = document
                .entry(args, "value")
                .ok_or(LegacyError::NotARequest("no value"))?;
            let pickle = document.canonical(value).map_err(LegacyError::Pickle)?;
            Ok((Method::Put, ClientRequest::PutPickle { key, pickle }))
        }
        "GET" => Ok((Method::Get, ClientRequest::Get { key })),
        _ => Err(LegacyError::NotARequest("an unknown method")),
    }
}

fn reply(method: &str, args: Option<Value>) -> Vec<u8> {
    let mut items = vec![(Value::Str("method".into()), Value::Str(method.into()))];
    if let Some(args) = args {
        items.push((Value::Str("args".into()), args));
    }
    pickle::encode(&Value::Dict(items))
}

/// `{"method": "NACK"}`.
pub fn nack() -> Vec<u8> {
    reply("NACK", None)
}

/// `{"method": "ACK", "args": V}` for a value stored as a pickle, or NACK
/// when the stored bytes are not an acceptable pickle (a node sent them).
fn ack_with_pickled(stored: &[u8]) -> Vec<u8> {
    let ack = [(Value::Str("method".into()), Value::Str("ACK".into()))];
    pickle::decode_document(stored, &LIMITS)
        .and_then(|d| d.encode_in_dict(&ack, &Value::Str("args".into()), d.root()))
        .unwrap_or_else(|_| nack())
}

/// The answer to a finished request.
pub fn encode_reply<A>(method: Method, outcome: &Outcome<A>) -> Vec<u8> {
    match (method, outcome) {
        (Method::Put, Outcome::Stored) => reply("ACK", None),
        (Method::Get, Outcome::Pickled(stored)) => ack_with_pickled(stored),
        (Method::Get, Outcome::Value(Some(bytes))) => {
            let value = match String::from_utf8(bytes.clone()) {
                Ok(text) => Value::Str(text),
                Err(_) => Value::Bytes(bytes.clone()),
            };
            reply("ACK", Some(value))
        }
        _ => nack(),
    }
}

/// How a value stored as a pickle reads as bytes for clients that know no
/// pickles (`distloop dht get`): a str as its UTF-8, bytes as they are,
/// anything else as Python's `repr` of it.
pub fn pickled_as_bytes(stored: &[u8]) -> Vec<u8> {
    let Ok(document) = pickle::decode_document(stored, &LIMITS) else {
        return stored.to_vec();
    };
    match document.value(document.root()) {
        Ok(Value::Str(text)) => text.into_bytes(),
        Ok(Value::Bytes(bytes)) => bytes,
        _ => document.repr(document.root()).into_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dict(items: Vec<(&str, Value)>) -> Value {
        Value::Dict(
            items
                .into_iter()
                .map(|(k, v)| (Value::Str(k.into()), v))
                .collect(),
        )
    }

    #[test]
    fn put_and_get_requests_are_read() {
        let put = pickle::encode(&dict(vec![
            ("method", Value::Str("PUT".into())),
            (
                "args",
                dict(vec![
                    ("key", Value::Int(12)),
                    ("value", Value::Str("twelve".into())),
                ]),
            ),
        ]));
        assert_eq!(
            parse_request(&put).unwrap(),
            (
                Method::Put,
                ClientRequest::PutPickle {
                    key: "12".into(),
                    pickle: pickle::encode(&Value::Str("twelve".into())),
                }
            )
        );
        let get = pickle::encode(&dict(vec![
            ("method", Value::Str("GET".into())),
            ("args", dict(vec![("key", Value::Str("k".into()))])),
        ]));
        assert_eq!(
            parse_request(&get).unwrap(),
            (Method::Get, ClientRequest::Get { key: "k".into() })
        );
    }

    #[test]
    fn other_methods_and_shapes_are_refused() {
        let delete = pickle::encode(&dict(vec![("method", Value::Str("DELETE".into()))]));
        assert!(parse_request(&delete).is_err());
        assert!(parse_request(&pickle::encode(&Value::Int(1))).is_err());
    }

    #[test]
    fn replies_have_the_original_shapes() {
        let ack = pickle::decode(&encode_reply::<u32>(Method::Put, &Outcome::Stored)).unwrap();
        assert_eq!(ack, dict(vec![("method", Value::Str("ACK".into()))]));
        let value = Outcome::<u32>::Value(Some(b"v".to_vec()));
        let found = pickle::decode(&encode_reply(Method::Get, &value)).unwrap();
        assert_eq!(found.get("args"), Some(&Value::Str("v".into())));
        let absent =
            pickle::decode(&encode_reply::<u32>(Method::Get, &Outcome::Value(None))).unwrap();
        assert_eq!(absent, dict(vec![("method", Value::Str("NACK".into()))]));
    }

    #[test]
    fn a_stored_pickle_comes_back_as_the_same_value() {
        let value = Value::List(vec![
            Value::None,
            Value::Tuple(vec![Value::Int(1), Value::Float(2.5)]),
            Value::Dict(vec![(Value::Str("k".into()), Value::Bytes(vec![0, 255]))]),
        ]);
        let put = pickle::encode(&dict(vec![
            ("method", Value::Str("PUT".into())),
            (
                "args",
                dict(vec![
                    ("key", Value::Str("k".into())),
                    ("value", value.clone()),
                ]),
            ),
        ]));
        let Ok((Method::Put, ClientRequest::PutPickle { pickle: stored, .. })) =
            parse_request(&put)
        else {
            panic!("a PUT of a list is a request");
        };
        let answer = encode_reply::<u32>(Method::Get, &Outcome::Pickled(stored));
        let answer = pickle::decode(&answer).unwrap();
        assert_eq!(answer.get("method"), Some(&Value::Str("ACK".into())));
        assert_eq!(answer.get("args"), Some(&value));
    }

    #[test]
    fn stored_bytes_that_load_code_are_never_answered() {
        // GLOBAL posix system: what a hostile node could store as a "pickle".
        let hostile = b"\x80\x02cposix\nsystem\n.".to_vec();
        let answer = encode_reply::<u32>(Method::Get, &Outcome::Pickled(hostile));
        assert_eq!(answer, nack());
    }

    #[test]
    fn pickled_values_read_as_text_for_clients_without_pickles() {
        assert_eq!(
            pickled_as_bytes(&pickle::encode(&Value::Str("hi".into()))),
            b"hi"
        );
        assert_eq!(
            pickled_as_bytes(&pickle::encode(&Value::Bytes(vec![0, 1]))),
            [0, 1]
        );
        let list = pickle::encode(&Value::List(vec![Value::Int(3), Value::None]));
        assert_eq!(pickled_as_bytes(&list), b"[3, None]");
    }
}
