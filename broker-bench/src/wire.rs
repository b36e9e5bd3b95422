//! The one place where the bench's targets differ: how a connection says
//! hello, how a publish is encoded and how the server's bytes are cut into
//! events. Everything else (pacing, counting, timing) is shared by all
//! targets in `run` and `load`, so their figures compare like for like.

use std::fmt;

use clap::ValueEnum;

use distloop::broker::Serializer;
use distloop::broker::frame::{Frame, FrameError, Parsed, parse_frame};

mod mqtt;
mod nats;

/// The distloop topic of the bench.
pub const TOPIC: &str = "/bench";
/// The NATS subject and MQTT topic name of the bench: they have no leading
/// `/` (the MQTT name `bench` is distloop's topic `/bench`).
pub const SUBJECT: &str = "bench";
/// The NATS subscription id every bench subscriber uses.
const SID: u32 = 1;
/// The MQTT packet id of the one SUBSCRIBE.
const SUBSCRIBE_PACKET_ID: u16 = 1;

/// `--target` values: which broker and protocol to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Target {
    /// distloop's own protocol (docs/broker-protocol.md).
    Distloop,
    /// MQTT 3.1.1, QoS 0 (e.g. mosquitto).
    Mqtt,
    /// The NATS text protocol (nats-server).
    Nats,
}

/// What a connection is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Writes publishes, reads nothing after its hello.
    Publisher,
    /// Subscribes to the bench topic and reads deliveries.
    Subscriber,
}

/// One thing the server said.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// A message on the bench topic, its payload.
    Delivery(&'a [u8]),
    /// The server confirms a step of the hello or a round trip (CONNACK,
    /// SUBACK, PINGRESP, PONG, LIST reply).
    Ack,
    /// The server wants these bytes back (a NATS `PONG` to its `PING`).
    Reply(&'static [u8]),
    /// Anything else (NATS `INFO`, `+OK`).
    Other,
}

/// Why the server's bytes could not be used.
#[derive(Debug, PartialEq, Eq)]
pub enum WireError {
    /// The bytes break the protocol.
    Malformed(&'static str),
    /// A message is larger than the bench accepts (bytes).
    TooLarge(usize),
    /// The server refused or ended something and said why.
    Refused(String),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Malformed(why) => write!(f, "malformed message from the broker: {why}"),
            WireError::TooLarge(n) => write!(f, "a {n}-byte message is over the bench's limit"),
            WireError::Refused(why) => write!(f, "the broker refused: {why}"),
        }
    }
}

impl std::error::Error for WireError {}

impl From<WireError> for std::io::Error {
    fn from(e: WireError) -> Self {
        std::io::Error::new(std::io::ErrorKind::InvalidData, e)
    }
}

/// A target's codec, with the distloop serialization it uses.
#[derive(Debug, Clone, Copy)]
pub struct Wire {
    /// The protocol.
    pub target: Target,
    /// The serialization of distloop frames (other targets carry raw bytes).
    pub serializer: Serializer,
}

impl Wire {
    /// The bytes a new connection sends, and how many acknowledgements
    /// prove the server handled them all. `id` tells connections apart.
    pub fn hello(&self, role: Role, id: usize) -> (Vec<u8>, usize) {
        let mut out = Vec::new();
        let serializer = self.serializer;
        match (self.target, role) {
            // The broker handles a connection's frames in order, so the
            // LIST reply proves the subscription (if any) is in place.
            (Target::Distloop, Role::Subscriber) => {
                Frame::Subscribe {
                    serializer,
                    topic: TOPIC,
                }
                .encode_into(&mut out);
                Frame::List { serializer }.encode_into(&mut out);
                (out, 1)
            }
            (Target::Distloop, Role::Publisher) => {
                Frame::List { serializer }.encode_into(&mut out);
                (out, 1)
            }
            (Target::Mqtt, Role::Subscriber) => {
                mqtt::encode_connect(&format!("distloop-bench-sub-{id}"), &mut out);
                mqtt::encode_subscribe(SUBSCRIBE_PACKET_ID, SUBJECT, &mut out);
                (out, 2)
            }
            (Target::Mqtt, Role::Publisher) => {
                mqtt::encode_connect(&format!("distloop-bench-pub-{id}"), &mut out);
                (out, 1)
            }
            (Target::Nats, role) => {
                out.extend_from_slice(nats::CONNECT);
                if role == Role::Subscriber {
                    nats::encode_subscribe(SUBJECT, SID, &mut out);
                }
                out.extend_from_slice(nats::PING);
                (out, 1)
            }
        }
    }

    /// Bytes that the broker answers with one acknowledgement once it has
    /// handled everything this connection sent before them.
    pub fn round_trip(&self) -> Vec<u8> {
        match self.target {
            Target::Distloop => Frame::List {
                serializer: self.serializer,
            }
            .to_bytes(),
            Target::Mqtt => mqtt::PINGREQ.to_vec(),
            Target::Nats => nats::PING.to_vec(),
        }
    }

