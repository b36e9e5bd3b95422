//! The original Python client's protocol, answered on the same UDP port:
//! pickled dicts `{"method": "PUT", "args": {"key": K, "value": V}}` and
//! `{"method": "GET", "args": {"key": K}}`, answered with `{"method": "ACK"}`,
//! `{"method": "ACK", "args": V}` or `{"method": "NACK"}`.
//!
//! Keys that are ints are stored under their decimal text; values are
//! stored as the bytes of a `str` (or of a `bytes`), and a GET answers a
//! `str` when the stored bytes are UTF-8, else `bytes`.

use std::fmt;

use super::message::{ClientRequest, Outcome};
use crate::pickle::{self, PickleError, Value};

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

fn key_text(key: &Value) -> Result<String, LegacyError> {
    match key {
        Value::Str(s) => Ok(s.clone()),
        Value::Int(n) => Ok(n.to_string()),
        Value::Bytes(b) => String::from_utf8(b.clone())
            .map_err(|_| LegacyError::NotARequest("a bytes key that is not UTF-8")),
        _ => Err(LegacyError::NotARequest("the key is not a str or an int")),
    }
}

fn value_bytes(value: &Value) -> Result<Vec<u8>, LegacyError> {
    match value {
        Value::Str(s) => Ok(s.clone().into_bytes()),
        Value::Bytes(b) => Ok(b.clone()),
        Value::Int(n) => Ok(n.to_string().into_bytes()),
        Value::Float(x) => Ok(x.to_string().into_bytes()),
        _ => Err(LegacyError::NotARequest(
            "the value is not a str, bytes or number",
        )),
    }
}

/// Reads one datagram of the original client.
pub fn parse_request(datagram: &[u8]) -> Result<(Method, ClientRequest), LegacyError> {
    let message = pickle::decode(datagram).map_err(LegacyError::Pickle)?;
    let method = match message.get("method") {
        Some(Value::Str(m)) => m.as_str(),
        _ => return Err(LegacyError::NotARequest("no method")),
    };
    let args = message
        .get("args")
        .ok_or(LegacyError::NotARequest("no args"))?;
    let key = key_text(args.get("key").ok_or(LegacyError::NotARequest("no key"))?)?;
    match method {
        "PUT" => {
            let value = value_bytes(
                args.get("value")
                    .ok_or(LegacyError::NotARequest("no value"))?,
            )?;
            Ok((Method::Put, ClientRequest::Put { key, value }))
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

/// The answer to a finished request.
pub fn encode_reply<A>(method: Method, outcome: &Outcome<A>) -> Vec<u8> {
    match (method, outcome) {
        (Method::Put, Outcome::Stored) => reply("ACK", None),
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
                ClientRequest::Put {
                    key: "12".into(),
                    value: b"twelve".to_vec()
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
}
