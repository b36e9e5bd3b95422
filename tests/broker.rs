//! The broker over real sockets: the semantics of the original broker, bad
//! input, slow consumers, graceful stop and the `pub`/`sub`/`topics` commands.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use distloop::broker::client::{Client, ClientError};
use distloop::broker::{ErrorCode, Frame, Parsed, Serializer, Value, parse_frame};
use support::{SIGTERM, Server, distloop_bin};

const WAIT: Duration = Duration::from_secs(10);

fn broker(extra: &[&str]) -> Server {
    let mut args = vec!["broker", "--listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    Server::start(distloop_bin(), &args)
}

fn client(server: &Server, serializer: Serializer) -> Client {
    let mut c = Client::connect(server.addr, serializer).unwrap();
    c.set_read_timeout(Some(WAIT)).unwrap();
    c
}

/// Subscribes and waits until the broker has handled the subscription.
fn subscribed(server: &Server, serializer: Serializer, topic: &str) -> Client {
    let mut c = client(server, serializer);
    c.subscribe(topic).unwrap();
    c.list_topics().unwrap();
    c
}

/// A subscriber with a 4 KiB receive buffer, on a raw socket.
fn small_buffer_subscriber(server: &Server, topic: &str) -> TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&server.addr.into()).unwrap();
    let mut stream: TcpStream = socket.into();
    stream
        .write_all(
            &Frame::Subscribe {
                serializer: Serializer::Json,
                topic,
            }
            .to_bytes(),
        )
        .unwrap();
    stream
}

fn no_delivery_within(c: &mut Client, wait: Duration) -> bool {
    c.set_read_timeout(Some(wait)).unwrap();
    matches!(c.receive(), Err(ClientError::Io(_)))
}

#[test]
fn subscriber_of_a_topic_receives_its_subtopics_but_not_its_parent_or_siblings() {
    let server = broker(&[]);
    let mut parent = subscribed(&server, Serializer::Json, "/a");
    let mut child = subscribed(&server, Serializer::Json, "/a/b");
    let mut producer = client(&server, Serializer::Json);
    for (topic, n) in [("/a", 1), ("/a/c", 2), ("/a/b", 3), ("/a/b/c", 4)] {
        producer.publish(topic, &Value::Int(n)).unwrap();
    }
    let got: Vec<_> = (0..4).map(|_| parent.receive().unwrap()).collect();
    let topics: Vec<_> = got.iter().map(|d| d.topic.as_str()).collect();
    assert_eq!(topics, ["/a", "/a/c", "/a/b", "/a/b/c"]);
    assert_eq!(child.receive().unwrap().value, Value::Int(3));
    assert_eq!(child.receive().unwrap().value, Value::Int(4));
    assert!(no_delivery_within(&mut child, Duration::from_millis(200)));
}

#[test]
fn new_subscriber_first_receives_the_last_message_of_its_topic() {
    let server = broker(&[]);
    let mut producer = client(&server, Serializer::Xml);
    producer
        .publish("/weather/temperature", &Value::Float(20.5))
        .unwrap();
    producer
        .publish("/weather/temperature", &Value::Float(21.5))
        .unwrap();
    producer.list_topics().unwrap();
    let mut late = subscribed(&server, Serializer::Pickle, "/weather/temperature");
    let first = late.receive().unwrap();
    assert_eq!(first.topic, "/weather/temperature");
    assert_eq!(first.value, Value::Float(21.5));
    assert!(no_delivery_within(&mut late, Duration::from_millis(200)));
}

#[test]
fn list_returns_published_topics_and_subscribing_creates_none() {
    let server = broker(&[]);
    let _sub = subscribed(&server, Serializer::Json, "/only/subscribed");
    let mut producer = client(&server, Serializer::Pickle);
    producer.publish("/msg", &Value::str("hi")).unwrap();
    producer.publish("/weather/wind", &Value::Int(3)).unwrap();
    assert_eq!(producer.list_topics().unwrap(), ["/msg", "/weather/wind"]);
}

