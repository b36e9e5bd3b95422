//! The original Python client's pickled requests against a distloop ring.
//! Runs CPython's own pickle module as the client (python3 must be on PATH).

mod support;

use std::time::Duration;

use distloop::dht::client::Client;
use support::{Server, distloop_bin};

const CLIENT: &str = r#"
import pickle, socket, sys
host, port = sys.argv[1].rsplit(":", 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(10)
def call(message, protocol):
    s.sendto(pickle.dumps(message, protocol=protocol), (host, int(port)))
    data, _ = s.recvfrom(65536)
    return pickle.loads(data)
for protocol in (0, 2, pickle.DEFAULT_PROTOCOL):
    print(call({"method": "PUT", "args": {"key": "greeting", "value": "hello"}}, protocol))
    print(call({"method": "GET", "args": {"key": "greeting"}}, protocol))
    print(call({"method": "GET", "args": {"key": "missing"}}, protocol))
print(call({"method": "PUT", "args": {"key": 7, "value": "seven"}}, 4))
import os
class Attack:
    def __reduce__(self):
        return (os.system, ("echo pwned",))
print(call({"method": "PUT", "args": {"key": "x", "value": Attack()}}, 4))
"#;

/// Puts values of every plain kind with protocols 2 to 5 and reads each
/// back, comparing value and type all the way down.
const ROUND_TRIP: &str = r#"
import pickle, socket, sys
host, port = sys.argv[1].rsplit(":", 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(10)
def call(message, protocol):
    s.sendto(pickle.dumps(message, protocol=protocol), (host, int(port)))
    data, _ = s.recvfrom(65536)
    return pickle.loads(data)
def same(a, b):
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, float):
        return repr(a) == repr(b)
    return a == b
shared = [1, "x"]
values = [
    "héllo", "", b"\x00\xffbytes", b"", 0, 3, -1, 255, 2**31, 2**63 - 1, -2**63,
    2**64, -2**200, 10**300, 3.25, -0.0, 1e300, float("inf"), True, False, None,
    [], [1, "a", None], (), (1,), (1, 2, 3), (1, 2, 3, 4), {}, {"a": 1},
    {"a": 1, 2: [3, (4, b"x")], (1, 2): {"n": None}, None: 2**70},
    [[[[["deep"]]]]], [shared, shared, (shared,)],
]
wrong = []
for protocol in (2, 3, 4, 5):
    for i, value in enumerate(values):
        key = "value-%d-%d" % (protocol, i)
        put = call({"method": "PUT", "args": {"key": key, "value": value}}, protocol)
        got = call({"method": "GET", "args": {"key": key}}, protocol)
        if put != {"method": "ACK"} or got.get("method") != "ACK" or not same(got.get("args"), value):
            wrong.append((protocol, value, put, got))
print("checked", 4 * len(values))
for w in wrong:
    print("WRONG", w)
"#;

#[test]
fn the_original_clients_values_come_back_with_the_same_value_and_type() {
    let node = Server::start(distloop_bin(), &["dht", "node", "--listen", "127.0.0.1:0"]);
    let output = support::tool("python3")
        .args(["-c", ROUND_TRIP, &node.addr.to_string()])
        .output()
        .expect("python3 on PATH runs the original client");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.starts_with("checked 128\n"), "{stdout}");
    assert!(!stdout.contains("WRONG"), "{stdout}");

    // Clients without pickles read a str as its text, others as their repr.
    let mut client = Client::new(node.addr).unwrap();
    assert_eq!(
        client.get(node.addr, "value-2-0").unwrap(),
        Some("héllo".as_bytes().to_vec())
    );
    assert_eq!(
        client.get(node.addr, "value-5-22").unwrap(),
        Some(b"[1, 'a', None]".to_vec())
    );
}

#[test]
fn the_original_python_client_puts_and_gets_through_any_node() {
    let first = Server::start(
        distloop_bin(),
        &[
            "dht",
            "node",
            "--listen",
            "127.0.0.1:0",
            "--stabilize-ms",
            "100",
        ],
    );
    let bootstrap = first.addr.to_string();
    let second = Server::start(
        distloop_bin(),
        &[
            "dht",
            "node",
            "--listen",
            "127.0.0.1:0",
            "--join",
            &bootstrap,
            "--stabilize-ms",
            "100",
        ],
    );
    // Let the two nodes link up.
    std::thread::sleep(Duration::from_millis(800));

    let output = support::tool("python3")
        .args(["-c", CLIENT, &first.addr.to_string()])
        .output()
        .expect("python3 on PATH runs the original client");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    for round in lines[..9].chunks(3) {
        assert_eq!(round[0], "{'method': 'ACK'}");
        assert_eq!(round[1], "{'method': 'ACK', 'args': 'hello'}");
        assert_eq!(round[2], "{'method': 'NACK'}");
    }
    assert_eq!(lines[9], "{'method': 'ACK'}");
    assert_eq!(
        lines[10], "{'method': 'NACK'}",
        "a pickle that loads code is refused"
    );
    assert!(!stdout.contains("pwned"));

    // The keys are in the ring like any other, readable through the other node.
    let mut client = Client::new(second.addr).unwrap();
    assert_eq!(
        client.get(second.addr, "greeting").unwrap(),
        Some(b"hello".to_vec())
    );
    assert_eq!(
        client.get(second.addr, "7").unwrap(),
        Some(b"seven".to_vec())
    );
    assert_eq!(client.get(second.addr, "x").unwrap(), None);
}