    /// Appends one publish of `payload` to the bench topic.
    pub fn encode_publish(&self, payload: &[u8], out: &mut Vec<u8>) {
        match self.target {
            Target::Distloop => Frame::Publish {
                serializer: self.serializer,
                topic: TOPIC,
                payload,
            }
            .encode_into(out),
            Target::Mqtt => mqtt::encode_publish(SUBJECT, payload, out),
            Target::Nats => nats::encode_publish(SUBJECT, payload, out),
        }
    }

    /// Cuts one server message from the start of `buf`: `Ok(None)` when more
    /// bytes are needed, else the event and the bytes it used.
    pub fn parse<'a>(
        &self,
        buf: &'a [u8],
        max_message_bytes: usize,
    ) -> Result<Option<(Event<'a>, usize)>, WireError> {
        match self.target {
            Target::Distloop => parse_distloop(buf, max_message_bytes),
            Target::Mqtt => mqtt::parse(buf, max_message_bytes),
            Target::Nats => nats::parse(buf, max_message_bytes),
        }
    }
}

fn parse_distloop(buf: &[u8], max: usize) -> Result<Option<(Event<'_>, usize)>, WireError> {
    let (frame, used) = match parse_frame(buf, max) {
        Ok(Parsed::Complete(frame, used)) => (frame, used),
        Ok(Parsed::Partial) => return Ok(None),
        Err(FrameError::TooLarge { .. }) => return Err(WireError::TooLarge(buf.len())),
        Err(_) => return Err(WireError::Malformed("not a distloop frame")),
    };
    let event = match frame {
        Frame::Deliver { payload, .. } => Event::Delivery(payload),
        Frame::ListReply { .. } => Event::Ack,
        Frame::Error { code, message } => {
            return Err(WireError::Refused(format!("{code:?}: {message}")));
        }
        _ => Event::Other,
    };
    Ok(Some((event, used)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: usize = 1 << 20;

    fn wire(target: Target) -> Wire {
        Wire {
            target,
            serializer: Serializer::Json,
        }
    }

    #[test]
    fn every_target_hello_names_the_bench_topic_only_for_subscribers() {
        // MQTT's client ids hold `bench` too: look for the length-prefixed name.
        for (target, topic) in [
            (Target::Distloop, TOPIC.as_bytes()),
            (Target::Mqtt, b"\x00\x05bench".as_slice()),
            (Target::Nats, SUBJECT.as_bytes()),
        ] {
            let (sub, _) = wire(target).hello(Role::Subscriber, 0);
            let (publ, _) = wire(target).hello(Role::Publisher, 0);
            let holds = |bytes: &[u8]| bytes.windows(topic.len()).any(|w| w == topic);
            assert!(holds(&sub), "{target:?}");
            assert!(!holds(&publ), "{target:?}");
        }
    }

    #[test]
    fn mqtt_connections_get_distinct_client_ids() {
        let (a, _) = wire(Target::Mqtt).hello(Role::Subscriber, 1);
        let (b, _) = wire(Target::Mqtt).hello(Role::Subscriber, 2);
        assert_ne!(a, b);
    }

    #[test]
    fn distloop_deliveries_list_replies_and_error_frames_become_events() {
        let w = wire(Target::Distloop);
        let mut bytes = Frame::Deliver {
            serializer: Serializer::Json,
            topic: TOPIC,
            payload: b"\"hi\"",
        }
        .to_bytes();
        let first = bytes.len();
        match w.parse(&bytes, LIMIT).unwrap() {
            Some((Event::Delivery(p), used)) => assert_eq!((p, used), (&b"\"hi\""[..], first)),
            other => panic!("{other:?}"),
        }
        assert_eq!(w.parse(&bytes[..first - 1], LIMIT).unwrap(), None);
        bytes.clear();
        Frame::ListReply {
            serializer: Serializer::Json,
            payload: b"[]",
        }
        .encode_into(&mut bytes);
        assert!(matches!(
            w.parse(&bytes, LIMIT).unwrap(),
            Some((Event::Ack, _))
        ));
        bytes.clear();
        Frame::Error {
            code: distloop::broker::frame::ErrorCode::SlowConsumer,
            message: "too slow",
        }
        .encode_into(&mut bytes);
        assert!(matches!(w.parse(&bytes, LIMIT), Err(WireError::Refused(_))));
    }

    #[test]
    fn every_target_parses_back_what_its_publish_would_deliver() {
        // The broker rewrites a publish into a delivery; for NATS and MQTT
        // the payload bytes are what the bench later reads its stamp from.
        let payload = b"T00000000000000000042xx";
        let mut out = Vec::new();
        wire(Target::Mqtt).encode_publish(payload, &mut out);
        assert!(matches!(
            wire(Target::Mqtt).parse(&out, LIMIT).unwrap(),
            Some((Event::Delivery(p), _)) if p == payload
        ));
        let msg = [b"MSG bench 1 23\r\n".as_slice(), payload, b"\r\n"].concat();
        assert!(matches!(
            wire(Target::Nats).parse(&msg, LIMIT).unwrap(),
            Some((Event::Delivery(p), _)) if p == payload
        ));
    }
}
