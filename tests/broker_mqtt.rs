//! The broker's MQTT 3.1.1 listener with real clients: mosquitto_pub and
//! mosquitto_sub (publish/subscribe, wildcards, retained, QoS 1), native
//! clients across protocols, the will, and bad input from raw sockets.

#[path = "support/mqtt.rs"]
mod mqtt;
mod support;

use std::net::SocketAddr;
use std::time::Duration;

use distloop::broker::client::Client;
use distloop::broker::mqtt::codec::Will;
use distloop::broker::mqtt::encode;
use distloop::broker::{Serializer, Value};
use mqtt::{MosquittoSub, RawMqtt, WAIT, mosquitto_pub, shown};
use support::{Server, distloop_bin};

/// A broker with an MQTT listener; returns it and the MQTT address.
fn broker(extra: &[&str]) -> (Server, SocketAddr) {
    let mut args = vec!["broker", "--listen", "127.0.0.1:0", "--mqtt", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    let server = Server::start_expecting(distloop_bin(), &args, 2);
    let mqtt = server.other_addrs[0].1;
    (server, mqtt)
}

fn native_subscriber(server: &Server, serializer: Serializer, topic: &str) -> Client {
    let mut c = Client::connect(server.addr, serializer).unwrap();
    c.set_read_timeout(Some(WAIT)).unwrap();
    c.subscribe(topic).unwrap();
    c.list_topics().unwrap();
    c
}

#[test]
fn mosquitto_sub_gets_what_mosquitto_pub_sends_through_plus_and_hash() {
    let (_server, addr) = broker(&[]);
    let sub = MosquittoSub::start(addr, &["-t", "home/+/temp", "-t", "office/#"]);
    assert!(mosquitto_pub(
        addr,
        &["-t", "home/kitchen/temp", "-m", "21.5"]
    ));
    assert!(mosquitto_pub(
        addr,
        &["-t", "home/kitchen/humidity", "-m", "40"]
    ));
    assert!(mosquitto_pub(addr, &["-t", "office", "-m", "open"]));
    assert!(mosquitto_pub(addr, &["-t", "office/desk/lamp", "-m", "on"]));
    assert_eq!(sub.next_message().unwrap(), "home/kitchen/temp 21.5");
    assert_eq!(sub.next_message().unwrap(), "office open");
    assert_eq!(sub.next_message().unwrap(), "office/desk/lamp on");
}

#[test]
fn qos_one_is_acknowledged_and_delivered_at_qos_one() {
    let (_server, addr) = broker(&[]);
    let sub = MosquittoSub::start(addr, &["-t", "q/#", "-q", "1"]);
    // mosquitto_pub -q 1 exits 0 only after its PUBACK.
    assert!(mosquitto_pub(addr, &["-t", "q/one", "-m", "x", "-q", "1"]));
    assert_eq!(sub.next_message().unwrap(), "q/one x");
    let mut raw = RawMqtt::connect(addr, "raw-q1", 0, None);
    assert!(
        raw.subscribe(&[("q/+", 2)]).contains("SubAck(1, [1])"),
        "QoS 2 is granted as 1"
    );
    let got = raw.next_payload();
    assert!(
        got.contains("retain: true") && got.contains("qos: 1"),
        "{got}"
    );
}

#[test]
fn a_late_subscriber_gets_the_last_message_of_each_matching_topic() {
    let (_server, addr) = broker(&[]);
    for (topic, m) in [("r/a", "1"), ("r/a", "2"), ("r/b", "3"), ("s/c", "4")] {
        assert!(mosquitto_pub(addr, &["-t", topic, "-m", m]));
    }
    let sub = MosquittoSub::start(addr, &["-t", "r/#"]);
    let mut got = vec![sub.next_message().unwrap(), sub.next_message().unwrap()];
    got.sort();
    assert_eq!(got, ["r/a 2", "r/b 3"]);
}

#[test]
fn mqtt_publishes_reach_native_subscribers_as_values_and_back() {
    let (server, addr) = broker(&[]);
    let mut json = native_subscriber(&server, Serializer::Json, "/sensors");
    let mut pickle = native_subscriber(&server, Serializer::Pickle, "/sensors/door");
    assert!(mosquitto_pub(
        addr,
        &["-t", "sensors/temp", "-m", "{\"c\": 21.5}"]
    ));
    assert!(mosquitto_pub(addr, &["-t", "sensors/door", "-m", "open"]));
    let first = json.receive().unwrap();
    assert_eq!(first.topic, "/sensors/temp");
    assert_eq!(
        first.value,
        Value::Map(vec![("c".into(), Value::Float(21.5))])
    );
    assert_eq!(json.receive().unwrap().value, Value::str("open"));
    assert_eq!(pickle.receive().unwrap().value, Value::str("open"));

    let sub = MosquittoSub::start(addr, &["-t", "sensors/+"]);
    // The retained messages come first.
    let mut retained = vec![sub.next_message().unwrap(), sub.next_message().unwrap()];
    retained.sort();
    assert_eq!(
        retained,
        ["sensors/door open", "sensors/temp {\"c\": 21.5}"]
    );
    let mut native = Client::connect(server.addr, Serializer::Xml).unwrap();
    native.publish("/sensors/count", &Value::Int(3)).unwrap();
    native
        .publish("/sensors/name", &Value::str("hall"))
        .unwrap();
    assert_eq!(sub.next_message().unwrap(), "sensors/count 3");
    assert_eq!(sub.next_message().unwrap(), "sensors/name hall");
}

#[test]
fn the_will_is_published_when_a_client_vanishes_or_goes_silent() {
    let (_server, addr) = broker(&[]);
    let sub = MosquittoSub::start(addr, &["-t", "dev/+/status"]);
    let will = |payload: &'static [u8]| Will {
        topic: "dev/1/status",
        payload,
        qos: 1,
        retain: false,
    };
    let vanishing = RawMqtt::connect(addr, "dev-1", 0, Some(&will(b"vanished")));
    drop(vanishing);
    assert_eq!(sub.next_message().unwrap(), "dev/1/status vanished");
    // Keep-alive 1 s: silence for 1.5 s ends the connection, with its will.
    let mut silent = RawMqtt::connect(addr, "dev-1", 1, Some(&will(b"silent")));
    assert_eq!(sub.next_message().unwrap(), "dev/1/status silent");
    assert!(silent.is_closed_by_broker());
    let mut polite = RawMqtt::connect(addr, "dev-1", 0, Some(&will(b"polite")));
    polite.send(&encode::DISCONNECT);
    assert!(polite.is_closed_by_broker());
    assert!(mosquitto_pub(addr, &["-t", "dev/1/status", "-m", "after"]));
    assert_eq!(sub.next_message().unwrap(), "dev/1/status after");
}

