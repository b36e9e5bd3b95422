//! The HTTP proxy's state machine on bytes in memory: every path of an
//! exchange, driven the way the adapter drives it, without a socket.

mod buffers;
mod proxy;
mod queue;
mod retry;
mod tls;

use self::proxy::{Proxy, closes};
use crate::lb::http::client::Ending;

const GET: &str = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
const OK: &str = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";

#[test]
fn a_request_is_forwarded_and_its_response_relayed_on_a_kept_alive_connection() {
    let mut proxy = Proxy::new();
    proxy.client_sends(GET);
    let request = proxy.backend_got();
    assert!(request.starts_with("GET /a HTTP/1.1\r\n"), "{request}");
    assert!(request.contains("X-Forwarded-For: 10.0.0.7"), "{request}");
    proxy.backend_sends(OK);
    let response = proxy.client_got();
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n") && response.ends_with("\r\n\r\nhi"));
    assert_eq!(proxy.released, [true], "the backend connection is parked");
    assert!(proxy.closed.is_none() && !proxy.client.stream.shut);
    assert!(proxy.connection.is_between_requests());
}

#[test]
fn a_malformed_request_gets_400() {
    let mut proxy = Proxy::new();
    proxy.client_sends("GET / HTTP/1.1\r\nBad Header\r\n\r\n");
    assert_eq!(proxy.error_answer(), "HTTP/1.1 400 Bad Request");
    assert!(proxy.connects.is_empty(), "no backend is asked");
}

#[test]
fn a_head_not_finished_in_time_gets_408_and_an_idle_client_is_closed_quietly() {
    let mut proxy = Proxy::new();
    proxy.client_sends("GET / HTTP/1.1\r\nHo");
    proxy.time_out();
    assert_eq!(proxy.error_answer(), "HTTP/1.1 408 Request Timeout");

    let mut idle = Proxy::new();
    idle.run();
    idle.time_out();
    assert!(idle.closed.is_some() && idle.client_got().is_empty());
}

#[test]
fn a_body_over_the_limit_gets_413_and_the_backend_connection_is_closed() {
    let mut proxy = Proxy::with(|c| c.max_body_bytes = Some(4));
    proxy.client_sends("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    proxy.client_sends("a\r\n0123456789\r\n0\r\n\r\n");
    assert_eq!(proxy.error_answer(), "HTTP/1.1 413 Content Too Large");
    assert_eq!(proxy.released, [false]);
}

#[test]
fn a_head_over_the_limit_gets_431() {
    let mut proxy = Proxy::with(|c| {
        c.max_head_bytes = 1024;
        c.buffer_bytes = 1024;
    });
    let long = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\n",
        "p".repeat(2000)
    );
    proxy.client_sends(&long);
    assert_eq!(
        proxy.error_answer(),
        "HTTP/1.1 431 Request Header Fields Too Large"
    );
}

#[test]
fn an_unknown_transfer_coding_gets_501() {
    let mut proxy = Proxy::new();
    proxy.client_sends("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: zip\r\n\r\n");
    assert_eq!(proxy.error_answer(), "HTTP/1.1 501 Not Implemented");
}

#[test]
fn an_invalid_response_gets_502() {
    let mut proxy = Proxy::new();
    proxy.client_sends(GET);
    proxy.backend_sends("SMTP ready\r\n\r\n");
    assert_eq!(proxy.error_answer(), "HTTP/1.1 502 Bad Gateway");
    assert_eq!(
        proxy.released,
        [false],
        "a backend speaking garbage is closed"
    );
}

#[test]
fn every_connect_failing_gets_503_after_trying_each_backend() {
    let mut proxy = Proxy::new();
    proxy.refuse_connects = true;
    proxy.client_sends(GET);
    assert_eq!(proxy.error_answer(), "HTTP/1.1 503 Service Unavailable");
    let mut tried: Vec<usize> = proxy.connects.iter().map(|&(b, _)| b).collect();
    tried.sort_unstable();
    assert_eq!(tried, [0, 1]);
}

