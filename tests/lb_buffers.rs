//! Read buffers lent on demand, in the real balancer: with a pool far
//! smaller than the crowd of clients (`--max-buffers`), a read the pool
//! cannot serve waits until a buffer comes back, and every byte of every
//! request and response still arrives, in HTTP and in TCP mode.

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

use balancer::{balancer, tcp_balancer};
use http_backends::{Behaviour, HttpBackend};
use http_client::read_reply;
use support::connect;

/// Clients at once: many more than the buffers lent.
const CLIENTS: usize = 12;
/// Requests each client sends on its kept-alive connection.
const REQUESTS: usize = 3;
/// A body of many buffers' worth, so that reads refill buffers often.
const BODY_BYTES: usize = 48 * 1024;

/// A body no other request of the run sends.
fn body_of(client: usize, request: usize) -> Vec<u8> {
    (0..BODY_BYTES)
        .map(|i| ((i * 31 + client * 7 + request * 13) % 251) as u8)
        .collect()
}

/// `CLIENTS` clients at once, each sending `REQUESTS` bodies to the echo
/// backend through `addr` and checking that each comes back whole.
fn crowd_gets_every_body_back(addr: SocketAddr) {
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            thread::spawn(move || {
                let stream = connect(addr);
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut writer = stream;
                for request in 0..REQUESTS {
                    let body = body_of(client, request);
                    let head = format!(
                        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
                        body.len()
                    );
                    writer.write_all(head.as_bytes()).unwrap();
                    writer.write_all(&body).unwrap();
                    let reply = read_reply(&mut reader);
                    assert_eq!(reply.status, 200, "client {client}, request {request}");
                    assert!(
                        reply.body == body,
                        "client {client}, request {request}: body"
                    );
                }
            })
        })
        .collect();
    for client in clients {
        client.join().expect("a client failed");
    }
}

#[test]
fn http_clients_beyond_the_buffer_bound_wait_for_buffers_and_lose_no_byte() {
    let echo = HttpBackend::start(Behaviour::Echo);
    let small = ["--max-buffers", "2", "--buffer-bytes", "4096"];
    let lb = balancer(
        &[echo.addr],
        &[&small[..], &["--max-head-bytes", "4096"]].concat(),
    );
    crowd_gets_every_body_back(lb.addr);
}

#[test]
fn tcp_sessions_beyond_the_buffer_bound_wait_for_buffers_and_lose_no_byte() {
    let echo = HttpBackend::start(Behaviour::Echo);
    let lb = tcp_balancer(
        &[echo.addr],
        &["--max-buffers", "1", "--buffer-bytes", "4096"],
    );
    crowd_gets_every_body_back(lb.addr);
}
