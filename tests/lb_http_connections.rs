//! Client connections through the balancer in HTTP mode (the default
//! `--mode`): several requests on one connection, each balanced on its own
//! (curl's keep-alive, pipelining, HEAD), HTTP/1.0 and `Connection: close`,
//! a half-close, reuse of backend connections, and the hop-by-hop fields the
//! backend never sees. The real binary on loopback between real clients
//! (curl, Python, raw sockets) and real backends.

#[path = "support/balancer.rs"]
mod balancer;
#[path = "support/http_backends.rs"]
#[allow(dead_code)]
mod http_backends;
#[path = "support/http_client.rs"]
mod http_client;
#[path = "support/pi.rs"]
mod pi;
mod support;

use std::io::{BufReader, Write};
use std::net::SocketAddr;
use std::thread;

use balancer::balancer;
use http_backends::{Behaviour, HttpBackend};
use http_client::{
    assert_still_serves, closed_by_peer, exchange, read_head, read_reply, run_python,
};
use pi::start_backends;
use support::connect;

/// π to 20 places, to check what the Pi backend computed.
const PI_PREFIX: &str = "3.14159265358979323846";

#[test]
fn curl_requests_on_one_connection_are_balanced_one_by_one() {
    let backends = start_backends(&[&[], &[], &[]]);
    let addrs: Vec<SocketAddr> = backends.iter().map(|b| b.addr).collect();
    let lb = balancer(&addrs, &["--strategy", "round-robin"]);
    let places = [3, 7, 1, 12, 20, 5];
    let urls: Vec<String> = places
        .iter()
        .map(|n| format!("http://{}/{n}", lb.addr))
        .collect();
    let output = support::tool("curl")
        .args(["-s", "--max-time", "20", "-H", "Accept: text/plain"])
        .args(["-w", "\n%{num_connects} %header{x-backend}\n"])
        .args(&urls)
        .output()
        .expect("run curl");
    assert!(output.status.success(), "curl failed: {output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2 * places.len(), "{text}");
    let mut connects = 0;
    let mut served_by = Vec::new();
    for (i, n) in places.iter().enumerate() {
        assert_eq!(lines[2 * i], &PI_PREFIX[..2 + n], "answer to /{n}");
        let (count, backend) = lines[2 * i + 1].split_once(' ').unwrap();
        connects += count.parse::<u32>().unwrap();
        served_by.push(backend.to_string());
    }
    assert_eq!(connects, 1, "curl reused one connection for every URL");
    let mut first_round = served_by[..3].to_vec();
    first_round.sort();
    assert_eq!(first_round, ["a", "b", "c"], "{served_by:?}");
    assert_eq!(served_by[..3], served_by[3..], "round-robin cycles");
}

const PIPELINE_SCRIPT: &str = r#"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
s.sendall(b"".join(
    b"GET /%d HTTP/1.1\r\nHost: pi\r\nAccept: text/plain\r\n\r\n" % n for n in (3, 5, 7)))
f = s.makefile("rb")
for _ in range(3):
    status = f.readline().split()[1].decode()
    headers = {}
    while True:
        line = f.readline()
        if line in (b"\r\n", b""):
            break
        name, value = line.decode().split(":", 1)
        headers[name.strip().lower()] = value.strip()
    body = f.read(int(headers["content-length"]))
    print(status, headers.get("x-backend"), body.decode())
"#;

#[test]
fn pipelined_requests_are_answered_in_order_and_each_balanced() {
    let backends = start_backends(&[&[], &[]]);
    let lb = balancer(&[backends[0].addr, backends[1].addr], &[]);
    let output = run_python(PIPELINE_SCRIPT, &[lb.addr.port().to_string()]);
    let text = String::from_utf8(output.stdout).unwrap();
    let answers: Vec<Vec<&str>> = text.lines().map(|l| l.split(' ').collect()).collect();
    assert_eq!(answers.len(), 3, "{text}");
    for (answer, n) in answers.iter().zip([3, 5, 7]) {
        assert_eq!(answer[0], "200");
        assert_eq!(answer[2], &PI_PREFIX[..2 + n], "in request order");
    }
    assert_ne!(answers[0][1], answers[1][1], "each request is balanced");
    assert_eq!(answers[0][1], answers[2][1], "round-robin over two");
}

#[test]
fn head_request_gets_no_body_and_the_next_request_follows() {
    let backends = start_backends(&[&[]]);
    let lb = balancer(&[backends[0].addr], &[]);
    let mut stream = connect(lb.addr);
    stream
        .write_all(
            b"HEAD /10 HTTP/1.1\r\nHost: t\r\nAccept: text/plain\r\n\r\n\
              GET /10 HTTP/1.1\r\nHost: t\r\nAccept: text/plain\r\n\r\n",
        )
        .unwrap();
    let mut reader = BufReader::new(stream);
    let head = read_head(&mut reader);
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("content-length"),
        Some("12"),
        "the GET's length"
    );
    let reply = read_reply(&mut reader);
    assert_eq!(reply.status, 200, "the next response follows at once");
    assert_eq!(reply.text(), &PI_PREFIX[..12]);
}