#[test]
fn a_backend_silent_past_the_response_timeout_gets_504() {
    let mut proxy = Proxy::new();
    proxy.client_sends(GET);
    proxy.time_out();
    let status = proxy.error_answer();
    assert_eq!(status, "HTTP/1.1 504 Gateway Timeout");
    assert_eq!(proxy.released, [false]);
}

#[test]
fn a_reused_connection_closed_before_answering_is_retried_on_a_fresh_one() {
    let mut proxy = Proxy::new();
    proxy.client_sends(GET);
    proxy.backend_sends(OK);
    proxy.client_got();
    proxy.client_sends(GET);
    assert_eq!(proxy.connects.len(), 2);
    assert!(!proxy.connects[1].1, "the parked connection may be reused");
    closes(proxy.backend.as_mut().unwrap());
    proxy.run();
    assert_eq!(proxy.released, [true, false], "the closed one is let go");
    assert!(proxy.connects[2].1, "the retry asks for a fresh connection");
    assert!(
        proxy.backend_got().starts_with("GET /a HTTP/1.1\r\n"),
        "sent again"
    );
    proxy.backend_sends(OK);
    assert!(proxy.client_got().starts_with("HTTP/1.1 200 OK"));
}

#[test]
fn a_request_with_a_body_is_not_retried_but_answered_502() {
    let mut proxy = Proxy::new();
    proxy.client_sends(GET);
    proxy.backend_sends(OK);
    proxy.client_got();
    proxy.client_sends("POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
    closes(proxy.backend.as_mut().unwrap());
    proxy.run();
    assert_eq!(proxy.error_answer(), "HTTP/1.1 502 Bad Gateway");
    assert_eq!(proxy.connects.len(), 2, "no second try");
}

#[test]
fn expect_100_continue_is_relayed_before_the_body_goes_up() {
    let mut proxy = Proxy::new();
    proxy.client_sends(
        "PUT /u HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
    );
    assert!(proxy.backend_got().contains("Expect: 100-continue"));
    proxy.backend_sends("HTTP/1.1 100 Continue\r\n\r\n");
    assert_eq!(proxy.client_got(), "HTTP/1.1 100 Continue\r\n\r\n");
    proxy.client_sends("data");
    assert_eq!(proxy.backend_got(), "data");
    proxy.backend_sends("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n");
    assert!(proxy.client_got().starts_with("HTTP/1.1 201 Created"));
    assert_eq!(proxy.released, [true]);
}

#[test]
fn an_upgrade_turns_the_connection_into_a_tunnel() {
    let mut proxy = Proxy::new();
    proxy.client_sends(
        "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
    );
    assert!(proxy.backend_got().contains("Upgrade: websocket"));
    proxy.backend_sends(
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
    );
    assert!(
        proxy
            .client_got()
            .starts_with("HTTP/1.1 101 Switching Protocols")
    );
    proxy.client_sends("ping");
    assert_eq!(proxy.backend_got(), "ping");
    proxy.backend_sends("pong");
    assert_eq!(proxy.client_got(), "pong");
    closes(&mut proxy.client);
    proxy.run();
    assert!(
        proxy.backend.as_ref().unwrap().stream.shut,
        "the close is passed on"
    );
    closes(proxy.backend.as_mut().unwrap());
    proxy.run();
    assert!(proxy.closed.is_some() && proxy.client.stream.shut);
    assert!(
        proxy.released.is_empty(),
        "the tunnel's connection is never parked"
    );
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let mut proxy = Proxy::new();
    proxy.client_sends(&format!("{GET}GET /b HTTP/1.1\r\nHost: x\r\n\r\n"));
    let first = proxy.backend_got();
    assert!(
        first.starts_with("GET /a ") && !first.contains("GET /b"),
        "{first}"
    );
    proxy.backend_sends(OK);
    assert!(
        proxy.backend_got().starts_with("GET /b "),
        "the second follows"
    );
    proxy.backend_sends("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo");
    let responses = proxy.client_got();
    let first = responses.find("\r\n\r\nhi").expect("the first response");
    let second = responses.find("\r\n\r\ntwo").expect("the second response");
    assert!(first < second, "{responses}");
    assert_eq!(proxy.released, [true, true]);
}

#[test]
fn an_http_1_0_client_is_answered_then_closed() {
    let mut proxy = Proxy::new();
    proxy.client_sends("GET /old HTTP/1.0\r\n\r\n");
    proxy.backend_sends(OK);
    let response = proxy.client_got();
    assert!(response.ends_with("hi"), "{response}");
    assert!(!response.contains("keep-alive"), "{response}");
    assert!(
        proxy.closed.is_some(),
        "the connection ends after one response"
    );
    assert_eq!(
        proxy.released,
        [true],
        "the backend's connection is still good"
    );
}

#[test]
fn responses_without_a_body_end_at_their_head() {
    for (request, response) in [
        (
            "HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
        ),
        (GET, "HTTP/1.1 204 No Content\r\n\r\n"),
        (
            GET,
            "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n",
        ),
    ] {
        let mut proxy = Proxy::new();
        proxy.client_sends(request);
        proxy.backend_sends(response);
        let relayed = proxy.client_got();
        assert!(relayed.ends_with("\r\n\r\n"), "{request}: {relayed}");
        assert_eq!(proxy.released, [true], "{request}: complete, parked");
        assert!(proxy.connection.is_between_requests(), "{request}");
    }
}

#[test]
fn a_backend_that_does_not_accept_in_time_is_given_up_for_the_next() {
    let mut proxy = Proxy::new();
    proxy.slow_connects = true;
    proxy.client_sends(GET);
    assert_eq!(proxy.connects.len(), 1);
    assert!(proxy.connection.awaiting_connect());
    proxy.slow_connects = false;
    proxy.time_out();
    assert_eq!(proxy.released, [false], "the slow connect is abandoned");
    assert_eq!(proxy.connects.len(), 2);
    assert_ne!(proxy.connects[0].0, proxy.connects[1].0, "another backend");
    assert!(proxy.backend_got().starts_with("GET /a "));
    proxy.backend_sends(OK);
    assert!(proxy.client_got().starts_with("HTTP/1.1 200 OK"));
}

#[test]
fn a_response_cut_short_closes_the_client_without_an_error_page() {
    let mut proxy = Proxy::new();
    proxy.client_sends(GET);
    proxy.backend_sends("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
    let partial = proxy.client_got();
    assert!(partial.ends_with("abc"), "{partial}");
    closes(proxy.backend.as_mut().unwrap());
    proxy.run();
    assert!(proxy.closed.is_some(), "the client learns by the close");
    assert!(proxy.client_got().is_empty(), "no second status line");
}

#[test]
fn a_client_closing_between_requests_ends_the_connection_normally() {
    let mut proxy = Proxy::new();
    proxy.client_sends(GET);
    proxy.backend_sends(OK);
    proxy.client_got();
    closes(&mut proxy.client);
    proxy.run();
    let closed = &proxy.closed;
    assert!(matches!(closed, Some(Ending::ClientClosed)), "{closed:?}");
}

#[test]
fn an_error_page_read_to_the_clients_close_ends_the_connection_normally() {
    let mut proxy = Proxy::new();
    proxy.client_sends("GET / HTTP/1.1\r\nBad Header\r\n\r\n");
    assert_eq!(proxy.error_answer(), "HTTP/1.1 400 Bad Request");
    closes(&mut proxy.client);
    proxy.run();
    let closed = &proxy.closed;
    assert!(matches!(closed, Some(Ending::Finished)), "{closed:?}");
}
