//! Retries in HTTP mode against a backend that accepts every connection
//! and closes it without answering: GETs are sent once more, to the other
//! backend, and all answered; the retries are counted in `/stats` and
//! `/metrics`; a POST is not sent twice but answered 502; and a request
//! whose retry fails too gets one 502, never a loop. The real binary on
//! loopback.

#[path = "support/balancer.rs"]
mod balancer;
#[path = "support/http_backends.rs"]
#[allow(dead_code)]
mod http_backends;
#[path = "support/http_client.rs"]
mod http_client;
#[path = "support/operations.rs"]
mod operations;
#[path = "support/retry.rs"]
mod retry;
mod support;

use std::net::SocketAddr;

use balancer::balancer_with_admin;
use http_backends::{Behaviour, HttpBackend};
use http_client::{Reply, exchange};
use operations::{SETTLE, admin, backend_stats, stats, wait_for};
use retry::ClosingBackend;

const GET: &[u8] = b"GET /echo HTTP/1.1\r\nHost: t\r\n\r\n";
const POST: &[u8] = b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc";
/// What the balancer says when a backend closed before answering.
const CLOSED: &str = "closed the connection before answering";

/// The retries after new connections to backend `name` closed, as `/stats`
/// shows them.
fn fresh_retries(admin_addr: SocketAddr, name: &str) -> u64 {
    backend_stats(&stats(admin_addr), name)["retries"]["fresh"]
        .as_u64()
        .expect("retries.fresh is a number")
}

/// Waits until `/stats` (published about once a second) shows `count`
/// retries after new connections to backend `name` closed.
fn wait_for_fresh_retries(admin_addr: SocketAddr, name: &str, count: usize) {
    let what = format!("{count} retries counted on {name}");
    wait_for(&what, SETTLE, || {
        fresh_retries(admin_addr, name) == count as u64
    });
}

fn gets(addr: SocketAddr, count: usize) {
    for i in 0..count {
        let reply = exchange(addr, GET);
        assert_eq!(reply.status, 200, "GET {i}: {}", reply.text());
    }
}

#[test]
fn gets_are_all_answered_while_one_backend_closes_every_connection() {
    let closing = ClosingBackend::start();
    let echo = HttpBackend::start(Behaviour::Echo);
    let specs = [
        format!("{},name=closing", closing.addr),
        format!("{},name=echo", echo.addr),
    ];
    // Without a backoff, round-robin sends every other request to the
    // closing backend first: each of those is a retry.
    let (lb, admin_addr) =
        balancer_with_admin(&specs, &["--strategy", "round-robin", "--backoff", "0s"]);

    gets(lb.addr, 10);
    let first = closing.count("GET");
    assert!(first > 0, "the closing backend was tried");
    wait_for_fresh_retries(admin_addr, "closing", first);

    gets(lb.addr, 10);
    let second = closing.count("GET");
    assert!(second > first, "it was tried again");
    wait_for_fresh_retries(admin_addr, "closing", second);
    assert_eq!(
        echo.heads().len(),
        20,
        "the echo backend answered every GET"
    );
    let echo_stats = backend_stats(&stats(admin_addr), "echo");
    assert_eq!(echo_stats["retries"]["fresh"], 0);
    assert_eq!(echo_stats["retries"]["reused"], 0);

    let (status, metrics) = admin(admin_addr, "GET", "/metrics");
    assert_eq!(status, 200);
    let line = format!(
        "distloop_backend_retries_total{{backend=\"closing\",address=\"{}\",connection=\"new\"}} {second}",
        closing.addr
    );
    assert!(metrics.contains(&line), "{metrics}");

    // A POST is not sent twice: the one that meets the closing backend
    // gets a 502, the other is answered by the echo backend.
    let replies: Vec<Reply> = (0..2).map(|_| exchange(lb.addr, POST)).collect();
    let failed: Vec<&Reply> = replies.iter().filter(|r| r.status == 502).collect();
    assert_eq!(failed.len(), 1, "one POST met the closing backend");
    assert!(failed[0].text().contains(CLOSED), "{}", failed[0].text());
    let answered = replies.iter().find(|r| r.status == 200).expect("a 200");
    assert_eq!(answered.text(), "abc");
    assert_eq!(closing.count("POST"), 1, "the failed POST was sent once");
    let echo_posts = echo
        .heads()
        .iter()
        .filter(|h| h.starts_with("POST"))
        .count();
    assert_eq!(echo_posts, 1, "and not again to the echo backend");
}

#[test]
fn a_get_whose_retry_fails_too_gets_one_502() {
    let closing = ClosingBackend::start();
    let spec = format!("{},name=closing", closing.addr);
    let (lb, admin_addr) = balancer_with_admin(&[spec], &[]);

    let reply = exchange(lb.addr, GET);
    assert_eq!(reply.status, 502, "{}", reply.text());
    assert!(reply.text().contains(CLOSED), "{}", reply.text());
    assert_eq!(closing.count("GET"), 2, "one retry, to the only backend");
    wait_for_fresh_retries(admin_addr, "closing", 1);
    assert_eq!(backend_stats(&stats(admin_addr), "closing")["failures"], 2);

    let again = exchange(lb.addr, GET);
    assert_eq!(again.status, 502, "the balancer goes on answering");
    assert_eq!(closing.count("GET"), 4);
    let post = exchange(lb.addr, POST);
    assert_eq!(post.status, 502, "{}", post.text());
    assert_eq!(closing.count("POST"), 1, "sent once");
}
