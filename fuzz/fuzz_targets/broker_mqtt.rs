//! Feeds arbitrary bytes to the broker core as an MQTT connection (after a
//! valid CONNECT, and once without one), beside an MQTT and a native
//! subscriber of everything, and checks that nothing panics, that every
//! byte is used, and that what the core queues for MQTT clients parses as
//! whole MQTT packets.
#![no_main]

use std::time::{Duration, Instant};

use distloop::broker::mqtt::codec::{Decoded, parse_packet};
use distloop::broker::mqtt::encode;
use distloop::broker::{Broker, BrokerConfig, ClientId, Frame, Serializer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let now = Instant::now();
    let mut broker = Broker::new(BrokerConfig {
        max_mqtt_packet_bytes: 4096,
        ..BrokerConfig::default()
    });
    let native = broker.connect();
    let sub = Frame::Subscribe {
        serializer: Serializer::Pickle,
        topic: "/a",
    };
    broker.receive(native, &sub.to_bytes());
    let watcher = connected(&mut broker, now, "watcher");
    let mut subscribe = Vec::new();
    encode::subscribe(1, &[("#", 1)], &mut subscribe);
    broker.receive_mqtt(watcher, &subscribe, now);

    let fuzzed = connected(&mut broker, now, "fuzzed");
    assert!(broker.receive_mqtt(fuzzed, data, now) <= data.len());
    let fresh = broker.connect_mqtt(now);
    broker.receive_mqtt(fresh, data, now);
    broker.expire_mqtt(now + Duration::from_secs(100_000));
    broker.disconnect(fuzzed);
    broker.disconnect(fresh);
    for id in [watcher, fuzzed, fresh] {
        whole_packets(&mut broker, id);
    }
});

fn connected(broker: &mut Broker, now: Instant, client_id: &str) -> ClientId {
    let id = broker.connect_mqtt(now);
    let mut connect = Vec::new();
    encode::connect(client_id, true, 0, None, &mut connect);
    broker.receive_mqtt(id, &connect, now);
    id
}

fn whole_packets(broker: &mut Broker, id: ClientId) {
    let Some(outbox) = broker.outbox_mut(id) else {
        return;
    };
    let mut bytes = outbox.as_slice();
    while !bytes.is_empty() {
        match parse_packet(bytes, usize::MAX) {
            Ok(Decoded::Complete(_, used)) => bytes = &bytes[used..],
            other => panic!("the core queued a bad MQTT packet: {other:?}"),
        }
    }
}