#[test]
fn cancel_stops_delivery_of_that_topic_to_that_client_only() {
    let server = broker(&[]);
    let mut cancelled = subscribed(&server, Serializer::Json, "/t");
    let mut kept = subscribed(&server, Serializer::Json, "/t");
    cancelled.cancel("/t").unwrap();
    cancelled.list_topics().unwrap();
    let mut producer = client(&server, Serializer::Json);
    producer.publish("/t", &Value::Int(1)).unwrap();
    assert_eq!(kept.receive().unwrap().value, Value::Int(1));
    assert!(no_delivery_within(
        &mut cancelled,
        Duration::from_millis(200)
    ));
}

#[test]
fn a_pickle_integer_reaches_json_as_an_integer_and_xml_as_its_text() {
    let server = broker(&[]);
    let mut json = subscribed(&server, Serializer::Json, "/temp");
    let mut xml = TcpStream::connect(server.addr).unwrap();
    xml.set_read_timeout(Some(WAIT)).unwrap();
    xml.write_all(
        &Frame::Subscribe {
            serializer: Serializer::Xml,
            topic: "/temp",
        }
        .to_bytes(),
    )
    .unwrap();
    let xml_list = Frame::List {
        serializer: Serializer::Xml,
    }
    .to_bytes();
    xml.write_all(&xml_list).unwrap();
    let mut producer = client(&server, Serializer::Pickle);
    producer.publish("/temp", &Value::Int(42)).unwrap();
    assert_eq!(json.receive().unwrap().value, Value::Int(42));
    // Raw frames on the XML side: the list reply, then the delivery.
    let mut raw = Vec::new();
    let mut payloads = Vec::new();
    while payloads.len() < 2 {
        let mut chunk = [0u8; 4096];
        let n = xml.read(&mut chunk).unwrap();
        assert!(n > 0, "broker closed the XML consumer");
        raw.extend_from_slice(&chunk[..n]);
        while let Ok(Parsed::Complete(frame, used)) = parse_frame(&raw, 1 << 20) {
            payloads.push(format!("{frame:?}"));
            if let Frame::Deliver {
                payload,
                serializer,
                ..
            } = frame
            {
                assert_eq!(serializer, Serializer::Xml);
                assert_eq!(payload, b"<int>42</int>");
            }
            raw.drain(..used);
        }
    }
    assert!(payloads[1].starts_with("Deliver"), "{payloads:?}");
}

/// Sends `bytes` on a fresh connection and returns the error frame the
/// broker answers with; asserts that the broker then closes the connection.
fn refused(server: &Server, bytes: &[u8]) -> (ErrorCode, String) {
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let _ = s.write_all(bytes);
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    match parse_frame(&got, 1 << 20) {
        Ok(Parsed::Complete(Frame::Error { code, message }, used)) => {
            assert_eq!(used, got.len(), "nothing after the error frame");
            (code, message.to_string())
        }
        other => panic!("expected an error frame, got {other:?} from {got:?}"),
    }
}

