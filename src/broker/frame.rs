//! The wire frames of docs/broker-protocol.md: parsing network bytes into
//! [`Frame`]s that borrow from the input, and encoding frames into a `Vec`.
//!
//! ```text
//! +----------------+------+------------+------------------------+
//! | length: u32 BE | kind | serializer | body (kind-specific)   |
//! +----------------+------+------------+------------------------+
//!   counts the bytes after itself: kind + serializer + body
//! ```

use std::fmt;

use super::codec::Serializer;

/// Bytes of the length prefix.
pub const LENGTH_PREFIX_BYTES: usize = 4;
/// Bytes of the prefix, kind and serializer together.
pub const HEADER_BYTES: usize = LENGTH_PREFIX_BYTES + 2;
/// Default cap on a frame's length field (bytes after the prefix): 1 MiB.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 1 << 20;
/// Longest topic, in bytes of UTF-8.
pub const MAX_TOPIC_BYTES: usize = 1024;

const KIND_SUBSCRIBE: u8 = 1;
const KIND_PUBLISH: u8 = 2;
const KIND_LIST: u8 = 3;
const KIND_LIST_REPLY: u8 = 4;
const KIND_CANCEL: u8 = 5;
const KIND_DELIVER: u8 = 6;
const KIND_ERROR: u8 = 7;

/// One protocol message.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame<'a> {
    /// Client to broker: deliver `topic` and its subtopics to me in `serializer`.
    Subscribe {
        /// The serialization of the deliveries.
        serializer: Serializer,
        /// The topic path.
        topic: &'a str,
    },
    /// Client to broker: a message for `topic`.
    Publish {
        /// The serialization of `payload`.
        serializer: Serializer,
        /// The topic path.
        topic: &'a str,
        /// The serialized value.
        payload: &'a [u8],
    },
    /// Client to broker: which topics have had a publish?
    List {
        /// The serialization of the reply.
        serializer: Serializer,
    },
    /// Broker to client: a serialized list of topic strings.
    ListReply {
        /// The serialization of `payload`.
        serializer: Serializer,
        /// The serialized list.
        payload: &'a [u8],
    },
    /// Client to broker: stop delivering `topic` to me.
    Cancel {
        /// Ignored; kept so every frame has the same header.
        serializer: Serializer,
        /// The topic path.
        topic: &'a str,
    },
    /// Broker to client: a message published to `topic`.
    Deliver {
        /// The serialization of `payload`.
        serializer: Serializer,
        /// The topic it was published to.
        topic: &'a str,
        /// The serialized value.
        payload: &'a [u8],
    },
    /// Broker to client: what went wrong; the broker closes the connection after it.
    Error {
        /// The kind of failure.
        code: ErrorCode,
        /// A sentence for people.
        message: &'a str,
    },
}

/// Why the broker sent an error frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The length field is over the limit.
    FrameTooLarge = 1,
    /// The frame's fields do not fit together (short frame, bad topic length, bad UTF-8).
    MalformedFrame = 2,
    /// The kind byte names no message a client may send.
    UnknownKind = 3,
    /// The serializer byte is not 0, 1 or 2.
    UnknownSerializer = 4,
    /// The topic is not a path like `/a/b`.
    BadTopic = 5,
    /// The payload does not decode in its serialization (or holds refused pickle opcodes).
    BadPayload = 6,
    /// The client's outbound queue passed its bound.
    SlowConsumer = 7,
    /// The client holds too many subscriptions.
    TooManySubscriptions = 8,
    /// A code this version does not know.
    Other = 255,
}

impl ErrorCode {
    fn from_byte(b: u8) -> Self {
        match b {
            1 => ErrorCode::FrameTooLarge,
            2 => ErrorCode::MalformedFrame,
            3 => ErrorCode::UnknownKind,
            4 => ErrorCode::UnknownSerializer,
            5 => ErrorCode::BadTopic,
            6 => ErrorCode::BadPayload,
            7 => ErrorCode::SlowConsumer,
            8 => ErrorCode::TooManySubscriptions,
            _ => ErrorCode::Other,
        }
    }
}

/// The result of [`parse_frame`] when nothing was wrong.
#[derive(Debug, PartialEq)]
pub enum Parsed<'a> {
    /// A whole frame, and how many bytes of the input it used.
    Complete(Frame<'a>, usize),
    /// The input ends inside a frame; read more bytes and call again.
    Partial,
}

/// Why bytes are not a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// The length field exceeds the limit.
    TooLarge {
        /// The length field.
        length: usize,
        /// The limit.
        max: usize,
    },
    /// A frame shorter than its header, or whose fields overrun it.
    Malformed(&'static str),
    /// An unknown kind byte.
    UnknownKind(u8),
    /// An unknown serializer byte.
    UnknownSerializer(u8),
}

