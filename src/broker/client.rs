//! A blocking client over `std::net`: subscribe, publish, list topics,
//! cancel, and receive deliveries as [`Value`]s.
//!
//! Each call that sends writes its whole frame with one `write_all`. Frames
//! that arrive while waiting for a LIST_REPLY are kept and handed out by the
//! next [`Client::receive`] calls, in order.

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::codec::{CodecError, Serializer};
use super::frame::{DEFAULT_MAX_FRAME_BYTES, ErrorCode, Frame, FrameError, Parsed, parse_frame};
use super::value::Value;

/// Bytes asked of the socket per read.
const READ_CHUNK_BYTES: usize = 64 * 1024;

/// A message delivered to a subscriber.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// The topic it was published to.
    pub topic: String,
    /// The decoded payload.
    pub value: Value,
}

/// What went wrong in the client.
#[derive(Debug)]
pub enum ClientError {
    /// The socket failed (or a read timed out).
    Io(io::Error),
    /// The broker closed the connection.
    Closed,
    /// The broker sent an error frame (and closed the connection).
    Broker {
        /// The error code.
        code: ErrorCode,
        /// The broker's message.
        message: String,
    },
    /// The broker sent bytes that are not a frame.
    Frame(FrameError),
    /// A payload did not decode.
    Codec(CodecError),
    /// The broker sent a frame a client does not expect.
    Unexpected(String),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Io(e) => write!(f, "connection to the broker failed: {e}"),
            ClientError::Closed => write!(f, "the broker closed the connection"),
            ClientError::Broker { code, message } => {
                write!(f, "the broker refused a request ({code:?}): {message}")
            }
            ClientError::Frame(e) => write!(f, "the broker sent a bad frame: {e}"),
            ClientError::Codec(e) => write!(f, "the broker sent a bad payload: {e}"),
            ClientError::Unexpected(what) => write!(f, "unexpected frame from the broker: {what}"),
        }
    }
}

impl std::error::Error for ClientError {}

impl From<io::Error> for ClientError {
    fn from(e: io::Error) -> Self {
        ClientError::Io(e)
    }
}

/// An owned incoming frame.
enum Incoming {
    Deliver(Serializer, String, Vec<u8>),
    ListReply(Serializer, Vec<u8>),
}

/// A blocking connection to the broker, speaking one serialization.
pub struct Client {
    stream: TcpStream,
    serializer: Serializer,
    inbound: Vec<u8>,
    start: usize,
    pending: VecDeque<(String, Serializer, Vec<u8>)>,
    scratch: Vec<u8>,
}

impl Client {
    /// Connects to the broker at `addr`; values go out and come back in `serializer`.
    pub fn connect(addr: impl ToSocketAddrs, serializer: Serializer) -> Result<Self, ClientError> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            serializer,
            inbound: Vec::new(),
            start: 0,
            pending: VecDeque::new(),
            scratch: Vec::new(),
        })
    }

    /// Bounds how long [`Client::receive`] and [`Client::list_topics`] wait.
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) -> Result<(), ClientError> {
        Ok(self.stream.set_read_timeout(timeout)?)
    }

    fn send(&mut self, frame: Frame<'_>) -> Result<(), ClientError> {
        self.scratch.clear();
        frame.encode_into(&mut self.scratch);
        self.stream.write_all(&self.scratch)?;
        Ok(())
    }

    /// Receives messages published to `topic` and its subtopics, starting
    /// with `topic`'s retained message if it has one.
    pub fn subscribe(&mut self, topic: &str) -> Result<(), ClientError> {
        self.send(Frame::Subscribe {
            serializer: self.serializer,
            topic,
        })
    }

    /// Stops deliveries of `topic`.
    pub fn cancel(&mut self, topic: &str) -> Result<(), ClientError> {
        self.send(Frame::Cancel {
            serializer: self.serializer,
            topic,
        })
    }

    /// Publishes `value` to `topic`.
    pub fn publish(&mut self, topic: &str, value: &Value) -> Result<(), ClientError> {
        let payload = self.serializer.encode(value);
        self.publish_raw(topic, &payload)
    }

    /// Publishes an already serialized payload to `topic`.
    pub fn publish_raw(&mut self, topic: &str, payload: &[u8]) -> Result<(), ClientError> {
        self.send(Frame::Publish {
            serializer: self.serializer,
            topic,
            payload,
        })
    }

    /// The topics that have had a publish.
    pub fn list_topics(&mut self) -> Result<Vec<String>, ClientError> {
        self.send(Frame::List {
            serializer: self.serializer,
        })?;
        loop {
            match self.next_frame()? {
                Incoming::Deliver(s, topic, payload) => self.pending.push_back((topic, s, payload)),
                Incoming::ListReply(s, payload) => {
                    let value = s.decode(&payload).map_err(ClientError::Codec)?;
                    let Value::List(items) = value else {
                        return Err(ClientError::Unexpected("LIST_REPLY is not a list".into()));
                    };
                    return items
                        .into_iter()
                        .map(|v| match v {
                            Value::Str(s) => Ok(s),
                            other => Err(ClientError::Unexpected(format!("topic {other:?}"))),
                        })
                        .collect();
                }
            }
        }
    }

    /// The next delivery, waiting for it.
    pub fn receive(&mut self) -> Result<Delivery, ClientError> {
        let (topic, serializer, payload) = match self.pending.pop_front() {
            Some(p) => p,
            None => match self.next_frame()? {
                Incoming::Deliver(s, topic, payload) => (topic, s, payload),
                Incoming::ListReply(..) => {
                    return Err(ClientError::Unexpected("LIST_REPLY without a LIST".into()));
                }
            },
        };
        let value = serializer.decode(&payload).map_err(ClientError::Codec)?;
        Ok(Delivery { topic, value })
    }

    fn next_frame(&mut self) -> Result<Incoming, ClientError> {
        loop {
            let input = &self.inbound[self.start..];
            match parse_frame(input, DEFAULT_MAX_FRAME_BYTES).map_err(ClientError::Frame)? {
                Parsed::Complete(frame, n) => {
                    let incoming = match frame {
                        Frame::Deliver {
                            serializer,
                            topic,
                            payload,
                        } => Incoming::Deliver(serializer, topic.to_string(), payload.to_vec()),
                        Frame::ListReply {
                            serializer,
                            payload,
                        } => Incoming::ListReply(serializer, payload.to_vec()),
                        Frame::Error { code, message } => {
                            return Err(ClientError::Broker {
                                code,
                                message: message.to_string(),
                            });
                        }
                        other => return Err(ClientError::Unexpected(format!("{other:?}"))),
                    };
                    self.start += n;
                    return Ok(incoming);
                }
                Parsed::Partial => {
                    self.inbound.drain(..self.start);
                    self.start = 0;
                    let len = self.inbound.len();
                    self.inbound.resize(len + READ_CHUNK_BYTES, 0);
                    let read = self.stream.read(&mut self.inbound[len..]);
                    self.inbound.truncate(len + *read.as_ref().unwrap_or(&0));
                    match read {
                        Ok(0) => return Err(ClientError::Closed),
                        Ok(_) => {}
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(ClientError::Io(e)),
                    }
                }
            }
        }
    }
}
