//! What the balancer in HTTP mode answers when something goes wrong: each
//! bad request its status (400, 408, 413, 431, 501, 505) and a close; a
//! backend that answers garbage, stays silent or cannot be reached earns
//! 502, 504 or 503; a request that met a kept-alive backend connection the
//! backend had dropped is retried only when that is safe. After each, the
//! balancer goes on serving. The real binary on loopback.

#[path = "support/balancer.rs"]
mod balancer;
#[path = "support/http_backends.rs"]
#[allow(dead_code)]
mod http_backends;
#[path = "support/http_client.rs"]
mod http_client;
mod support;

use std::io::{BufReader, Write};
use std::net::SocketAddr;
use std::thread;
use std::time::Duration;

use balancer::balancer;
use http_backends::{Behaviour, HttpBackend};
use http_client::{assert_still_serves, exchange, read_reply};
use support::{connect, dead_addr};

#[test]
fn backend_answering_garbage_earns_502() {
    let garbage = HttpBackend::start(Behaviour::Garbage);
    let lb = balancer(&[garbage.addr], &[]);
    let reply = exchange(lb.addr, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(reply.status, 502, "{}", reply.text());
    let again = exchange(lb.addr, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(again.status, 502, "the balancer keeps answering");
}

#[test]
fn silent_backend_earns_504_after_the_response_timeout() {
    let silent = HttpBackend::start(Behaviour::Silent);
    let lb = balancer(&[silent.addr], &["--response-timeout", "500ms"]);
    let reply = exchange(lb.addr, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(reply.status, 504, "{}", reply.text());
    let again = exchange(lb.addr, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(again.status, 504, "the balancer keeps answering");
}

#[test]
fn get_on_a_kept_alive_connection_the_backend_dropped_is_retried() {
    let backend = HttpBackend::start(Behaviour::OneResponsePerConnection);
    let lb = balancer(&[backend.addr], &[]);
    let mut stream = connect(lb.addr);
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    for i in 0..3 {
        stream
            .write_all(b"GET /echo HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let reply = read_reply(&mut reader);
        assert_eq!(reply.status, 200, "request {i}: {}", reply.text());
        assert_eq!(reply.header("connection"), Some("keep-alive"));
        // Let the balancer park the backend connection before the next request.
        thread::sleep(Duration::from_millis(50));
    }
    // Each reuse met a dropped connection and was sent again on a new one.
    assert_eq!(
        backend.accepted.load(std::sync::atomic::Ordering::SeqCst),
        3
    );
    assert_eq!(backend.heads().len(), 5, "two requests were sent twice");
}

#[test]
fn post_on_a_kept_alive_connection_the_backend_dropped_is_not_retried() {
    let backend = HttpBackend::start(Behaviour::OneResponsePerConnection);
    let lb = balancer(&[backend.addr], &[]);
    let mut stream = connect(lb.addr);
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    stream
        .write_all(b"GET /echo HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    assert_eq!(read_reply(&mut reader).status, 200);
    thread::sleep(Duration::from_millis(50));
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
        .unwrap();
    let reply = read_reply(&mut reader);
    assert_eq!(reply.status, 502, "{}", reply.text());
    assert_eq!(backend.heads().len(), 2, "the POST was sent once");
    assert_still_serves_get(lb.addr);
}

fn assert_still_serves_get(addr: SocketAddr) {
    let reply = exchange(addr, b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(reply.status, 200, "{}", reply.text());
}

#[test]
fn each_bad_request_gets_its_status_and_the_balancer_goes_on() {
    let echo = HttpBackend::start(Behaviour::Echo);
    let lb = balancer(
        &[echo.addr],
        &["--max-head-bytes", "2048", "--max-body-bytes", "10"],
    );
    let big_head = format!(
        "GET / HTTP/1.1\r\nHost: t\r\n{}\r\n",
        "X-Filler: 0123456789abcdef0123456789abcdef\r\n".repeat(100)
    );
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("malformed request line", b"GET\r\n\r\n".to_vec(), 400),
        ("head over the limit", big_head.into_bytes(), 431),
        (
            "body over the limit",
            format!(
                "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n{}",
                "x".repeat(100)
            )
            .into_bytes(),
            413,
        ),
        (
            "chunked body over the limit",
            format!(
                "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n{}\r\n0\r\n\r\n",
                "x".repeat(100)
            )
            .into_bytes(),
            413,
        ),
        (
            "Transfer-Encoding with Content-Length",
            b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n".to_vec(),
            400,
        ),
        (
            "differing Content-Length values",
            b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!".to_vec(),
            400,
        ),
        (
            "a transfer coding without chunked last",
            b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\nxx".to_vec(),
            400,
        ),
        (
            "an unknown transfer coding",
            b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: zebra, chunked\r\n\r\n0\r\n\r\n".to_vec(),
            501,
        ),
        (
            "an invalid chunk size after the head went out",
            b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n".to_vec(),
            400,
        ),
        (
            "Transfer-Encoding from an HTTP/1.0 client",
            b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec(),
            400,
        ),
        (
            "a Content-Length that is not a number",
            b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n".to_vec(),
            400,
        ),
        (
            "an HTTP/1.1 request without Host",
            b"GET / HTTP/1.1\r\n\r\n".to_vec(),
            400,
        ),
        (
            "an HTTP version other than 1.0 and 1.1",
            b"GET / HTTP/2.0\r\nHost: t\r\n\r\n".to_vec(),
            505,
        ),
        (
            "a folded header line",
            b"GET / HTTP/1.1\r\nHost: t\r\nX-A: b\r\n c\r\n\r\n".to_vec(),
            400,
        ),
        (
            "whitespace before a header colon",
            b"GET / HTTP/1.1\r\nHost : t\r\n\r\n".to_vec(),
            400,
        ),
    ];
    for (what, request, status) in cases {
        let reply = exchange(lb.addr, &request);
        assert_eq!(reply.status, status, "{what}: {}", reply.text());
        assert_eq!(reply.header("connection"), Some("close"), "{what}");
        assert_still_serves(lb.addr);
    }
}

#[test]
fn invalid_chunk_size_sent_apart_from_the_head_still_gets_400() {
    let echo = HttpBackend::start(Behaviour::Echo);
    let lb = balancer(&[echo.addr], &[]);
    let mut stream = connect(lb.addr);
    stream
        .write_all(
            b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
        )
        .unwrap();
    // The head and the first chunk reach the backend before the bad size.
    thread::sleep(Duration::from_millis(100));
    stream.write_all(b"-1\r\n").unwrap();
    let reply = read_reply(&mut BufReader::new(stream));
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert_still_serves(lb.addr);
}

#[test]
fn no_reachable_backend_earns_503() {
    let lb = balancer(&[dead_addr(), dead_addr()], &[]);
    for _ in 0..2 {
        let reply = exchange(lb.addr, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!(reply.status, 503, "{}", reply.text());
    }
}

#[test]
fn request_head_not_finished_in_time_earns_408() {
    let echo = HttpBackend::start(Behaviour::Echo);
    let lb = balancer(&[echo.addr], &["--head-timeout", "300ms"]);
    let mut stream = connect(lb.addr);
    stream.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n").unwrap();
    let reply = read_reply(&mut BufReader::new(stream));
    assert_eq!(reply.status, 408, "{}", reply.text());
    assert_still_serves(lb.addr);
}
