//! Retries after a backend connection closed before any answer byte: which
//! requests go out again, on which connection and backend, how often, and
//! how they are counted.

use std::time::SystemTime;

use super::proxy::{Proxy, closes};
use super::{GET, OK};
use crate::lb::stats::BackendSnapshot;

/// The stats of backend `i` as the proxy's backends see them now.
fn stats_of(proxy: &Proxy, i: usize) -> BackendSnapshot {
    let snapshot = proxy
        .backends
        .snapshot("http", 1, 1, proxy.now, SystemTime::now());
    snapshot.backends[i].clone()
}

/// The backend connection in use closes before answering.
fn backend_closes(proxy: &mut Proxy) {
    closes(proxy.backend.as_mut().expect("a backend connection"));
    proxy.run();
}

#[test]
fn a_get_on_a_new_connection_closed_before_answering_is_answered_by_the_other_backend() {
    let mut proxy = Proxy::new();
    proxy.client_sends(GET);
    assert!(proxy.backend_got().starts_with("GET /a "));
    backend_closes(&mut proxy);
    assert_eq!(proxy.released, [false], "the closed connection is let go");
    assert_eq!(
        proxy.connects,
        [(0, false), (1, true)],
        "another backend, fresh"
    );
    assert!(proxy.backend_got().starts_with("GET /a "), "sent again");
    proxy.backend_sends(OK);
    assert!(proxy.client_got().starts_with("HTTP/1.1 200 OK"));

    let failed = stats_of(&proxy, 0);
    assert_eq!((failed.retries.fresh, failed.retries.reused), (1, 0));
    assert_eq!(failed.failures, 1, "a passive-check failure");
    assert_eq!(failed.state, "backoff");
    assert_eq!(failed.requests, 0);
    let answered = stats_of(&proxy, 1);
    assert_eq!((answered.retries.total(), answered.requests), (0, 1));
}

#[test]
fn a_new_connection_reset_before_answering_is_retried_the_same_way() {
    let mut proxy = Proxy::new();
    proxy.client_sends("HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n");
    proxy.backend.as_mut().unwrap().stream.reset = true;
    proxy.backend_sends("");
    assert_eq!(proxy.connects, [(0, false), (1, true)]);
    assert!(proxy.backend_got().starts_with("HEAD /h "));
    proxy.backend_sends("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
    assert!(proxy.client_got().starts_with("HTTP/1.1 200 OK"));
    assert_eq!(stats_of(&proxy, 0).retries.fresh, 1);
}

#[test]
fn a_request_that_is_not_idempotent_or_has_a_body_gets_502_without_a_retry() {
    for request in [
        "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
        "PUT /u HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
        "DELETE /d HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ] {
        let mut proxy = Proxy::new();
        proxy.client_sends(request);
        backend_closes(&mut proxy);
        let out = proxy.client_got();
        assert!(
            out.starts_with("HTTP/1.1 502 Bad Gateway"),
            "{request}: {out}"
        );
        assert!(
            out.contains("closed the connection before answering"),
            "{out}"
        );
        assert_eq!(proxy.connects.len(), 1, "{request}: sent once");
        assert_eq!(stats_of(&proxy, 0).retries.total(), 0, "{request}");
        assert_eq!(
            stats_of(&proxy, 0).failures,
            1,
            "{request}: still a failure"
        );
    }
}

#[test]
fn a_get_closed_after_part_of_its_answer_is_not_retried() {
    let mut proxy = Proxy::new();
    proxy.client_sends(GET);
    proxy.backend_sends("HTTP/1.1 200 OK\r\nContent-");
    backend_closes(&mut proxy);
    assert_eq!(proxy.error_answer(), "HTTP/1.1 502 Bad Gateway");
    assert_eq!(proxy.connects.len(), 1, "part of a head came back");

    let mut proxy = Proxy::new();
    proxy.client_sends(GET);
    proxy.backend_sends("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
    backend_closes(&mut proxy);
    assert!(proxy.closed.is_some(), "the client learns by the close");
    assert_eq!(proxy.connects.len(), 1, "part of the body came back");
    assert_eq!(stats_of(&proxy, 0).retries.total(), 0);
}

#[test]
fn two_new_connections_closed_before_answering_get_one_502() {
    let mut proxy = Proxy::new();
    proxy.client_sends(GET);
    backend_closes(&mut proxy);
    backend_closes(&mut proxy);
    assert_eq!(proxy.error_answer(), "HTTP/1.1 502 Bad Gateway");
    assert_eq!(
        proxy.connects,
        [(0, false), (1, true)],
        "one retry, no loop"
    );
    assert_eq!(proxy.released, [false, false]);
    assert_eq!(proxy.client_got(), "", "one answer");
    assert_eq!(stats_of(&proxy, 0).retries.fresh, 1);
    assert_eq!(
        stats_of(&proxy, 1).retries.fresh,
        0,
        "the last try is not retried"
    );
    assert_eq!(stats_of(&proxy, 1).failures, 1);
}

#[test]
fn with_one_backend_the_retry_goes_to_the_same_one() {
    let mut proxy = Proxy::with(|config| config.backends.truncate(1));
    proxy.client_sends(GET);
    backend_closes(&mut proxy);
    assert_eq!(proxy.connects, [(0, false), (0, true)], "it sits out alone");
    proxy.backend_sends(OK);
    assert!(proxy.client_got().starts_with("HTTP/1.1 200 OK"));
    let stats = stats_of(&proxy, 0);
    assert_eq!((stats.retries.fresh, stats.requests), (1, 1));
}

#[test]
fn a_reused_connection_and_then_a_new_one_closing_get_one_retry_each() {
    let mut proxy = Proxy::new();
    proxy.client_sends(GET);
    proxy.backend_sends(OK);
    proxy.client_got();
    proxy.client_sends(GET);
    assert_eq!(
        proxy.connects[1],
        (1, false),
        "the parked one may be reused"
    );
    backend_closes(&mut proxy);
    assert!(proxy.connects[2].1, "the first retry asks for a fresh one");
    backend_closes(&mut proxy);
    assert!(proxy.connects[3].1, "so does the second");
    backend_closes(&mut proxy);
    assert_eq!(proxy.error_answer(), "HTTP/1.1 502 Bad Gateway");
    assert_eq!(proxy.connects.len(), 4, "two retries at most");
    let counted: Vec<(u64, u64)> = (0..2)
        .map(|i| stats_of(&proxy, i).retries)
        .map(|r| (r.reused, r.fresh))
        .collect();
    assert_eq!(counted.iter().map(|c| c.0).sum::<u64>(), 1, "{counted:?}");
    assert_eq!(counted.iter().map(|c| c.1).sum::<u64>(), 1, "{counted:?}");
}