impl FrameError {
    /// The error code to report this with.
    pub fn code(&self) -> ErrorCode {
        match self {
            FrameError::TooLarge { .. } => ErrorCode::FrameTooLarge,
            FrameError::Malformed(_) => ErrorCode::MalformedFrame,
            FrameError::UnknownKind(_) => ErrorCode::UnknownKind,
            FrameError::UnknownSerializer(_) => ErrorCode::UnknownSerializer,
        }
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::TooLarge { length, max } => {
                write!(f, "frame of {length} bytes is over the {max}-byte limit")
            }
            FrameError::Malformed(why) => write!(f, "malformed frame: {why}"),
            FrameError::UnknownKind(k) => write!(f, "unknown message kind {k}"),
            FrameError::UnknownSerializer(s) => {
                write!(f, "unknown serializer {s} (0 JSON, 1 XML, 2 Pickle)")
            }
        }
    }
}

impl std::error::Error for FrameError {}

/// Reads one frame from the start of `input`, if it holds a whole one.
///
/// The length field is checked against `max_frame_bytes` before waiting for
/// the body, so an oversized frame is refused without buffering it.
pub fn parse_frame(input: &[u8], max_frame_bytes: usize) -> Result<Parsed<'_>, FrameError> {
    let Some(prefix) = input.get(..LENGTH_PREFIX_BYTES) else {
        return Ok(Parsed::Partial);
    };
    let length = u32::from_be_bytes(prefix.try_into().expect("4 bytes")) as usize;
    if length > max_frame_bytes {
        return Err(FrameError::TooLarge {
            length,
            max: max_frame_bytes,
        });
    }
    if length < 2 {
        return Err(FrameError::Malformed("shorter than kind and serializer"));
    }
    let total = LENGTH_PREFIX_BYTES + length;
    let Some(frame) = input.get(LENGTH_PREFIX_BYTES..total) else {
        return Ok(Parsed::Partial);
    };
    let kind = frame[0];
    let body = &frame[2..];
    let serializer =
        || Serializer::from_id(frame[1]).ok_or(FrameError::UnknownSerializer(frame[1]));
    let parsed = match kind {
        KIND_SUBSCRIBE => Frame::Subscribe {
            serializer: serializer()?,
            topic: text(body)?,
        },
        KIND_CANCEL => Frame::Cancel {
            serializer: serializer()?,
            topic: text(body)?,
        },
        KIND_LIST => {
            if !body.is_empty() {
                return Err(FrameError::Malformed("LIST has no body"));
            }
            Frame::List {
                serializer: serializer()?,
            }
        }
        KIND_LIST_REPLY => Frame::ListReply {
            serializer: serializer()?,
            payload: body,
        },
        KIND_PUBLISH | KIND_DELIVER => {
            let serializer = serializer()?;
            let (topic, payload) = topic_and_payload(body)?;
            if kind == KIND_PUBLISH {
                Frame::Publish {
                    serializer,
                    topic,
                    payload,
                }
            } else {
                Frame::Deliver {
                    serializer,
                    topic,
                    payload,
                }
            }
        }
        KIND_ERROR => {
            let (&code, message) = body
                .split_first()
                .ok_or(FrameError::Malformed("ERROR without a code"))?;
            Frame::Error {
                code: ErrorCode::from_byte(code),
                message: text(message)?,
            }
        }
        other => return Err(FrameError::UnknownKind(other)),
    };
    Ok(Parsed::Complete(parsed, total))
}

fn text(bytes: &[u8]) -> Result<&str, FrameError> {
    std::str::from_utf8(bytes).map_err(|_| FrameError::Malformed("text is not UTF-8"))
}

fn topic_and_payload(body: &[u8]) -> Result<(&str, &[u8]), FrameError> {
    if body.len() < 2 {
        return Err(FrameError::Malformed("no topic length"));
    }
    let len = u16::from_be_bytes([body[0], body[1]]) as usize;
    let topic = body
        .get(2..2 + len)
        .ok_or(FrameError::Malformed("topic length runs past the frame"))?;
    Ok((text(topic)?, &body[2 + len..]))
}

