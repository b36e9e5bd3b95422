//! Read buffers lent on demand: what a connection holds between requests,
//! that every buffer comes back, and that a read the pool cannot serve
//! waits without losing a byte.

use std::time::Instant;

use super::proxy::{Proxy, closes};
use super::{GET, OK};
use crate::reactor::buffer_pool::{BufferPool, PoolLimits};

/// Buffers lent out now.
fn in_use(proxy: &Proxy) -> usize {
    proxy.buffers.stats().in_use
}

#[test]
fn an_idle_kept_alive_connection_holds_no_buffer() {
    let mut proxy = Proxy::new();
    proxy.run();
    assert_eq!(in_use(&proxy), 0, "accepted, nothing sent yet");
    proxy.client_sends(GET);
    proxy.backend_sends(OK);
    assert!(proxy.client_got().ends_with("hi"));
    assert!(proxy.connection.is_between_requests());
    assert_eq!(in_use(&proxy), 0, "between requests, none is held");
    assert!(proxy.parked.as_ref().unwrap().has_no_input());
}

#[test]
fn every_exchange_gives_its_buffers_back_and_the_next_reuses_them() {
    let mut proxy = Proxy::new();
    for _ in 0..5 {
        proxy.client_sends(GET);
        proxy.backend_sends(OK);
        assert!(proxy.client_got().ends_with("hi"));
        assert_eq!(in_use(&proxy), 0);
    }
    let stats = proxy.buffers.stats();
    assert!(
        stats.allocated <= 2,
        "one per side at most: {} allocated",
        stats.allocated
    );
    assert_eq!(stats.idle as u64, stats.allocated);
}

#[test]
fn a_pipelined_request_keeps_the_client_buffer_until_it_is_served() {
    let mut proxy = Proxy::new();
    proxy.client_sends(&format!("{GET}GET /b HTTP/1.1\r\nHost: x\r\n\r\n"));
    assert_eq!(in_use(&proxy), 1, "the second request waits in it");
    proxy.backend_sends(OK);
    assert!(proxy.backend_got().contains("GET /b "));
    assert_eq!(in_use(&proxy), 0, "both heads parsed");
    proxy.backend_sends("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo");
    assert!(proxy.client_got().ends_with("two"));
    assert_eq!(in_use(&proxy), 0);
}

#[test]
fn bodies_larger_than_a_buffer_pass_whole_both_ways() {
    let mut proxy = Proxy::with(|c| {
        c.max_head_bytes = 1024;
        c.buffer_bytes = 1024;
    });
    let body: String = (0..10_000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    proxy.client_sends(&format!(
        "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    ));
    for chunk in body.as_bytes().chunks(3000) {
        proxy.client_sends(std::str::from_utf8(chunk).unwrap());
    }
    assert!(proxy.backend_got().ends_with(&body));
    assert_eq!(in_use(&proxy), 0, "the whole body went up");
    proxy.backend_sends(&format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
        body.len()
    ));
    for chunk in body.as_bytes().chunks(3000) {
        proxy.backend_sends(std::str::from_utf8(chunk).unwrap());
    }
    assert!(proxy.client_got().ends_with(&body));
    assert_eq!(in_use(&proxy), 0);
    assert!(proxy.connection.is_between_requests());
}

#[test]
fn a_tunnel_holds_buffers_only_while_bytes_cross_and_gives_them_back_at_its_end() {
    let mut proxy = Proxy::new();
    proxy.client_sends(
        "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
    );
    assert!(proxy.backend_got().contains("Upgrade: websocket"));
    proxy.backend_sends(
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nearly",
    );
    assert!(
        proxy.client_got().ends_with("\r\n\r\nearly"),
        "bytes behind the 101 follow it"
    );
    assert_eq!(in_use(&proxy), 0);
    proxy.client_sends("ping");
    assert_eq!(proxy.backend_got(), "ping");
    assert_eq!(in_use(&proxy), 0, "a quiet tunnel holds none");
    proxy.client.writable = false;
    proxy.backend_sends("pong");
    assert_eq!(in_use(&proxy), 1, "held while the client cannot take it");
    closes(proxy.backend.as_mut().unwrap());
    proxy.run();
    proxy
        .connection
        .give_back(&mut proxy.buffers, &mut proxy.client);
    assert_eq!(in_use(&proxy), 0, "a closing tunnel gives its buffer back");
}

#[test]
fn a_read_refused_a_buffer_waits_and_loses_no_byte() {
    let mut proxy = Proxy::new();
    let limits = PoolLimits::new(1024, 1);
    proxy.buffers = BufferPool::new(limits, Instant::now()).unwrap();
    let held = proxy.buffers.take().unwrap();
    proxy.client_sends(GET);
    assert!(proxy.client.starved, "the caller is told to wait");
    assert!(proxy.connects.is_empty() && proxy.closed.is_none());
    proxy.client.starved = false;
    proxy.buffers.give(held);
    proxy.run();
    assert!(proxy.backend_got().starts_with("GET /a HTTP/1.1\r\n"));
    // The response needs the one buffer too: hold it again meanwhile.
    let held = proxy.buffers.take().unwrap();
    proxy.backend_sends(OK);
    assert!(proxy.backend.as_ref().unwrap().starved);
    assert!(proxy.client_got().is_empty());
    proxy.buffers.give(held);
    proxy.run();
    assert!(proxy.client_got().ends_with("hi"));
    assert_eq!(in_use(&proxy), 0);
}
