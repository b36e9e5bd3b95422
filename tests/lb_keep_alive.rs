//! The balancer keeps a client connection open after every answer that says
//! `Connection: keep-alive`, whatever frames the request's (empty) body:
//! no length at all, `Content-Length: 0`, an empty chunked body, or a few
//! bytes. Real clients (curl, raw sockets) on loopback, the real binary.

#[path = "support/balancer.rs"]
mod balancer;
#[path = "support/http_backends.rs"]
#[allow(dead_code)]
mod http_backends;
#[path = "support/http_client.rs"]
mod http_client;
mod support;

use std::io::{BufReader, Write};

use balancer::balancer;
use http_backends::{Behaviour, HttpBackend};
use http_client::read_reply;
use support::connect;

/// Each request of `requests` sent alone on one connection, waiting for its
/// answer before the next (the way a browser or curl reuses a connection):
/// every answer promises keep-alive and the next request is answered too.
fn one_connection_serves_each_in_turn(requests: &[&str]) {
    let echo = HttpBackend::start(Behaviour::Echo);
    let lb = balancer(&[echo.addr], &[]);
    let stream = connect(lb.addr);
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    for (i, request) in requests.iter().enumerate() {
        writer.write_all(request.as_bytes()).unwrap();
        let reply = read_reply(&mut reader);
        assert_eq!(reply.status, 200, "request {i}: {request:?}");
        assert_eq!(
            reply.header("connection"),
            Some("keep-alive"),
            "request {i}: {request:?}"
        );
    }
    // The balancer must not have closed after the last answer either.
    writer
        .write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nlast")
        .unwrap();
    let reply = read_reply(&mut reader);
    assert_eq!((reply.status, reply.text().as_str()), (200, "last"));
    assert_eq!(
        echo.accepted.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "one kept-alive backend connection carried every request"
    );
}

#[test]
fn get_with_content_length_zero_keeps_the_connection() {
    one_connection_serves_each_in_turn(&[
        "GET /a HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
        "GET /b HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
    ]);
}

#[test]
fn post_with_content_length_zero_keeps_the_connection() {
    one_connection_serves_each_in_turn(&[
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
    ]);
}

#[test]
fn every_way_of_sending_an_empty_or_small_body_keeps_the_connection() {
    one_connection_serves_each_in_turn(&[
        "GET /none HTTP/1.1\r\nHost: t\r\n\r\n",
        "POST /zero HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
        "POST /empty-chunked HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "POST /three HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc",
        "DELETE /zero HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
    ]);
}

/// curl with two URLs reuses one connection when the first answer kept it.
fn curl_reuses_the_connection(extra: &[&str]) {
    let echo = HttpBackend::start(Behaviour::Echo);
    let lb = balancer(&[echo.addr], &[]);
    let output = support::tool("curl")
        .args(["-sv", "--max-time", "20"])
        .args(extra)
        .args(["-w", "%{num_connects}\n"])
        .arg(format!("http://{}/one", lb.addr))
        .arg(format!("http://{}/two", lb.addr))
        .output()
        .expect("run curl");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "curl failed: {stderr}");
    assert!(!stderr.contains("seems to be dead"), "{stderr}");
    assert!(stderr.contains("Re-using existing connection"), "{stderr}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let connects: u32 = stdout
        .lines()
        .map(|line| line.trim().parse::<u32>().expect("a connect count"))
        .sum();
    assert_eq!(connects, 1, "one connection for both URLs: {stdout}");
}

#[test]
fn curl_get_with_content_length_zero_reuses_its_connection() {
    curl_reuses_the_connection(&["-H", "Content-Length: 0"]);
}

#[test]
fn curl_post_with_an_empty_body_reuses_its_connection() {
    curl_reuses_the_connection(&["--data", ""]);
}

#[test]
fn get_with_content_length_zero_is_retried_when_a_reused_backend_connection_dropped() {
    // The backend answers once per connection and drops it when the next
    // request arrives: a GET without a body (here `Content-Length: 0`) is
    // safe to send again, as one with no length at all is.
    let backend = HttpBackend::start(Behaviour::OneResponsePerConnection);
    let lb = balancer(&[backend.addr], &[]);
    let stream = connect(lb.addr);
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    for path in ["/first", "/second"] {
        let request = format!("GET {path} HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
        writer.write_all(request.as_bytes()).unwrap();
        assert_eq!(read_reply(&mut reader).status, 200, "GET {path}");
    }
}
