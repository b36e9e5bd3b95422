//! The broker's sans-IO core: bytes from a client go in, frames for clients
//! come out in their [`Outbox`]es. No sockets, no clock.
//!
//! Fan-out encodes a delivery once per serialization that its subscribers
//! use, not once per subscriber, and passes the publisher's payload bytes
//! through untouched to subscribers of the same serialization. Payloads are
//! always validated (a Pickle payload only ever holds plain data), because
//! consumers decode what the broker hands them.

use std::collections::HashMap;
use std::time::Instant;

use slab::Slab;

mod config;
mod delivery;
mod mqtt;
#[cfg(test)]
mod tests;

pub use config::{
    BrokerConfig, BrokerStats, DEFAULT_ERROR_LINGER, DEFAULT_MAX_MQTT_PACKET_BYTES,
    DEFAULT_OUTBOUND_LIMIT_BYTES, DEFAULT_SLOW_CONSUMER_TIMEOUT, MAX_SUBSCRIPTIONS_PER_CLIENT,
};

use super::codec::{CodecError, Serializer};
use super::frame::{ErrorCode, Frame, Parsed, parse_frame};
use super::mqtt::session::Session;
use super::outbox::Outbox;
use super::tree::{ClientId, TopicTree};
use super::value::Value;

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
}
