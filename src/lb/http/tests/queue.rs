//! A request that finds both backends at their `maxconn`: it waits without
//! reading on, is let in when a slot frees, and gets a 503 after the queue
//! timeout or leaves the queue when its client closes.

use std::time::Duration;

use super::proxy::{Proxy, closes};
use super::{GET, OK};
use crate::lb::backend_set::Pick;

const POST: &str = "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n01234";

/// A proxy whose two backends take one request each, both taken.
fn full() -> (Proxy, Vec<Pick>) {
    let mut proxy = Proxy::with(|c| {
        for backend in &mut c.backends {
            backend.max_conn = Some(1);
        }
        c.queue_timeout = Duration::from_secs(2);
    });
    let now = proxy.now;
    let picks = (0..2)
        .map(|_| proxy.backends.backend_set().pick(now, &[], 0).unwrap())
        .collect();
    (proxy, picks)
}

#[test]
fn a_request_waits_while_the_backends_are_full_and_goes_when_one_frees() {
    let (mut proxy, mut picks) = full();
    proxy.client_sends(GET);
    assert!(proxy.connects.is_empty(), "no backend is asked");
    assert!(proxy.connection.is_waiting());
    assert_eq!(proxy.backends.waiting().len(), 1);
    assert!(!proxy.admit(), "no room yet");
    let now = proxy.now;
    proxy.backends.backend_set().finish(picks.remove(1), now);
    assert!(proxy.admit());
    assert_eq!(proxy.connects, [(1, false)]);
    assert!(proxy.backend_got().starts_with("GET /a HTTP/1.1\r\n"));
    proxy.backend_sends(OK);
    assert!(proxy.client_got().starts_with("HTTP/1.1 200 OK\r\n"));
    let stats = proxy.backends.waiting().stats();
    assert_eq!((stats.queued, stats.admitted, stats.waiting), (1, 1, 0));
}

#[test]
fn a_waiting_request_reads_no_more_of_its_body() {
    let (mut proxy, _picks) = full();
    proxy.client_sends(POST);
    let buffered = proxy.client.input().len();
    assert_eq!(
        buffered, 5,
        "the body bytes read with the head stay buffered"
    );
    proxy.client_sends("56789");
    assert_eq!(proxy.client.input().len(), buffered, "nothing more is read");
}

#[test]
fn a_request_waiting_past_the_queue_timeout_gets_503() {
    let (mut proxy, _picks) = full();
    let start = proxy.now;
    proxy.client_sends(GET);
    assert_eq!(
        proxy.connection.deadline(&proxy.settings),
        start + Duration::from_secs(2),
        "the queue timeout, not the response timeout"
    );
    proxy.time_out();
    assert_eq!(proxy.error_answer(), "HTTP/1.1 503 Service Unavailable");
    let stats = proxy.backends.waiting().stats();
    assert_eq!((stats.timed_out, stats.waiting), (1, 0));
    assert!(!proxy.admit(), "it is no longer in line");
}

#[test]
fn a_client_that_closes_while_waiting_leaves_the_queue() {
    let (mut proxy, mut picks) = full();
    proxy.client_sends(GET);
    closes(&mut proxy.client);
    proxy.run();
    assert!(proxy.closed.is_some());
    let stats = proxy.backends.waiting().stats();
    assert_eq!((stats.abandoned, stats.waiting), (1, 0));
    let now = proxy.now;
    proxy.backends.backend_set().finish(picks.remove(0), now);
    assert!(!proxy.admit(), "no one is woken for it");
    assert!(proxy.connects.is_empty());
}

#[test]
fn with_queueing_off_a_full_pool_answers_503_at_once() {
    let mut proxy = Proxy::with(|c| {
        c.backends.truncate(1);
        c.backends[0].max_conn = Some(1);
        c.queue_timeout = Duration::ZERO;
    });
    let now = proxy.now;
    let _pick = proxy.backends.backend_set().pick(now, &[], 0).unwrap();
    proxy.client_sends(GET);
    assert_eq!(proxy.error_answer(), "HTTP/1.1 503 Service Unavailable");
}
