//! Search app helpers: start workers and masters, talk to them.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use distloop::apps::search::client::{Answer, request};

use crate::support::{Server, distloop_bin};

/// How long one test request may wait.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Starts `distloop search worker` on an ephemeral port.
pub fn start_worker() -> Server {
    Server::start(
        distloop_bin(),
        &["search", "worker", "--listen", "127.0.0.1:0"],
    )
}

/// `POST target` with `body`.
pub fn post(addr: SocketAddr, target: &str, body: &[u8]) -> Answer {
    request(addr, "POST", target, body, REQUEST_TIMEOUT).expect("an answer")
}

/// `GET target`.
pub fn get(addr: SocketAddr, target: &str) -> Answer {
    request(addr, "GET", target, b"", REQUEST_TIMEOUT).expect("an answer")
}

/// The JSON of an answer.
pub fn json(answer: &Answer) -> serde_json::Value {
    serde_json::from_slice(&answer.body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", answer.text()))
}
