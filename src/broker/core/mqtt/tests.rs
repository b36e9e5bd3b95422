//! Unit tests of the broker core's MQTT side: MQTT and native clients on one
//! topic tree, retained messages, the will, and the protocol violations that
//! close a connection, with no sockets.

use std::time::Duration;

use super::*;
use crate::broker::core::BrokerConfig;
use crate::broker::frame::{Frame, Parsed, parse_frame};
use crate::broker::mqtt::codec::Will;

fn mqtt_client(b: &mut Broker, now: Instant, client_id: &str, will: Option<&Will<'_>>) -> ClientId {
    let id = b.connect_mqtt(now);
    let mut bytes = Vec::new();
    encode::connect(client_id, true, 10, will, &mut bytes);
    assert_eq!(b.receive_mqtt(id, &bytes, now), bytes.len());
    assert_eq!(packets(b, id), [Packet::ConnAck(false, 0)].map(owned));
    id
}

fn send(b: &mut Broker, id: ClientId, bytes: &[u8]) {
    assert_eq!(b.receive_mqtt(id, bytes, Instant::now()), bytes.len());
}

/// A packet made owned, for comparing: its Debug text.
fn owned(p: Packet<'_>) -> String {
    format!("{p:?}")
}

fn packets(b: &mut Broker, id: ClientId) -> Vec<String> {
    let outbox = b.outbox_mut(id).unwrap();
    let bytes = outbox.as_slice().to_vec();
    outbox.consume(bytes.len());
    let mut at = 0;
    let mut out = Vec::new();
    while at < bytes.len() {
        let Ok(Decoded::Complete(p, n)) = parse_packet(&bytes[at..], usize::MAX) else {
            panic!("not a whole packet in an outbox");
        };
        out.push(owned(p));
        at += n;
    }
    out
}

fn publish_bytes(topic: &str, qos: u8, packet_id: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode::publish(topic, qos, false, packet_id, payload, &mut out);
    out
}

fn subscribe_bytes(filter: &str, qos: u8) -> Vec<u8> {
    let mut out = Vec::new();
    encode::subscribe(1, &[(filter, qos)], &mut out);
    out
}

#[test]
fn mqtt_and_native_clients_reach_each_other_on_one_tree() {
    let mut b = Broker::new(BrokerConfig::default());
    let now = Instant::now();
    let mqtt = mqtt_client(&mut b, now, "m", None);
    let native = b.connect();
    let sub = Frame::Subscribe {
        serializer: Serializer::Json,
        topic: "/home",
    };
    b.receive(native, &sub.to_bytes());
    send(&mut b, mqtt, &subscribe_bytes("home/+/temp", 2));
    assert_eq!(packets(&mut b, mqtt), [owned(Packet::SubAck(1, &[1]))]);

    send(
        &mut b,
        mqtt,
        &publish_bytes("home/kitchen/temp", 1, 7, b"21.5"),
    );
    let bytes = b.outbox_mut(native).unwrap().as_slice().to_vec();
    let Ok(Parsed::Complete(Frame::Deliver { topic, payload, .. }, _)) =
        parse_frame(&bytes, usize::MAX)
    else {
        panic!("no delivery");
    };
    assert_eq!((topic, payload), ("/home/kitchen/temp", &b"21.5"[..]));
    // The publisher is a subscriber too (MQTT has no "no local").
    let got = packets(&mut b, mqtt);
    assert!(got[0].contains("home/kitchen/temp") && got[0].contains("qos: 1"));
    assert_eq!(got[1], owned(Packet::PubAck(7)));

    let publish = Frame::Publish {
        serializer: Serializer::Pickle,
        topic: "/home/hall/temp",
        payload: &Serializer::Pickle.encode(&"cold".into()),
    };
    b.receive(native, &publish.to_bytes());
    let publish = Publish {
        dup: false,
        qos: 0,
        retain: false,
        topic: "home/hall/temp",
        packet_id: None,
        payload: b"cold",
    };
    assert_eq!(packets(&mut b, mqtt), [owned(Packet::Publish(publish))]);
}