impl Frame<'_> {
    /// Appends this frame's bytes to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[0; LENGTH_PREFIX_BYTES]);
        match self {
            Frame::Subscribe { serializer, topic } => {
                out.extend_from_slice(&[KIND_SUBSCRIBE, serializer.id()]);
                out.extend_from_slice(topic.as_bytes());
            }
            Frame::Cancel { serializer, topic } => {
                out.extend_from_slice(&[KIND_CANCEL, serializer.id()]);
                out.extend_from_slice(topic.as_bytes());
            }
            Frame::List { serializer } => out.extend_from_slice(&[KIND_LIST, serializer.id()]),
            Frame::ListReply {
                serializer,
                payload,
            } => {
                out.extend_from_slice(&[KIND_LIST_REPLY, serializer.id()]);
                out.extend_from_slice(payload);
            }
            Frame::Publish {
                serializer,
                topic,
                payload,
            } => topic_frame(out, KIND_PUBLISH, *serializer, topic, payload),
            Frame::Deliver {
                serializer,
                topic,
                payload,
            } => topic_frame(out, KIND_DELIVER, *serializer, topic, payload),
            Frame::Error { code, message } => {
                out.extend_from_slice(&[KIND_ERROR, 0, *code as u8]);
                out.extend_from_slice(message.as_bytes());
            }
        }
        let length = (out.len() - start - LENGTH_PREFIX_BYTES) as u32;
        out[start..start + LENGTH_PREFIX_BYTES].copy_from_slice(&length.to_be_bytes());
    }

    /// This frame's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }
}

fn topic_frame(out: &mut Vec<u8>, kind: u8, serializer: Serializer, topic: &str, payload: &[u8]) {
    // Topics longer than MAX_TOPIC_BYTES are refused before they get here,
    // so the length always fits in the u16 field.
    let len = u16::try_from(topic.len()).expect("topic length fits in u16");
    out.extend_from_slice(&[kind, serializer.id()]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(topic.as_bytes());
    out.extend_from_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_frame_matches_the_documented_example_bytes() {
        let frame = Frame::Publish {
            serializer: Serializer::Json,
            topic: "/temp",
            payload: b"21",
        };
        let bytes = frame.to_bytes();
        assert_eq!(
            bytes,
            b"\x00\x00\x00\x0b\x02\x00\x00\x05/temp21".to_vec(),
            "length 11 = kind + serializer + 2-byte topic length + 5 + 2"
        );
        assert_eq!(parse_frame(&bytes, 1024), Ok(Parsed::Complete(frame, 15)));
    }

    #[test]
    fn every_frame_round_trips() {
        let frames = [
            Frame::Subscribe {
                serializer: Serializer::Xml,
                topic: "/a/b",
            },
            Frame::Cancel {
                serializer: Serializer::Xml,
                topic: "/a/b",
            },
            Frame::List {
                serializer: Serializer::Pickle,
            },
            Frame::ListReply {
                serializer: Serializer::Json,
                payload: b"[\"/a\"]",
            },
            Frame::Deliver {
                serializer: Serializer::Pickle,
                topic: "/x",
                payload: b"\x80\x02N.",
            },
            Frame::Error {
                code: ErrorCode::BadTopic,
                message: "topic must start with /",
            },
        ];
        for frame in frames {
            let bytes = frame.to_bytes();
            assert_eq!(
                parse_frame(&bytes, 1024),
                Ok(Parsed::Complete(frame, bytes.len()))
            );
        }
    }

    #[test]
    fn a_short_read_is_partial_not_an_error() {
        let bytes = Frame::Subscribe {
            serializer: Serializer::Json,
            topic: "/a",
        }
        .to_bytes();
        for cut in 0..bytes.len() {
            assert_eq!(
                parse_frame(&bytes[..cut], 1024),
                Ok(Parsed::Partial),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn an_oversized_length_is_refused_before_the_body_arrives() {
        let prefix = (2_000_000u32).to_be_bytes();
        assert_eq!(
            parse_frame(&prefix, DEFAULT_MAX_FRAME_BYTES),
            Err(FrameError::TooLarge {
                length: 2_000_000,
                max: DEFAULT_MAX_FRAME_BYTES
            })
        );
    }

    #[test]
    fn bad_fields_are_refused_with_the_right_code() {
        let cases: [(&[u8], ErrorCode); 5] = [
            (b"\x00\x00\x00\x01\x01", ErrorCode::MalformedFrame),
            (b"\x00\x00\x00\x02\x09\x00", ErrorCode::UnknownKind),
            (b"\x00\x00\x00\x04\x01\x07/a", ErrorCode::UnknownSerializer),
            (
                b"\x00\x00\x00\x06\x02\x00\x00\x09/a",
                ErrorCode::MalformedFrame,
            ),
            (b"\x00\x00\x00\x03\x01\x00\xff", ErrorCode::MalformedFrame),
        ];
        for (bytes, code) in cases {
            assert_eq!(
                parse_frame(bytes, 1024).unwrap_err().code(),
                code,
                "{bytes:?}"
            );
        }
    }
}
