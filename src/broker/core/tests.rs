//! Unit tests of the broker core's native protocol: fan-out and
//! conversion between serializations, retained messages, topic listing,
//! cancel, bad input, and slow consumers, with no sockets and no clock.

use std::time::Duration;

use super::*;
use crate::broker::frame::FrameError;
use crate::broker::outbox::SlowConsumerPolicy;

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
            Frame::ListReply { payload, .. } => ("list".into(), String::new(), payload.to_vec()),
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
