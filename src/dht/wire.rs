//! Datagram encoding of [`Message`]s: one JSON object per datagram (see
//! docs/dht-protocol.md). JSON because every message is small, the format
//! is readable in a packet capture, and serde_json is already a dependency.

use std::fmt;
use std::net::SocketAddr;

use super::message::Message;

/// Largest datagram a node sends or reads, in bytes.
pub const MAX_DATAGRAM_BYTES: usize = 64 * 1024;

/// A datagram that is not a message.
#[derive(Debug)]
pub struct DecodeError(String);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not a dht message: {}", self.0)
    }
}

impl std::error::Error for DecodeError {}

/// Encodes one message.
pub fn encode(message: &Message<SocketAddr>) -> Vec<u8> {
    serde_json::to_vec(message).expect("messages always serialize")
}

/// Decodes one datagram.
pub fn decode(datagram: &[u8]) -> Result<Message<SocketAddr>, DecodeError> {
    serde_json::from_slice(datagram).map_err(|e| DecodeError(e.to_string()))
}

/// True when a datagram looks like a JSON message (rather than a pickle).
pub fn is_json(datagram: &[u8]) -> bool {
    datagram.first() == Some(&b'{')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dht::message::{Body, ClientRequest, NodeRef};

    #[test]
    fn messages_survive_a_round_trip() {
        let node = NodeRef {
            id: 42,
            addr: "127.0.0.1:4000".parse().unwrap(),
        };
        for body in [
            Body::FindSuccessor {
                target: u64::MAX,
                avoid: Vec::new(),
            },
            Body::FindSuccessor {
                target: 3,
                avoid: vec![node.addr],
            },
            Body::Pulled {
                items: vec![crate::dht::Item {
                    key: "k".into(),
                    value: vec![1],
                    version: crate::dht::Version {
                        counter: 9,
                        writer: 4,
                    },
                    pickle: true,
                }],
                more: true,
            },
            Body::Unavailable,
            Body::Owner {
                owner: node,
                replicas: vec![node],
            },
            Body::Client(ClientRequest::Put {
                key: "k".into(),
                value: vec![0, 255],
            }),
            Body::Ack,
        ] {
            let message = Message { id: 7, body };
            let bytes = encode(&message);
            assert!(is_json(&bytes));
            assert_eq!(decode(&bytes).unwrap(), message);
        }
    }

    #[test]
    fn a_lookup_step_without_avoid_reads_as_avoiding_none() {
        let message = decode(br#"{"id":1,"body":{"FindSuccessor":{"target":5}}}"#).unwrap();
        assert_eq!(
            message.body,
            Body::FindSuccessor {
                target: 5,
                avoid: Vec::new()
            }
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode(b"{\"id\":1}").is_err());
        assert!(decode(b"\xff\x00").is_err());
        assert!(decode(b"").is_err());
    }
}
