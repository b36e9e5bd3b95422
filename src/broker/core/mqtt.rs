//! The broker core's MQTT side: MQTT packets in, MQTT packets out, on the
//! same clients, outboxes and topic tree as the native protocol, so a
//! message published either way reaches subscribers of both.
//!
//! A violation of MQTT 3.1.1 closes the connection (the protocol has no
//! error packet); a CONNECT of another protocol level is answered with
//! CONNACK 0x01 first. QoS 2 is granted and answered as QoS 1 (a QoS 2
//! PUBLISH gets PUBREC, its PUBREL gets PUBCOMP, and it is delivered at
//! most at QoS 1). Every publish is retained, as natively.

use std::borrow::Cow;
use std::time::Instant;

use super::{Broker, ClientId, ErrorCode, MAX_SUBSCRIPTIONS_PER_CLIENT};
use crate::broker::codec::Serializer;
use crate::broker::mqtt::codec::{Decoded, MqttError, Packet, Publish, kind, parse_packet};
use crate::broker::mqtt::encode;
use crate::broker::mqtt::names::{self, filter_levels};
use crate::broker::mqtt::payload::{json_of_mqtt, mqtt_of_native};
use crate::broker::mqtt::session::{ConnectAnswer, OwnedWill, Session};
use crate::broker::outbox::Pushed;