#[test]
fn malformed_frames_get_an_error_frame_and_a_close_while_others_are_served() {
    let server = broker(&[
        "--max-frame-bytes",
        "1000",
        "--outbound-limit-bytes",
        "100000",
    ]);
    let mut bystander = subscribed(&server, Serializer::Json, "/t");
    let evil_pickle = b"\x80\x02cposix\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03.";
    let cases: Vec<(Vec<u8>, ErrorCode)> = vec![
        (2000u32.to_be_bytes().to_vec(), ErrorCode::FrameTooLarge),
        (b"\x00\x00\x00\x01\x01".to_vec(), ErrorCode::MalformedFrame),
        (b"\x00\x00\x00\x02\x09\x00".to_vec(), ErrorCode::UnknownKind),
        (
            b"\x00\x00\x00\x04\x01\x05/t".to_vec(),
            ErrorCode::UnknownSerializer,
        ),
        (
            b"\x00\x00\x00\x06\x02\x00\x00\x09/t".to_vec(),
            ErrorCode::MalformedFrame,
        ),
        (
            Frame::Subscribe {
                serializer: Serializer::Json,
                topic: "t",
            }
            .to_bytes(),
            ErrorCode::BadTopic,
        ),
        (
            Frame::Publish {
                serializer: Serializer::Json,
                topic: "/t",
                payload: b"{not json",
            }
            .to_bytes(),
            ErrorCode::BadPayload,
        ),
        (
            Frame::Publish {
                serializer: Serializer::Pickle,
                topic: "/t",
                payload: evil_pickle,
            }
            .to_bytes(),
            ErrorCode::BadPayload,
        ),
        (
            Frame::Publish {
                serializer: Serializer::Xml,
                topic: "/t",
                payload: b"<!DOCTYPE x><int>1</int>",
            }
            .to_bytes(),
            ErrorCode::BadPayload,
        ),
    ];
    for (bytes, code) in cases {
        let (got, message) = refused(&server, &bytes);
        assert_eq!(got, code, "{message}");
    }
    let mut producer = client(&server, Serializer::Json);
    producer.publish("/t", &Value::Int(7)).unwrap();
    assert_eq!(
        bystander.receive().unwrap().value,
        Value::Int(7),
        "refused input reached nobody"
    );
}