#[test]
fn many_concurrent_keep_alive_clients_each_get_their_own_answers() {
    let echo = HttpBackend::start(Behaviour::Echo);
    let lb = balancer(&[echo.addr], &[]);
    let addr = lb.addr;
    let clients: Vec<_> = (0..32)
        .map(|client| {
            thread::spawn(move || {
                let mut stream = connect(addr);
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                for request in 0..20 {
                    let body = format!("client {client} request {request} ").repeat(client + 1);
                    let head = format!(
                        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
                        body.len()
                    );
                    stream.write_all(head.as_bytes()).unwrap();
                    stream.write_all(body.as_bytes()).unwrap();
                    let reply = read_reply(&mut reader);
                    assert_eq!(reply.status, 200);
                    assert_eq!(reply.text(), body, "client {client} got other bytes");
                }
            })
        })
        .collect();
    for client in clients {
        client.join().unwrap();
    }
}

#[test]
fn backend_connection_is_reused_by_the_next_client() {
    let echo = HttpBackend::start(Behaviour::Echo);
    let lb = balancer(&[echo.addr], &[]);
    for _ in 0..3 {
        assert_still_serves(lb.addr);
    }
    assert_eq!(
        echo.accepted.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "one kept-alive backend connection served three clients in turn"
    );
}

#[test]
fn client_that_half_closes_after_its_request_still_gets_the_response() {
    let echo = HttpBackend::start(Behaviour::Echo);
    let lb = balancer(&[echo.addr], &[]);
    let mut stream = connect(lb.addr);
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nbye")
        .unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let mut reader = BufReader::new(stream);
    let reply = read_reply(&mut reader);
    assert_eq!((reply.status, reply.text().as_str()), (200, "bye"));
    assert!(closed_by_peer(&mut reader));
}

#[test]
fn backend_sees_forwarded_for_and_proto_and_no_hop_by_hop_fields() {
    let echo = HttpBackend::start(Behaviour::Echo);
    let lb = balancer(&[echo.addr], &[]);
    let reply = exchange(
        lb.addr,
        b"GET /h HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: 203.0.113.9\r\n\
          Connection: keep-alive, X-Private\r\nX-Private: secret\r\nKeep-Alive: timeout=5\r\n\
          Proxy-Connection: keep-alive\r\nTE: trailers\r\nX-Kept: yes\r\n\r\n",
    );
    assert_eq!(reply.status, 200);
    let heads = echo.heads();
    let head = heads[0].to_ascii_lowercase();
    assert!(
        head.contains("\r\nx-forwarded-for: 203.0.113.9, 127.0.0.1\r\n"),
        "{head}"
    );
    assert!(head.contains("\r\nx-forwarded-proto: http\r\n"), "{head}");
    assert!(head.contains("\r\nx-kept: yes\r\n"), "{head}");
    for dropped in ["x-private", "keep-alive:", "proxy-connection", "\r\nte:"] {
        assert!(
            !head.contains(dropped),
            "{dropped} reached the backend: {head}"
        );
    }
    let connection: Vec<&str> = head
        .lines()
        .filter(|l| l.starts_with("connection:"))
        .collect();
    assert_eq!(
        connection,
        ["connection: keep-alive"],
        "only the balancer's own"
    );
}

#[test]
fn http10_client_is_closed_after_the_response_unless_it_asks_keep_alive() {
    let echo = HttpBackend::start(Behaviour::Echo);
    let lb = balancer(&[echo.addr], &[]);

    let mut stream = connect(lb.addr);
    stream.write_all(b"GET /a HTTP/1.0\r\n\r\n").unwrap();
    let mut reader = BufReader::new(stream);
    let reply = read_reply(&mut reader);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("connection"), Some("close"));
    assert!(closed_by_peer(&mut reader), "closed after one response");

    let mut stream = connect(lb.addr);
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    for _ in 0..2 {
        stream
            .write_all(b"GET /b HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .unwrap();
        let reply = read_reply(&mut reader);
        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("connection"), Some("keep-alive"));
    }
}

#[test]
fn http11_client_asking_close_is_closed_after_the_response() {
    let echo = HttpBackend::start(Behaviour::Echo);
    let lb = balancer(&[echo.addr], &[]);
    let mut stream = connect(lb.addr);
    stream
        .write_all(b"GET /a HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut reader = BufReader::new(stream);
    let reply = read_reply(&mut reader);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("connection"), Some("close"));
    assert!(closed_by_peer(&mut reader));
}