/// A message's payload on its way to MQTT subscribers.
pub(super) enum Body<'a> {
    /// Published natively in this serialization.
    Native(Serializer, &'a [u8]),
    /// Published over MQTT: passed on untouched.
    Raw(&'a [u8]),
}

impl Broker {
    /// Registers a new MQTT connection, opened at `now`.
    pub fn connect_mqtt(&mut self, now: Instant) -> ClientId {
        let id = self.connect();
        self.clients[id.0].mqtt = Some(Box::new(Session::new(now)));
        id
    }

    /// True for a connection made with [`connect_mqtt`](Self::connect_mqtt).
    pub fn is_mqtt(&self, id: ClientId) -> bool {
        self.clients.get(id.0).is_some_and(|c| c.mqtt.is_some())
    }

    /// Handles every whole MQTT packet at the start of `input`, received at
    /// `now`; returns the bytes used. After a violation the client is
    /// closing and all input counts as used.
    pub fn receive_mqtt(&mut self, id: ClientId, input: &[u8], now: Instant) -> usize {
        let mut used = 0;
        while !self.is_closing(id) {
            match parse_packet(&input[used..], self.config.max_mqtt_packet_bytes) {
                Ok(Decoded::Partial) => return used,
                Ok(Decoded::Complete(packet, n)) => {
                    used += n;
                    if let Some(session) = self.session_mut(id) {
                        session.heard_from(now);
                    }
                    self.handle_packet(id, packet);
                }
                Err(MqttError::UnsupportedLevel(_)) if !self.is_connected(id) => {
                    let mut out = Vec::new();
                    encode::connack(false, encode::UNACCEPTABLE_PROTOCOL_VERSION, &mut out);
                    self.reply(id, &out);
                    self.end(id);
                }
                Err(e) => self.fail(id, ErrorCode::MalformedFrame, &e.to_string()),
            }
        }
        input.len()
    }

    /// Closes every MQTT connection whose keep-alive (or CONNECT) deadline
    /// has passed at `now`; their wills are published when they are gone.
    /// Returns how many.
    pub fn expire_mqtt(&mut self, now: Instant) -> usize {
        let expired: Vec<ClientId> = self
            .clients
            .iter()
            .filter(|(_, c)| !c.closing && c.mqtt.as_ref().is_some_and(|s| s.expired(now)))
            .map(|(index, _)| ClientId(index))
            .collect();
        for &id in &expired {
            self.fail(id, ErrorCode::Other, "keep-alive expired");
        }
        expired.len()
    }

    fn session_mut(&mut self, id: ClientId) -> Option<&mut Session> {
        self.clients.get_mut(id.0)?.mqtt.as_deref_mut()
    }

    fn is_connected(&self, id: ClientId) -> bool {
        let session = self.clients.get(id.0).and_then(|c| c.mqtt.as_deref());
        session.is_some_and(Session::is_connected)
    }

    fn handle_packet(&mut self, id: ClientId, packet: Packet<'_>) {
        let connected = self.is_connected(id);
        let mut out = Vec::new();
        match packet {
            Packet::Connect(c) if !connected => {
                self.assigned_ids += 1;
                let assigned = format!("distloop-{}", self.assigned_ids);
                let Some(session) = self.session_mut(id) else {
                    return;
                };
                match session.connect(&c, || assigned) {
                    ConnectAnswer::Accepted => {
                        let client_id = session.client_id.clone();
                        // A second connection with the same identifier
                        // takes over (MQTT-3.1.4-2).
                        if let Some(old) = self.mqtt_clients.insert(client_id, id) {
                            self.fail(old, ErrorCode::MalformedFrame, "taken over");
                        }
                        encode::connack(false, encode::ACCEPTED, &mut out);
                        self.reply(id, &out);
                    }
                    ConnectAnswer::Refused(code) => {
                        encode::connack(false, code, &mut out);
                        self.reply(id, &out);
                        self.end(id);
                    }
                    ConnectAnswer::Violation(e) => {
                        self.fail(id, ErrorCode::BadTopic, &e.to_string())
                    }
                }
            }
            _ if !connected => self.fail(
                id,
                ErrorCode::MalformedFrame,
                "the first packet is not CONNECT",
            ),
            Packet::Connect(_) => self.fail(id, ErrorCode::MalformedFrame, "a second CONNECT"),
            Packet::Publish(p) => self.publish_packet(id, &p),
            Packet::PubRel(packet_id) => {
                encode::ack(kind::PUBCOMP, packet_id, &mut out);
                self.reply(id, &out);
            }
            // Deliveries are not resent, so their acknowledgements end nothing.
            Packet::PubAck(_) | Packet::PubRec(_) | Packet::PubComp(_) => {}
            Packet::Subscribe(packet_id, filters) => {
                self.subscribe_filters(id, packet_id, &filters)
            }
            Packet::Unsubscribe(packet_id, filters) => {
                for filter in filters {
                    if let Ok(levels) = filter_levels(filter) {
                        self.tree.unsubscribe_filter(&levels, id);
                    }
                    if let Some(session) = self.session_mut(id) {
                        session.filters.retain(|(f, _)| &**f != filter);
                    }
                }
                encode::ack(kind::UNSUBACK, packet_id, &mut out);
                self.reply(id, &out);
            }
            Packet::PingReq => self.reply(id, &encode::PINGRESP),
            Packet::Disconnect => {
                if let Some(session) = self.session_mut(id) {
                    session.will = None;
                }
                self.end(id);
            }
            Packet::ConnAck(..) | Packet::SubAck(..) | Packet::UnsubAck(_) | Packet::PingResp => {
                self.fail(
                    id,
                    ErrorCode::UnknownKind,
                    "only the server sends this packet",
                )
            }
        }
    }

    fn publish_packet(&mut self, id: ClientId, p: &Publish<'_>) {
        let path = match names::path_of_name(p.topic) {
            Ok(path) => path,
            Err(e) => return self.fail(id, ErrorCode::BadTopic, &e.to_string()),
        };
        self.publish_mqtt(id, &path, p.payload, p.qos);
        if p.retain && p.payload.is_empty() {
            self.tree.clear_retained(&path);
        }
        let mut out = Vec::new();
        match (p.qos, p.packet_id) {
            (1, Some(packet_id)) => encode::ack(kind::PUBACK, packet_id, &mut out),
            (2, Some(packet_id)) => encode::ack(kind::PUBREC, packet_id, &mut out),
            _ => return,
        }
        self.reply(id, &out);
    }

    /// Publishes an MQTT payload to `path`: native subscribers get its
    /// mapped value, MQTT subscribers the bytes as they are.
    fn publish_mqtt(&mut self, id: ClientId, path: &str, raw: &[u8], qos: u8) {
        let mut targets = std::mem::take(&mut self.targets);
        if let Err(e) = self.tree.publish_mqtt(path, raw, &mut targets) {
            self.targets = targets;
            return self.fail(id, ErrorCode::BadTopic, &e.to_string());
        }
        self.stats.published += 1;
        if !targets.is_empty() {
            let json = json_of_mqtt(raw);
            if self
                .encode_deliveries(Serializer::Json, path, &json, &targets)
                .is_ok()
            {
                let encoded = std::mem::take(&mut self.encoded);
                for &(target, wanted) in &targets {
                    self.deliver(target, &encoded[wanted as usize]);
                }
                self.encoded = encoded;
            }
        }
        self.targets = targets;
        self.deliver_to_filters(path, Body::Raw(raw), qos);
    }

    /// Sends a message on `path` to every MQTT subscriber of a matching
    /// filter, at the lower of `qos` and the granted QoS. The PUBLISH is
    /// encoded once per QoS; a QoS 1 copy only gets its packet id patched.
    pub(super) fn deliver_to_filters(&mut self, path: &str, body: Body<'_>, qos: u8) {
        let mut targets = std::mem::take(&mut self.filter_targets);
        self.tree.filter_targets(path, &mut targets);
        let name = names::name_of_path(path);
        if let (false, Some(name)) = (targets.is_empty(), name) {
            let payload = match body {
                Body::Raw(raw) => Some(Cow::Borrowed(raw)),
                Body::Native(serializer, payload) => mqtt_of_native(serializer, payload).ok(),
            };
            if let Some(payload) = payload {
                self.send_publishes(name, &payload, qos, false, &targets);
            }
        }
        self.filter_targets = targets;
    }

    fn send_publishes(
        &mut self,
        name: &str,
        payload: &[u8],
        qos: u8,
        retain: bool,
        targets: &[(ClientId, u8)],
    ) {
        let mut packets = std::mem::take(&mut self.mqtt_packets);
        packets[0].clear();
        packets[1].clear();
        let mut id_at = 0;
        for &(target, granted) in targets {
            let level = usize::from(qos.min(granted).min(1));
            if packets[level].is_empty() {
                let at =
                    encode::publish(name, level as u8, retain, 0, payload, &mut packets[level]);
                id_at = at.unwrap_or(id_at);
            }
            if level == 1 {
                let Some(session) = self.session_mut(target) else {
                    continue;
                };
                let packet_id = session.next_packet_id().to_be_bytes();
                packets[1][id_at..id_at + 2].copy_from_slice(&packet_id);
            }
            self.deliver(target, &packets[level]);
        }
        self.mqtt_packets = packets;
    }

    fn subscribe_filters(&mut self, id: ClientId, packet_id: u16, filters: &[(&str, u8)]) {
        let mut codes = Vec::with_capacity(filters.len());
        let mut granted_filters = Vec::new();
        for &(filter, requested) in filters {
            let Some(session) = self
                .clients
                .get_mut(id.0)
                .and_then(|c| c.mqtt.as_deref_mut())
            else {
                return;
            };
            let known = session.filters.iter().position(|(f, _)| &**f == filter);
            let levels = match filter_levels(filter) {
                Ok(levels)
                    if known.is_some() || session.filters.len() < MAX_SUBSCRIPTIONS_PER_CLIENT =>
                {
                    levels
                }
                _ => {
                    codes.push(encode::SUBSCRIPTION_FAILURE);
                    continue;
                }
            };
            // QoS 2 is granted as QoS 1.
            let granted = requested.min(1);
            match known {
                Some(at) => session.filters[at].1 = granted,
                None => session.filters.push((filter.into(), granted)),
            }
            self.tree.subscribe_filter(&levels, id, granted);
            codes.push(granted);
            granted_filters.push((levels, granted));
        }
        let mut out = Vec::new();
        encode::suback(packet_id, &codes, &mut out);
        self.reply(id, &out);
        for (levels, granted) in granted_filters {
            for (path, retained) in self.tree.retained_matching(&levels) {
                let Some(name) = names::name_of_path(&path) else {
                    continue;
                };
                let (payload, qos) = if retained.from_mqtt {
                    (Cow::Borrowed(&retained.payload[..]), granted)
                } else {
                    match mqtt_of_native(retained.serializer, &retained.payload) {
                        Ok(payload) => (payload, 0),
                        Err(_) => continue,
                    }
                };
                self.send_publishes(name, &payload, qos, true, &[(id, granted)]);
            }
        }
    }

    /// Queues a packet the broker answers with (not a delivery).
    fn reply(&mut self, id: ClientId, packet: &[u8]) {
        let Some(client) = self.clients.get_mut(id.0) else {
            return;
        };
        if client.closing {
            return;
        }
        match client.outbox.push(packet) {
            Pushed::Queued { dropped } => {
                self.stats.dropped += dropped as u64;
                Self::touch(&mut self.touched, client, id);
            }
            Pushed::Overflow => {
                self.stats.slow_disconnects += 1;
                self.fail(id, ErrorCode::SlowConsumer, "slow consumer");
            }
        }
    }

    /// Closes the connection once what is queued is written.
    fn end(&mut self, id: ClientId) {
        if let Some(client) = self.clients.get_mut(id.0) {
            client.closing = true;
            Self::touch(&mut self.touched, client, id);
        }
    }

    /// The rest of [`disconnect`](Self::disconnect) for an MQTT client.
    pub(super) fn end_mqtt_session(&mut self, id: ClientId, session: Session) {
        for (filter, _) in &session.filters {
            if let Ok(levels) = filter_levels(filter) {
                self.tree.unsubscribe_filter(&levels, id);
            }
        }
        if self.mqtt_clients.get(&session.client_id) == Some(&id) {
            self.mqtt_clients.remove(&session.client_id);
        }
        if let Some(OwnedWill { path, payload, qos }) = session.will {
            self.publish_mqtt(id, &path, &payload, qos);
        }
    }
}

#[cfg(test)]
mod tests;
