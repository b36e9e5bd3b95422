//! The broker's sans-IO core: bytes from a client go in, frames for clients
//! come out in their [`Outbox`]es. No sockets, no clock.
//!
//! Fan-out encodes a delivery once per serialization that its subscribers
//! use, not once per subscriber, and passes the publisher's payload bytes
//! through untouched to subscribers of the same serialization. Payloads are
//! always validated (a Pickle payload only ever holds plain data), because
//! consumers decode what the broker hands them.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use slab::Slab;

mod mqtt;

use super::codec::{CodecError, Serializer};
use super::frame::{DEFAULT_MAX_FRAME_BYTES, ErrorCode, Frame, HEADER_BYTES, Parsed, parse_frame};
use super::mqtt::session::Session;
use super::outbox::{Outbox, Pushed, SlowConsumerPolicy};
use super::tree::{ClientId, TopicTree};
use super::value::Value;

/// Default bound of one client's outbound queue: 8 MiB.
pub const DEFAULT_OUTBOUND_LIMIT_BYTES: usize = 8 << 20;
/// Default bound on how long a client's pending output may go without
/// being written out to empty (NATS's write deadline).
pub const DEFAULT_SLOW_CONSUMER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default of [`BrokerConfig::error_linger`].
pub const DEFAULT_ERROR_LINGER: Duration = Duration::from_secs(2);
/// Subscriptions one client may hold at once.
pub const MAX_SUBSCRIPTIONS_PER_CLIENT: usize = 4096;
/// Default bound of an MQTT packet, fixed header included: 1 MiB.
pub const DEFAULT_MAX_MQTT_PACKET_BYTES: usize = 1 << 20;

/// The broker's limits and policies.
#[derive(Debug, Clone, Copy)]
pub struct BrokerConfig {
    /// Largest length field accepted in a frame.
    pub max_frame_bytes: usize,
    /// Bound of each client's outbound queue, in bytes.
    pub outbound_limit_bytes: usize,
    /// What happens past that bound.
    pub slow_consumer: SlowConsumerPolicy,
    /// A client whose pending output has not been written out to empty for
    /// this long is sent the slow-consumer error and closed, whatever the
    /// policy: a reader that stopped reading is found even when its queue
    /// never reaches the bound.
    pub slow_consumer_timeout: Duration,
    /// How long a client that was sent an error may go without reading
    /// before it is closed; while it reads it may read on to its error
    /// frame, behind what the kernel's buffers already hold.
    pub error_linger: Duration,
    /// Largest MQTT packet accepted, in bytes with its fixed header; a
    /// larger one closes the connection.
    pub max_mqtt_packet_bytes: usize,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        Self {
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            outbound_limit_bytes: DEFAULT_OUTBOUND_LIMIT_BYTES,
            slow_consumer: SlowConsumerPolicy::Disconnect,
            slow_consumer_timeout: DEFAULT_SLOW_CONSUMER_TIMEOUT,
            error_linger: DEFAULT_ERROR_LINGER,
            max_mqtt_packet_bytes: DEFAULT_MAX_MQTT_PACKET_BYTES,
        }
    }
}

/// Counters since the broker started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BrokerStats {
    /// Messages accepted from publishers.
    pub published: u64,
    /// Deliveries queued for subscribers.
    pub delivered: u64,
    /// Deliveries dropped by the drop-oldest policy.
    pub dropped: u64,
    /// Clients disconnected for being slow.
    pub slow_disconnects: u64,
    /// Error frames sent.
    pub errors: u64,
}

#[derive(Debug)]
struct Client {
    outbox: Outbox,
    subscriptions: Vec<Box<str>>,
    closing: bool,
    touched: bool,
    /// When pending output was first seen at a sweep, with the outbox's
    /// emptied count then; `None` while nothing waits.
    pending_since: Option<(u64, Instant)>,
    /// The MQTT session of an MQTT connection; `None` for the native protocol.
    mqtt: Option<Box<Session>>,
}

/// Every client's state, the topic tree, and the rules between them.
#[derive(Debug)]
pub struct Broker {
    config: BrokerConfig,
    tree: TopicTree,
    clients: Slab<Client>,
    touched: Vec<ClientId>,
    stats: BrokerStats,
    // Scratch space reused by every publish.
    targets: Vec<(ClientId, Serializer)>,
    encoded: [Vec<u8>; 3],
    filter_targets: Vec<(ClientId, u8)>,
    /// PUBLISH packets to MQTT subscribers, at QoS 0 and QoS 1.
    mqtt_packets: [Vec<u8>; 2],
    /// The connected MQTT clients by client identifier.
    mqtt_clients: HashMap<String, ClientId>,
    /// Identifiers assigned to MQTT clients that sent an empty one.
    assigned_ids: u64,
}