#[test]
fn slow_consumer_is_disconnected_and_never_stalls_the_others() {
    let server = broker(&[
        "--max-frame-bytes",
        "4096",
        "--outbound-limit-bytes",
        "65536",
        // It reads nothing until the others are done, however long that takes.
        "--error-linger",
        "60s",
    ]);
    // The slow consumer subscribes and then never reads.
    let mut slow = TcpStream::connect(server.addr).unwrap();
    slow.write_all(
        &Frame::Subscribe {
            serializer: Serializer::Json,
            topic: "/t",
        }
        .to_bytes(),
    )
    .unwrap();
    let mut fast = subscribed(&server, Serializer::Json, "/t");
    let mut producer = client(&server, Serializer::Json);
    let text = Value::str("x".repeat(1000));
    let total = 20_000;
    // The fast consumer keeps up: the producer stays at most a few messages ahead of it.
    let received = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&received);
    let reader = std::thread::spawn(move || {
        for _ in 0..total {
            fast.receive().unwrap();
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    for sent in 0..total {
        while sent - received.load(std::sync::atomic::Ordering::SeqCst) > 20 {
            std::thread::yield_now();
        }
        producer.publish("/t", &text).unwrap();
    }
    reader.join().expect("the fast consumer got every message");
    // The slow one finds an error frame at the end of what it was sent, then the close.
    slow.set_read_timeout(Some(WAIT)).unwrap();
    let mut got = Vec::new();
    let _ = slow.read_to_end(&mut got);
    let mut at = 0;
    let mut last = None;
    while let Ok(Parsed::Complete(frame, used)) = parse_frame(&got[at..], 1 << 20) {
        at += used;
        last = Some(format!("{frame:?}"));
    }
    assert!(last.unwrap().contains("SlowConsumer"));
}

#[test]
fn a_stuck_reader_with_a_small_receive_buffer_is_cut_off_by_the_timeout() {
    // A bound far above what is sent: the queue alone would never find it.
    let server = broker(&[
        "--slow-consumer-timeout",
        "1s",
        "--outbound-limit-bytes",
        "67108864",
    ]);
    let mut stuck = small_buffer_subscriber(&server, "/t");
    let mut reader = subscribed(&server, Serializer::Json, "/t");
    let mut producer = client(&server, Serializer::Json);
    // The reading subscriber keeps up; the producer stays a few messages
    // ahead of it, so only the stuck one falls behind.
    let received = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&received);
    let reading = std::thread::spawn(move || {
        loop {
            let d = reader.receive().expect("the reading subscriber is served");
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if d.value == Value::Int(-1) {
                return;
            }
        }
    });
    let text = Value::str("z".repeat(1000));
    let mut sent = 0;
    let mut publish_in_step = |value: &Value| {
        while sent - received.load(std::sync::atomic::Ordering::SeqCst) > 20 {
            std::thread::yield_now();
        }
        producer.publish("/t", value).unwrap();
        sent += 1;
    };
    // Enough to fill the kernel's buffers on both sides (bytes there count
    // as written), then a trickle, until the broker closes the stuck one.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    for _ in 0..10_000 {
        publish_in_step(&text);
    }
    let probe = Frame::Subscribe {
        serializer: Serializer::Json,
        topic: "/probe",
    }
    .to_bytes();
    let cut = loop {
        for _ in 0..10 {
            publish_in_step(&text);
        }
        // Reading would let its output drain, so the test only writes: once
        // the broker has closed the socket, a write is answered with a reset
        // and the next one fails.
        let closed = stuck.write_all(&probe).is_err();
        if closed || std::time::Instant::now() > deadline {
            break closed;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    publish_in_step(&Value::Int(-1));
    reading
        .join()
        .expect("the reading subscriber got every message");
    assert!(cut, "the stuck reader was closed");
}

#[test]
fn drop_oldest_keeps_a_slow_consumer_connected_with_newer_messages() {
    let server = broker(&[
        "--max-frame-bytes",
        "4096",
        "--outbound-limit-bytes",
        "65536",
        "--slow-consumer",
        "drop-oldest",
    ]);
    let mut slow = subscribed(&server, Serializer::Json, "/t");
    let mut producer = client(&server, Serializer::Json);
    let total = 20_000;
    for i in 0..total {
        producer
            .publish(
                "/t",
                &Value::List(vec![Value::Int(i), Value::str("y".repeat(500))]),
            )
            .unwrap();
    }
    producer.list_topics().unwrap();
    // Everything was queued while it did not read; the newest is there, older ones are gone.
    let mut received = 0;
    loop {
        let d = slow.receive().expect("still connected");
        received += 1;
        if let Value::List(items) = d.value {
            if items[0] == Value::Int(total - 1) {
                break;
            }
        }
    }
    assert!(
        received < total,
        "some old messages were dropped ({received} of {total})"
    );
}

#[test]
fn sigterm_stops_the_broker_gracefully() {
    let mut server = broker(&[]);
    let _c = subscribed(&server, Serializer::Json, "/t");
    server.signal(SIGTERM);
    assert_eq!(server.wait_exit(WAIT), Some(0));
}

#[test]
fn pub_sub_and_topics_commands_work_against_the_broker() {
    let server = broker(&[]);
    let addr = server.addr.to_string();
    let status = Command::new(distloop_bin())
        .args(["broker", "pub", "--addr", &addr, "--topic", "/weather/wind"])
        .args(["--serialization", "pickle", "12", "{\"a\":[1,true]}"])
        .status()
        .unwrap();
    assert!(status.success());
    // The retained (last) message is what a new subscriber gets first.
    let sub = Command::new(distloop_bin())
        .args(["broker", "sub", "--addr", &addr, "--topic", "/weather/wind"])
        .args(["--count", "1", "--serialization", "xml"])
        .output()
        .unwrap();
    assert!(sub.status.success());
    assert_eq!(
        String::from_utf8(sub.stdout).unwrap(),
        "/weather/wind {\"a\":[1,true]}\n"
    );
    let topics = Command::new(distloop_bin())
        .args(["broker", "topics", "--addr", &addr])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(topics.stdout).unwrap(), "/weather/wind\n");
}

#[test]
fn bad_command_line_flags_exit_with_code_2() {
    let status = Command::new(distloop_bin())
        .args(["broker", "--slow-consumer", "sometimes"])
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(2));
}
