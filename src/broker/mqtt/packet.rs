//! MQTT 3.1.1 packets as data: the packet kinds, each packet a parse yields
//! (borrowing from the input bytes), and why bytes are not a packet.
//! [`codec`](super::codec) reads them from bytes, [`encode`](super::encode)
//! writes them.

use std::fmt;

/// Largest value the remaining-length varint can carry (four bytes).
pub const MAX_REMAINING_LENGTH: usize = 268_435_455;
/// Protocol level of MQTT 3.1.1 in CONNECT.
pub const PROTOCOL_LEVEL: u8 = 4;
/// Highest QoS there is.
pub const MAX_QOS: u8 = 2;

/// The packet types of MQTT 3.1.1 (the high nibble of the first byte).
pub mod kind {
    /// Client to server: open a session.
    pub const CONNECT: u8 = 1;
    /// Server to client: the answer to CONNECT.
    pub const CONNACK: u8 = 2;
    /// Either way: a message.
    pub const PUBLISH: u8 = 3;
    /// Either way: a QoS 1 message arrived.
    pub const PUBACK: u8 = 4;
    /// Either way: a QoS 2 message arrived (first step).
    pub const PUBREC: u8 = 5;
    /// Either way: release a QoS 2 message (second step).
    pub const PUBREL: u8 = 6;
    /// Either way: a QoS 2 message is complete (third step).
    pub const PUBCOMP: u8 = 7;
    /// Client to server: subscribe to filters.
    pub const SUBSCRIBE: u8 = 8;
    /// Server to client: the granted QoS of each filter.
    pub const SUBACK: u8 = 9;
    /// Client to server: drop filters.
    pub const UNSUBSCRIBE: u8 = 10;
    /// Server to client: the filters are dropped.
    pub const UNSUBACK: u8 = 11;
    /// Client to server: are you there?
    pub const PINGREQ: u8 = 12;
    /// Server to client: yes.
    pub const PINGRESP: u8 = 13;
    /// Client to server: a clean goodbye (the will is discarded).
    pub const DISCONNECT: u8 = 14;
}

/// The will of a CONNECT: published when the connection ends abruptly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Will<'a> {
    /// Its topic name.
    pub topic: &'a str,
    /// Its payload.
    pub payload: &'a [u8],
    /// Its QoS.
    pub qos: u8,
    /// Its retain flag.
    pub retain: bool,
}

/// A CONNECT packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect<'a> {
    /// The clean-session flag.
    pub clean_session: bool,
    /// Seconds the client promises between packets (0: no promise).
    pub keep_alive: u16,
    /// The client identifier (may be empty).
    pub client_id: &'a str,
    /// The will, if any.
    pub will: Option<Will<'a>>,
    /// The user name, if any.
    pub username: Option<&'a str>,
    /// The password, if any.
    pub password: Option<&'a [u8]>,
}

/// A PUBLISH packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish<'a> {
    /// The DUP flag (a resend).
    pub dup: bool,
    /// 0, 1 or 2.
    pub qos: u8,
    /// The RETAIN flag.
    pub retain: bool,
    /// The topic name.
    pub topic: &'a str,
    /// Present when `qos > 0`.
    pub packet_id: Option<u16>,
    /// The application message, opaque bytes.
    pub payload: &'a [u8],
}

/// One MQTT 3.1.1 packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet<'a> {
    /// CONNECT.
    Connect(Connect<'a>),
    /// CONNACK: session present, return code.
    ConnAck(bool, u8),
    /// PUBLISH.
    Publish(Publish<'a>),
    /// PUBACK of a packet id.
    PubAck(u16),
    /// PUBREC of a packet id.
    PubRec(u16),
    /// PUBREL of a packet id.
    PubRel(u16),
    /// PUBCOMP of a packet id.
    PubComp(u16),
    /// SUBSCRIBE: packet id and (filter, requested QoS) pairs.
    Subscribe(u16, Vec<(&'a str, u8)>),
    /// SUBACK: packet id and one return code per filter.
    SubAck(u16, &'a [u8]),
    /// UNSUBSCRIBE: packet id and filters.
    Unsubscribe(u16, Vec<&'a str>),
    /// UNSUBACK of a packet id.
    UnsubAck(u16),
    /// PINGREQ.
    PingReq,
    /// PINGRESP.
    PingResp,
    /// DISCONNECT.
    Disconnect,
}

/// The result of [`parse_packet`](super::codec::parse_packet) on bytes that are not invalid.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// A whole packet and the bytes it used.
    Complete(Packet<'a>, usize),
    /// More bytes are needed.
    Partial,
}

/// Why bytes are not an MQTT 3.1.1 packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MqttError {
    /// The remaining length runs past four bytes.
    MalformedLength,
    /// The packet is over the size limit (bytes, fixed header included).
    TooLarge {
        /// The packet's size.
        length: usize,
        /// The limit.
        max: usize,
    },
    /// A CONNECT names a protocol level this server does not speak.
    UnsupportedLevel(u8),
    /// The bytes break the specification, and how.
    Malformed(&'static str),
}

impl fmt::Display for MqttError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MqttError::MalformedLength => write!(f, "remaining length longer than 4 bytes"),
            MqttError::TooLarge { length, max } => {
                write!(f, "a {length}-byte packet is over the {max}-byte limit")
            }
            MqttError::UnsupportedLevel(level) => {
                write!(f, "protocol level {level} (only 4, MQTT 3.1.1, is spoken)")
            }
            MqttError::Malformed(why) => write!(f, "malformed packet: {why}"),
        }
    }
}

impl std::error::Error for MqttError {}