#[test]
fn bad_input_is_answered_or_closed_and_others_keep_going() {
    let (_server, addr) = broker(&["--mqtt-max-packet-bytes", "1024"]);
    let mut bystander = RawMqtt::connect(addr, "bystander", 0, None);
    bystander.subscribe(&[("t", 0)]);

    let mut old_level = RawMqtt::open(addr);
    let mut connect = Vec::new();
    encode::connect("old", true, 0, None, &mut connect);
    connect[8] = 3;
    old_level.send(&connect);
    assert_eq!(old_level.next_packet(), Some("ConnAck(false, 1)".into()));
    assert!(old_level.is_closed_by_broker());

    let mut bad_length = RawMqtt::connect(addr, "bad-length", 0, None);
    bad_length.send(&[0x30, 0xff, 0xff, 0xff, 0xff, 0x01]);
    assert!(bad_length.is_closed_by_broker());

    let mut too_big = RawMqtt::connect(addr, "too-big", 0, None);
    too_big.publish("t", &[b'x'; 2000]);
    assert!(too_big.is_closed_by_broker());

    let mut twice = RawMqtt::connect(addr, "twice", 0, None);
    let mut again = Vec::new();
    encode::connect("twice", true, 0, None, &mut again);
    twice.send(&again);
    assert!(twice.is_closed_by_broker());

    let mut unmapped = RawMqtt::connect(addr, "unmapped", 0, None);
    assert!(
        unmapped
            .subscribe(&[("/lead", 0), ("ok", 0)])
            .contains("[128, 0]")
    );

    let mut publisher = RawMqtt::connect(addr, "publisher", 0, None);
    publisher.publish("t", b"still here");
    assert!(bystander.next_payload().contains(&shown(b"still here")));
}

/// Messages of 1000 bytes: more than the loopback buffers and the
/// outbound bound hold together.
const FLOOD: usize = 20_000;

#[test]
fn a_subscriber_that_does_not_read_is_cut_and_the_rest_are_served() {
    let (server, addr) = broker(&[
        "--outbound-limit-bytes",
        "2000000",
        "--slow-consumer-timeout",
        "1s",
    ]);
    let mut stuck = RawMqtt::connect(addr, "stuck", 0, None);
    stuck.subscribe(&[("flood/#", 0)]);
    let mut reader = native_subscriber(&server, Serializer::Json, "/flood");
    // The publisher writes from its own thread while the reader reads.
    let flooder = std::thread::spawn(move || {
        let mut publisher = RawMqtt::connect(addr, "flooder", 0, None);
        let payload = vec![b'7'; 1000];
        for _ in 0..FLOOD {
            publisher.publish("flood/x", &payload);
        }
        publisher
    });
    for _ in 0..FLOOD {
        let got = reader.receive().unwrap();
        assert_eq!(got.topic, "/flood/x");
    }
    let _publisher = flooder.join().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert!(stuck.is_closed_by_broker());
}
