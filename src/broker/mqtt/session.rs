//! One MQTT connection's session state, apart from sockets and the topic
//! tree: whether CONNECT came, the keep-alive deadline, the will, the
//! subscribed filters and the next packet id. The broker core asks it what
//! to do with a CONNECT and when the connection has gone quiet too long.
//!
//! Sessions are not kept after a connection ends: a clean-session CONNECT
//! and one that asks to resume both start empty (CONNACK says no session is
//! present), and QoS 1 messages are not resent on a later connection.

use std::time::{Duration, Instant};

use super::codec::Connect;
use super::encode;
use super::names::{self, NameError};

/// How long a new connection may take to send its CONNECT.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest client identifier accepted, in bytes.
pub const MAX_CLIENT_ID_BYTES: usize = 256;

/// A will, mapped to its topic path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedWill {
    /// The topic path.
    pub path: String,
    /// The payload, as the client gave it.
    pub payload: Vec<u8>,
    /// Its QoS.
    pub qos: u8,
}

/// What to answer a CONNECT with.
#[derive(Debug, PartialEq, Eq)]
pub enum ConnectAnswer {
    /// CONNACK 0: the session is open.
    Accepted,
    /// A CONNACK with this refusal code, then a close.
    Refused(u8),
    /// The CONNECT breaks the rules: close without an answer.
    Violation(NameError),
}

/// The state of one MQTT connection.
#[derive(Debug)]
pub struct Session {
    connected: bool,
    /// The client identifier (assigned when the client sent an empty one).
    pub client_id: String,
    keep_alive: Duration,
    last_packet: Instant,
    /// Published when the connection ends without DISCONNECT.
    pub will: Option<OwnedWill>,
    /// Subscribed filters and their granted QoS.
    pub filters: Vec<(Box<str>, u8)>,
    next_packet_id: u16,
}

impl Session {
    /// A connection opened at `now`, waiting for CONNECT.
    pub fn new(now: Instant) -> Self {
        Self {
            connected: false,
            client_id: String::new(),
            keep_alive: Duration::ZERO,
            last_packet: now,
            will: None,
            filters: Vec::new(),
            next_packet_id: 0,
        }
    }

    /// True once a CONNECT was accepted.
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// Notes that a packet arrived at `now` (it resets the keep-alive).
    pub fn heard_from(&mut self, now: Instant) {
        self.last_packet = now;
    }

    /// Decides on a CONNECT; `assigned_id` names a client that sent an
    /// empty identifier.
    pub fn connect(
        &mut self,
        packet: &Connect<'_>,
        assigned_id: impl FnOnce() -> String,
    ) -> ConnectAnswer {
        if packet.client_id.is_empty() && !packet.clean_session {
            return ConnectAnswer::Refused(encode::IDENTIFIER_REJECTED);
        }
        if packet.client_id.len() > MAX_CLIENT_ID_BYTES {
            return ConnectAnswer::Refused(encode::IDENTIFIER_REJECTED);
        }
        if let Some(will) = &packet.will {
            match names::path_of_name(will.topic) {
                Ok(path) => {
                    self.will = Some(OwnedWill {
                        path,
                        payload: will.payload.to_vec(),
                        qos: will.qos,
                    })
                }
                Err(e) => return ConnectAnswer::Violation(e),
            }
        }
        self.client_id = if packet.client_id.is_empty() {
            assigned_id()
        } else {
            packet.client_id.to_string()
        };
        self.keep_alive = Duration::from_secs(u64::from(packet.keep_alive));
        self.connected = true;
        ConnectAnswer::Accepted
    }

    /// True when the connection must be closed at `now`: no CONNECT within
    /// [`CONNECT_TIMEOUT`], or nothing heard for one and a half times the
    /// keep-alive (MQTT-3.1.2-24).
    pub fn expired(&self, now: Instant) -> bool {
        let quiet = now.saturating_duration_since(self.last_packet);
        if !self.connected {
            return quiet >= CONNECT_TIMEOUT;
        }
        !self.keep_alive.is_zero() && quiet >= self.keep_alive * 3 / 2
    }

    /// The id of the next QoS 1 delivery: 1 to 65535, round and round.
    pub fn next_packet_id(&mut self) -> u16 {
        self.next_packet_id = self.next_packet_id.checked_add(1).unwrap_or(1);
        self.next_packet_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::mqtt::codec::Will;

    fn connect<'a>(client_id: &'a str, clean: bool, keep_alive: u16) -> Connect<'a> {
        Connect {
            clean_session: clean,
            keep_alive,
            client_id,
            will: None,
            username: None,
            password: None,
        }
    }

    #[test]
    fn keep_alive_expires_after_one_and_a_half_times_its_period() {
        let t0 = Instant::now();
        let mut s = Session::new(t0);
        assert_eq!(
            s.connect(&connect("c", true, 10), String::new),
            ConnectAnswer::Accepted
        );
        assert!(!s.expired(t0 + Duration::from_millis(14_999)));
        assert!(s.expired(t0 + Duration::from_secs(15)));
        s.heard_from(t0 + Duration::from_secs(14));
        assert!(!s.expired(t0 + Duration::from_secs(28)));
    }

    #[test]
    fn keep_alive_zero_never_expires_but_a_missing_connect_does() {
        let t0 = Instant::now();
        let waiting = Session::new(t0);
        assert!(waiting.expired(t0 + CONNECT_TIMEOUT));
        let mut s = Session::new(t0);
        s.connect(&connect("c", true, 0), String::new);
        assert!(!s.expired(t0 + Duration::from_secs(100_000)));
    }

    #[test]
    fn an_empty_identifier_is_assigned_one_only_with_a_clean_session() {
        let mut s = Session::new(Instant::now());
        assert_eq!(
            s.connect(&connect("", false, 0), || "x".into()),
            ConnectAnswer::Refused(encode::IDENTIFIER_REJECTED)
        );
        assert_eq!(
            s.connect(&connect("", true, 0), || "auto-1".into()),
            ConnectAnswer::Accepted
        );
        assert_eq!(s.client_id, "auto-1");
    }

    #[test]
    fn the_will_is_kept_as_a_path_and_a_will_without_one_is_a_violation() {
        let mut s = Session::new(Instant::now());
        let mut c = connect("c", true, 0);
        c.will = Some(Will {
            topic: "dev/1/status",
            payload: b"offline",
            qos: 1,
            retain: false,
        });
        assert_eq!(s.connect(&c, String::new), ConnectAnswer::Accepted);
        assert_eq!(s.will.as_ref().unwrap().path, "/dev/1/status");
        c.will.as_mut().unwrap().topic = "/bad";
        assert!(matches!(
            Session::new(Instant::now()).connect(&c, String::new),
            ConnectAnswer::Violation(_)
        ));
    }

    #[test]
    fn packet_ids_skip_zero_when_they_wrap() {
        let mut s = Session::new(Instant::now());
        s.next_packet_id = u16::MAX - 1;
        assert_eq!(s.next_packet_id(), u16::MAX);
        assert_eq!(s.next_packet_id(), 1);
    }
}