impl Broker {
    /// A broker with no clients and no topics.
    pub fn new(config: BrokerConfig) -> Self {
        Self {
            config,
            tree: TopicTree::new(),
            clients: Slab::new(),
            touched: Vec::new(),
            stats: BrokerStats::default(),
            targets: Vec::new(),
            encoded: Default::default(),
            filter_targets: Vec::new(),
            mqtt_packets: Default::default(),
            mqtt_clients: HashMap::new(),
            assigned_ids: 0,
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &BrokerConfig {
        &self.config
    }

    /// Counters since the start.
    pub fn stats(&self) -> BrokerStats {
        self.stats
    }

    /// Registers a new connection.
    pub fn connect(&mut self) -> ClientId {
        ClientId(self.clients.insert(Client {
            outbox: Outbox::new(self.config.outbound_limit_bytes, self.config.slow_consumer),
            subscriptions: Vec::new(),
            closing: false,
            touched: false,
            pending_since: None,
            mqtt: None,
        }))
    }

    /// Forgets a connection and its subscriptions; an MQTT connection that
    /// ended without DISCONNECT has its will published.
    pub fn disconnect(&mut self, id: ClientId) {
        if let Some(client) = self.clients.try_remove(id.0) {
            for topic in client.subscriptions {
                let _ = self.tree.unsubscribe(&topic, id);
            }
            if let Some(session) = client.mqtt {
                self.end_mqtt_session(id, *session);
            }
        }
    }

    /// True when the client was sent an error and must be closed once its
    /// outbox is flushed; its further input is ignored.
    pub fn is_closing(&self, id: ClientId) -> bool {
        self.clients.get(id.0).is_none_or(|c| c.closing)
    }

    /// Bytes waiting in the client's outbound queue (0 for unknown clients).
    pub fn outbox_len(&self, id: ClientId) -> usize {
        self.clients.get(id.0).map_or(0, |c| c.outbox.len())
    }

    /// The client's outbound queue.
    pub fn outbox_mut(&mut self, id: ClientId) -> Option<&mut Outbox> {
        self.clients.get_mut(id.0).map(|c| &mut c.outbox)
    }

    /// Moves the clients whose outbox gained bytes (or who started closing)
    /// since the last call into `into`.
    pub fn take_touched(&mut self, into: &mut Vec<ClientId>) {
        for id in self.touched.drain(..) {
            if let Some(client) = self.clients.get_mut(id.0) {
                client.touched = false;
                into.push(id);
            }
        }
    }

    /// Handles every whole frame at the start of `input`; returns the bytes
    /// used. A bad frame queues an error frame and marks the client closing;
    /// then all input counts as used.
    pub fn receive(&mut self, id: ClientId, input: &[u8]) -> usize {
        let mut used = 0;
        while !self.is_closing(id) {
            match parse_frame(&input[used..], self.config.max_frame_bytes) {
                Ok(Parsed::Partial) => return used,
                Ok(Parsed::Complete(frame, n)) => {
                    used += n;
                    self.handle(id, frame);
                }
                Err(e) => {
                    self.fail(id, e.code(), &e.to_string());
                    break;
                }
            }
        }
        input.len()
    }

    fn handle(&mut self, id: ClientId, frame: Frame<'_>) {
        match frame {
            Frame::Subscribe { serializer, topic } => self.subscribe(id, serializer, topic),
            Frame::Cancel { topic, .. } => match self.tree.unsubscribe(topic, id) {
                Ok(_) => {
                    let client = &mut self.clients[id.0];
                    client.subscriptions.retain(|t| &**t != topic);
                }
                Err(e) => self.fail(id, ErrorCode::BadTopic, &e.to_string()),
            },
            Frame::Publish {
                serializer,
                topic,
                payload,
            } => self.publish(id, serializer, topic, payload),
            Frame::List { serializer } => {
                let topics = self.tree.topics().into_iter().map(Value::Str).collect();
                let payload = serializer.encode(&Value::List(topics));
                let reply = Frame::ListReply {
                    serializer,
                    payload: &payload,
                }
                .to_bytes();
                self.queue(id, &reply);
            }
            Frame::ListReply { .. } | Frame::Deliver { .. } | Frame::Error { .. } => {
                self.fail(
                    id,
                    ErrorCode::UnknownKind,
                    "only the broker sends this kind",
                );
            }
        }
    }

    fn subscribe(&mut self, id: ClientId, serializer: Serializer, topic: &str) {
        if self.clients[id.0].subscriptions.len() >= MAX_SUBSCRIPTIONS_PER_CLIENT
            && !self.clients[id.0]
                .subscriptions
                .iter()
                .any(|t| &**t == topic)
        {
            let message = format!("more than {MAX_SUBSCRIPTIONS_PER_CLIENT} subscriptions");
            return self.fail(id, ErrorCode::TooManySubscriptions, &message);
        }
        let retained = match self.tree.subscribe(topic, id, serializer) {
            Ok(r) => r.cloned(),
            Err(e) => return self.fail(id, ErrorCode::BadTopic, &e.to_string()),
        };
        let client = &mut self.clients[id.0];
        if !client.subscriptions.iter().any(|t| &**t == topic) {
            client.subscriptions.push(topic.into());
        }
        if let Some(mut r) = retained {
            if r.from_mqtt {
                r.payload = super::mqtt::payload::json_of_mqtt(&r.payload).into_owned();
            }
            let payload = if r.serializer == serializer {
                r.payload
            } else {
                match r.serializer.decode(&r.payload) {
                    Ok(value) => serializer.encode(&value),
                    // Retained payloads were validated when published.
                    Err(_) => return,
                }
            };
            let frame = Frame::Deliver {
                serializer,
                topic,
                payload: &payload,
            }
            .to_bytes();
            self.deliver(id, &frame);
        }
    }

    fn publish(&mut self, id: ClientId, serializer: Serializer, topic: &str, payload: &[u8]) {
        if let Err(e) = serializer.validate(payload) {
            return self.fail(id, ErrorCode::BadPayload, &e.to_string());
        }
        let mut targets = std::mem::take(&mut self.targets);
        if let Err(e) = self.tree.publish(topic, serializer, payload, &mut targets) {
            self.targets = targets;
            return self.fail(id, ErrorCode::BadTopic, &e.to_string());
        }
        self.stats.published += 1;
        if let Err(e) = self.encode_deliveries(serializer, topic, payload, &targets) {
            // validate() passed, so this is a value no serialization can carry.
            self.targets = targets;
            return self.fail(id, ErrorCode::BadPayload, &e.to_string());
        }
        let encoded = std::mem::take(&mut self.encoded);
        for &(target, wanted) in &targets {
            self.deliver(target, &encoded[wanted as usize]);
        }
        self.encoded = encoded;
        self.targets = targets;
        // Native publishes have no acknowledgement: QoS 0 to MQTT.
        self.deliver_to_filters(topic, mqtt::Body::Native(serializer, payload), 0);
    }

    /// Fills `self.encoded[s]` with the deliver frame for each serialization
    /// `s` among the targets: the payload as is for the publisher's own,
    /// one decode and one encode for each other.
    fn encode_deliveries(
        &mut self,
        serializer: Serializer,
        topic: &str,
        payload: &[u8],
        targets: &[(ClientId, Serializer)],
    ) -> Result<(), CodecError> {
        let mut needed = [false; 3];
        for (_, s) in targets {
            needed[*s as usize] = true;
        }
        let mut value = None;
        for (index, wanted) in super::codec::ALL_SERIALIZERS.into_iter().enumerate() {
            if !needed[index] {
                continue;
            }
            let out = &mut self.encoded[index];
            out.clear();
            if wanted == serializer {
                Frame::Deliver {
                    serializer,
                    topic,
                    payload,
                }
                .encode_into(out);
            } else {
                if value.is_none() {
                    value = Some(serializer.decode(payload)?);
                }
                let body = wanted.encode(value.as_ref().expect("decoded above"));
                Frame::Deliver {
                    serializer: wanted,
                    topic,
                    payload: &body,
                }
                .encode_into(out);
            }
        }
        Ok(())
    }

    fn deliver(&mut self, id: ClientId, frame: &[u8]) {
        let Some(client) = self.clients.get_mut(id.0) else {
            return;
        };
        if client.closing {
            return;
        }
        match client.outbox.push(frame) {
            Pushed::Queued { dropped } => {
                self.stats.delivered += 1;
                self.stats.dropped += dropped as u64;
                Self::touch(&mut self.touched, client, id);
            }
            Pushed::Overflow => {
                self.stats.slow_disconnects += 1;
                let message = format!(
                    "slow consumer: more than {} bytes waiting",
                    self.config.outbound_limit_bytes
                );
                self.fail(id, ErrorCode::SlowConsumer, &message);
            }
        }
    }

    fn queue(&mut self, id: ClientId, frame: &[u8]) {
        self.deliver(id, frame);
    }

    fn touch(touched: &mut Vec<ClientId>, client: &mut Client, id: ClientId) {
        if !client.touched {
            client.touched = true;
            touched.push(id);
        }
    }

    /// Queues an error frame after whatever is partly written, drops the
    /// rest, and marks the client closing.
    /// Sends the slow-consumer error to every client whose pending output
    /// has not been written out to empty since a sweep at least
    /// `slow_consumer_timeout` before `now`. Called periodically by the
    /// adapter; a client is cut between one and one-plus-a-period timeout
    /// after its output stopped draining. Returns how many were cut.
    pub fn cut_stalled(&mut self, now: Instant) -> usize {
        let timeout = self.config.slow_consumer_timeout;
        let mut stalled = Vec::new();
        for (index, client) in &mut self.clients {
            if client.closing || client.outbox.is_empty() {
                client.pending_since = None;
                continue;
            }
            let emptied = client.outbox.times_emptied();
            match client.pending_since {
                Some((mark, since)) if mark == emptied => {
                    if now.saturating_duration_since(since) >= timeout {
                        stalled.push(ClientId(index));
                    }
                }
                _ => client.pending_since = Some((emptied, now)),
            }
        }
        for &id in &stalled {
            self.stats.slow_disconnects += 1;
            let message = format!(
                "slow consumer: pending output not drained for {} ms",
                timeout.as_millis()
            );
            self.fail(id, ErrorCode::SlowConsumer, &message);
        }
        stalled.len()
    }

    fn fail(&mut self, id: ClientId, code: ErrorCode, message: &str) {
        let Some(client) = self.clients.get_mut(id.0) else {
            return;
        };
        if client.closing {
            return;
        }
        self.stats.errors += 1;
        client.outbox.clear_unstarted();
        if client.mqtt.is_some() {
            // MQTT has no error packet: the answer is the close.
            client.closing = true;
            Self::touch(&mut self.touched, client, id);
            return;
        }
        let mut frame = Vec::with_capacity(HEADER_BYTES + 1 + message.len());
        Frame::Error { code, message }.encode_into(&mut frame);
        client.outbox.push_unbounded(&frame);
        client.closing = true;
        Self::touch(&mut self.touched, client, id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::frame::FrameError;

    const J: Serializer = Serializer::Json;
    const X: Serializer = Serializer::Xml;
    const P: Serializer = Serializer::Pickle;

    fn send(broker: &mut Broker, id: ClientId, frame: Frame<'_>) {
        let bytes = frame.to_bytes();
        assert_eq!(broker.receive(id, &bytes), bytes.len());
    }

    /// Every frame waiting for `id`, as owned (kind, topic, payload or message).
    fn drain(broker: &mut Broker, id: ClientId) -> Vec<(String, String, Vec<u8>)> {
        let outbox = broker.outbox_mut(id).unwrap();
        let bytes = outbox.as_slice().to_vec();
        outbox.consume(bytes.len());
        let mut at = 0;
        let mut out = Vec::new();
        while at < bytes.len() {
            let Parsed::Complete(frame, n) = parse_frame(&bytes[at..], usize::MAX).unwrap() else {
                panic!("partial frame in an outbox");
            };
            at += n;
            out.push(match frame {
                Frame::Deliver { topic, payload, .. } => {
                    ("deliver".into(), topic.into(), payload.to_vec())
                }
                Frame::ListReply { payload, .. } => {
                    ("list".into(), String::new(), payload.to_vec())
                }
                Frame::Error { message, .. } => {
                    ("error".into(), String::new(), message.as_bytes().to_vec())
                }
                other => panic!("broker sent {other:?}"),
            });
        }
        out
    }

    fn publish(broker: &mut Broker, id: ClientId, ser: Serializer, topic: &str, value: &Value) {
        let payload = ser.encode(value);
        send(
            broker,
            id,
            Frame::Publish {
                serializer: ser,
                topic,
                payload: &payload,
            },
        );
    }

    #[test]
    fn same_serialization_passes_payload_bytes_through_untouched() {
        let mut b = Broker::new(BrokerConfig::default());
        let (publisher, subscriber) = (b.connect(), b.connect());
        send(
            &mut b,
            subscriber,
            Frame::Subscribe {
                serializer: J,
                topic: "/t",
            },
        );
        // Spacing that a re-encode would not reproduce.
        send(
            &mut b,
            publisher,
            Frame::Publish {
                serializer: J,
                topic: "/t",
                payload: b"[ 1,  2 ]",
            },
        );
        assert_eq!(
            drain(&mut b, subscriber),
            [("deliver".into(), "/t".into(), b"[ 1,  2 ]".to_vec())]
        );
    }

    #[test]
    fn a_pickle_integer_reaches_json_and_xml_consumers_in_their_own_form() {
        let mut b = Broker::new(BrokerConfig::default());
        let (producer, json, xml) = (b.connect(), b.connect(), b.connect());
        send(
            &mut b,
            json,
            Frame::Subscribe {
                serializer: J,
                topic: "/temp",
            },
        );
        send(
            &mut b,
            xml,
            Frame::Subscribe {
                serializer: X,
                topic: "/temp",
            },
        );
        publish(&mut b, producer, P, "/temp", &Value::Int(42));
        assert_eq!(drain(&mut b, json)[0].2, b"42");
        assert_eq!(drain(&mut b, xml)[0].2, b"<int>42</int>");
    }

    #[test]
    fn new_subscriber_first_receives_the_retained_message() {
        let mut b = Broker::new(BrokerConfig::default());
        let producer = b.connect();
        publish(&mut b, producer, J, "/msg", &Value::str("first"));
        publish(&mut b, producer, J, "/msg", &Value::str("last"));
        let late = b.connect();
        send(
            &mut b,
            late,
            Frame::Subscribe {
                serializer: P,
                topic: "/msg",
            },
        );
        let got = drain(&mut b, late);
        assert_eq!(got.len(), 1);
        assert_eq!(P.decode(&got[0].2).unwrap(), Value::str("last"));
    }

    #[test]
    fn list_reports_published_topics_in_the_requested_serialization() {
        let mut b = Broker::new(BrokerConfig::default());
        let c = b.connect();
        send(
            &mut b,
            c,
            Frame::Subscribe {
                serializer: J,
                topic: "/nothing",
            },
        );
        publish(&mut b, c, J, "/weather/wind", &Value::Int(3));
        drain(&mut b, c);
        send(&mut b, c, Frame::List { serializer: X });
        let got = drain(&mut b, c);
        assert_eq!(got[0].0, "list");
        assert_eq!(
            X.decode(&got[0].2).unwrap(),
            Value::List(vec![Value::str("/weather/wind")])
        );
    }

    #[test]
    fn cancel_stops_delivery_of_that_topic_to_that_client() {
        let mut b = Broker::new(BrokerConfig::default());
        let (producer, a, other) = (b.connect(), b.connect(), b.connect());
        for c in [a, other] {
            send(
                &mut b,
                c,
                Frame::Subscribe {
                    serializer: J,
                    topic: "/t",
                },
            );
        }
        send(
            &mut b,
            a,
            Frame::Cancel {
                serializer: J,
                topic: "/t",
            },
        );
        publish(&mut b, producer, J, "/t", &Value::Int(1));
        assert!(drain(&mut b, a).is_empty());
        assert_eq!(drain(&mut b, other).len(), 1);
    }

    #[test]
    fn fan_out_encodes_once_per_serialization() {
        let mut b = Broker::new(BrokerConfig::default());
        let producer = b.connect();
        let subs: Vec<_> = (0..30).map(|_| b.connect()).collect();
        for (i, &s) in subs.iter().enumerate() {
            let serializer = Serializer::from_id((i % 3) as u8).unwrap();
            send(
                &mut b,
                s,
                Frame::Subscribe {
                    serializer,
                    topic: "/a",
                },
            );
        }
        publish(
            &mut b,
            producer,
            J,
            "/a/b",
            &Value::List(vec![Value::Float(1.5)]),
        );
        assert_eq!(b.stats().delivered, 30);
        for (i, &s) in subs.iter().enumerate() {
            let ser = Serializer::from_id((i % 3) as u8).unwrap();
            let got = drain(&mut b, s);
            assert_eq!(got[0].1, "/a/b");
            assert_eq!(
                ser.decode(&got[0].2).unwrap(),
                Value::List(vec![Value::Float(1.5)])
            );
        }
    }

    #[test]
    fn frames_split_across_reads_are_handled_once_whole() {
        let mut b = Broker::new(BrokerConfig::default());
        let (producer, sub) = (b.connect(), b.connect());
        send(
            &mut b,
            sub,
            Frame::Subscribe {
                serializer: J,
                topic: "/t",
            },
        );
        let bytes = Frame::Publish {
            serializer: J,
            topic: "/t",
            payload: b"7",
        }
        .to_bytes();
        assert_eq!(b.receive(producer, &bytes[..5]), 0);
        assert!(drain(&mut b, sub).is_empty());
        assert_eq!(b.receive(producer, &bytes), bytes.len());
        assert_eq!(drain(&mut b, sub).len(), 1);
    }

    #[test]
    fn malicious_pickle_gets_an_error_and_reaches_nobody() {
        let mut b = Broker::new(BrokerConfig::default());
        let (producer, sub) = (b.connect(), b.connect());
        send(
            &mut b,
            sub,
            Frame::Subscribe {
                serializer: P,
                topic: "/t",
            },
        );
        let evil = b"\x80\x02cposix\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03.";
        send(
            &mut b,
            producer,
            Frame::Publish {
                serializer: P,
                topic: "/t",
                payload: evil,
            },
        );
        let got = drain(&mut b, producer);
        assert_eq!(got[0].0, "error");
        assert!(String::from_utf8_lossy(&got[0].2).contains("GLOBAL"));
        assert!(b.is_closing(producer));
        assert!(drain(&mut b, sub).is_empty());
    }

    #[test]
    fn oversized_frame_gets_an_error_and_a_close() {
        let mut b = Broker::new(BrokerConfig {
            max_frame_bytes: 100,
            ..BrokerConfig::default()
        });
        let c = b.connect();
        let payload = vec![b'1'; 200];
        let bytes = Frame::Publish {
            serializer: J,
            topic: "/t",
            payload: &payload,
        }
        .to_bytes();
        b.receive(c, &bytes[..8]);
        let got = drain(&mut b, c);
        assert_eq!(got[0].0, "error");
        let expected = FrameError::TooLarge {
            length: bytes.len() - 4,
            max: 100,
        }
        .to_string();
        assert_eq!(String::from_utf8_lossy(&got[0].2), expected);
        assert!(b.is_closing(c));
    }

    #[test]
    fn bad_topics_and_broker_only_kinds_are_refused() {
        for frame in [
            Frame::Subscribe {
                serializer: J,
                topic: "no-slash",
            },
            Frame::Publish {
                serializer: J,
                topic: "/a//b",
                payload: b"1",
            },
            Frame::Deliver {
                serializer: J,
                topic: "/a",
                payload: b"1",
            },
        ] {
            let mut b = Broker::new(BrokerConfig::default());
            let c = b.connect();
            send(&mut b, c, frame);
            assert_eq!(drain(&mut b, c)[0].0, "error");
            assert!(b.is_closing(c));
        }
    }

    #[test]
    fn slow_consumer_is_disconnected_without_stalling_the_others() {
        let config = BrokerConfig {
            outbound_limit_bytes: 1000,
            ..BrokerConfig::default()
        };
        let mut b = Broker::new(config);
        let (producer, slow, fast) = (b.connect(), b.connect(), b.connect());
        for c in [slow, fast] {
            send(
                &mut b,
                c,
                Frame::Subscribe {
                    serializer: J,
                    topic: "/t",
                },
            );
        }
        let mut fast_got = 0;
        for i in 0..100 {
            publish(&mut b, producer, J, "/t", &Value::Int(i));
            fast_got += drain(&mut b, fast).len();
        }
        assert_eq!(fast_got, 100);
        assert!(b.is_closing(slow));
        assert_eq!(b.stats().slow_disconnects, 1);
        let got = drain(&mut b, slow);
        assert_eq!(got.last().unwrap().0, "error");
        assert!(!b.is_closing(producer));
    }

    fn subscribed_pair(config: BrokerConfig) -> (Broker, ClientId, ClientId, ClientId) {
        let mut b = Broker::new(config);
        let (producer, stuck, reader) = (b.connect(), b.connect(), b.connect());
        for c in [stuck, reader] {
            send(
                &mut b,
                c,
                Frame::Subscribe {
                    serializer: J,
                    topic: "/t",
                },
            );
        }
        (b, producer, stuck, reader)
    }

    #[test]
    fn a_reader_whose_output_stops_draining_is_cut_after_the_timeout_under_the_bound() {
        let timeout = Duration::from_secs(10);
        let config = BrokerConfig {
            slow_consumer_timeout: timeout,
            ..BrokerConfig::default()
        };
        let (mut b, producer, stuck, reader) = subscribed_pair(config);
        let t0 = Instant::now();
        publish(&mut b, producer, J, "/t", &Value::Int(1));
        drain(&mut b, reader);
        // Far under the 8 MiB bound, so only time can find it.
        assert_eq!(b.cut_stalled(t0), 0);
        publish(&mut b, producer, J, "/t", &Value::Int(2));
        drain(&mut b, reader);
        assert_eq!(b.cut_stalled(t0 + timeout / 2), 0);
        assert!(!b.is_closing(stuck));
        assert_eq!(b.cut_stalled(t0 + timeout), 1);
        assert!(b.is_closing(stuck));
        assert!(!b.is_closing(reader) && !b.is_closing(producer));
        assert_eq!(b.stats().slow_disconnects, 1);
        let got = drain(&mut b, stuck);
        assert_eq!(got.last().unwrap().0, "error");
    }

    #[test]
    fn a_busy_reader_whose_output_keeps_emptying_is_never_cut() {
        let timeout = Duration::from_secs(1);
        let config = BrokerConfig {
            slow_consumer_timeout: timeout,
            ..BrokerConfig::default()
        };
        let (mut b, producer, stuck, reader) = subscribed_pair(config);
        b.disconnect(stuck);
        let t0 = Instant::now();
        // Output is pending at every sweep, but it drains in between.
        for second in 0..30 {
            publish(&mut b, producer, J, "/t", &Value::Int(second));
            assert_eq!(b.cut_stalled(t0 + Duration::from_secs(second as u64)), 0);
            drain(&mut b, reader);
            publish(&mut b, producer, J, "/t", &Value::Int(second));
        }
        assert!(!b.is_closing(reader));
    }

    #[test]
    fn the_timeout_applies_under_drop_oldest_too() {
        let timeout = Duration::from_millis(500);
        let config = BrokerConfig {
            slow_consumer: SlowConsumerPolicy::DropOldest,
            slow_consumer_timeout: timeout,
            ..BrokerConfig::default()
        };
        let (mut b, producer, stuck, _reader) = subscribed_pair(config);
        let t0 = Instant::now();
        publish(&mut b, producer, J, "/t", &Value::Int(1));
        b.cut_stalled(t0);
        b.cut_stalled(t0 + timeout);
        assert!(b.is_closing(stuck));
    }

    #[test]
    fn drop_oldest_policy_keeps_a_slow_consumer_with_the_newest_messages() {
        let config = BrokerConfig {
            outbound_limit_bytes: 100,
            slow_consumer: SlowConsumerPolicy::DropOldest,
            ..BrokerConfig::default()
        };
        let mut b = Broker::new(config);
        let (producer, slow) = (b.connect(), b.connect());
        send(
            &mut b,
            slow,
            Frame::Subscribe {
                serializer: J,
                topic: "/t",
            },
        );
        for i in 0..50 {
            publish(&mut b, producer, J, "/t", &Value::Int(i));
        }
        assert!(!b.is_closing(slow));
        assert!(b.stats().dropped > 0);
        let got = drain(&mut b, slow);
        assert_eq!(got.last().unwrap().2, b"49");
        assert!(got.len() < 50);
    }

    #[test]
    fn disconnect_forgets_subscriptions() {
        let mut b = Broker::new(BrokerConfig::default());
        let (producer, sub) = (b.connect(), b.connect());
        send(
            &mut b,
            sub,
            Frame::Subscribe {
                serializer: J,
                topic: "/t",
            },
        );
        b.disconnect(sub);
        publish(&mut b, producer, J, "/t", &Value::Int(1));
        assert_eq!(b.stats().delivered, 0);
    }
}