#[test]
fn retained_messages_match_the_filter_and_carry_the_retain_flag() {
    let mut b = Broker::new(BrokerConfig::default());
    let now = Instant::now();
    let publisher = mqtt_client(&mut b, now, "p", None);
    send(&mut b, publisher, &publish_bytes("a/b", 0, 0, &[0xff, 0]));
    send(&mut b, publisher, &publish_bytes("a/c/d", 0, 0, b"x"));
    let late = mqtt_client(&mut b, now, "late", None);
    send(&mut b, late, &subscribe_bytes("a/+", 0));
    let got = packets(&mut b, late);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got[1].contains("retain: true") && got[1].contains("[255, 0]"));
}

#[test]
fn a_second_connect_and_a_publish_before_connect_close_the_connection() {
    let mut b = Broker::new(BrokerConfig::default());
    let now = Instant::now();
    let c = mqtt_client(&mut b, now, "c", None);
    let mut again = Vec::new();
    encode::connect("c", true, 0, None, &mut again);
    send(&mut b, c, &again);
    assert!(b.is_closing(c));
    let early = b.connect_mqtt(now);
    send(&mut b, early, &publish_bytes("a", 0, 0, b"1"));
    assert!(b.is_closing(early));
    assert!(packets(&mut b, early).is_empty());
}

#[test]
fn another_protocol_level_gets_connack_one_then_a_close() {
    let mut b = Broker::new(BrokerConfig::default());
    let c = b.connect_mqtt(Instant::now());
    let mut bytes = Vec::new();
    encode::connect("c", true, 0, None, &mut bytes);
    bytes[8] = 5;
    send(&mut b, c, &bytes);
    assert_eq!(packets(&mut b, c), [owned(Packet::ConnAck(false, 1))]);
    assert!(b.is_closing(c));
}

#[test]
fn the_will_is_published_on_an_abrupt_end_but_not_after_disconnect() {
    let mut b = Broker::new(BrokerConfig::default());
    let now = Instant::now();
    let watcher = mqtt_client(&mut b, now, "w", None);
    send(&mut b, watcher, &subscribe_bytes("dev/+/status", 1));
    packets(&mut b, watcher);
    let will = Will {
        topic: "dev/1/status",
        payload: b"offline",
        qos: 1,
        retain: false,
    };
    let polite = mqtt_client(&mut b, now, "polite", Some(&will));
    send(&mut b, polite, &encode::DISCONNECT);
    assert!(b.is_closing(polite));
    b.disconnect(polite);
    assert!(packets(&mut b, watcher).is_empty());
    let abrupt = mqtt_client(&mut b, now, "abrupt", Some(&will));
    // Keep-alive 10 s: silent for 15 s is over.
    assert_eq!(b.expire_mqtt(now + Duration::from_secs(14)), 0);
    // The watcher spoke later than `now`, so only the silent one goes.
    assert_eq!(b.expire_mqtt(now + Duration::from_secs(15)), 1);
    assert!(b.is_closing(abrupt) && !b.is_closing(watcher));
    b.disconnect(abrupt);
    let got = packets(&mut b, watcher);
    let offline = format!("{:?}", b"offline".to_vec());
    assert!(
        got[0].contains(&offline) && got[0].contains("qos: 1"),
        "{got:?}"
    );
}

#[test]
fn a_malformed_remaining_length_or_an_oversized_packet_closes() {
    let config = BrokerConfig {
        max_mqtt_packet_bytes: 64,
        ..BrokerConfig::default()
    };
    let mut b = Broker::new(config);
    let now = Instant::now();
    let bad = mqtt_client(&mut b, now, "bad", None);
    send(&mut b, bad, &[0x30, 0xff, 0xff, 0xff, 0xff, 0x01]);
    assert!(b.is_closing(bad));
    let big = mqtt_client(&mut b, now, "big", None);
    send(&mut b, big, &[0x30, 100]);
    assert!(b.is_closing(big));
    let fine = mqtt_client(&mut b, now, "fine", None);
    send(&mut b, fine, &encode::PINGREQ);
    assert_eq!(packets(&mut b, fine), [owned(Packet::PingResp)]);
}

#[test]
fn a_client_id_in_use_takes_the_older_connection_over() {
    let mut b = Broker::new(BrokerConfig::default());
    let now = Instant::now();
    let old = mqtt_client(&mut b, now, "same", None);
    let new = mqtt_client(&mut b, now, "same", None);
    assert!(b.is_closing(old));
    assert!(!b.is_closing(new));
}
