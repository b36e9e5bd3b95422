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

/// Starts `distloop search master` with `workers` and extra flags.
pub fn start_master(workers: &[SocketAddr], flags: &[&str]) -> Server {
    let mut args = vec![
        "search".to_owned(),
        "master".into(),
        "--listen".into(),
        "127.0.0.1:0".into(),
    ];
    for worker in workers {
        args.push("--worker".into());
        args.push(worker.to_string());
    }
    args.extend(flags.iter().map(|f| f.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Server::start(distloop_bin(), &args)
}

/// A deterministic English-like text of about `bytes` bytes, with
/// newlines, punctuation and mixed case.
pub fn sample_text(bytes: usize) -> Vec<u8> {
    const WORDS: &[&str] = &[
        "the",
        "Lord",
        "LORD",
        "lord",
        "king",
        "King",
        "of",
        "and",
        "house",
        "lords",
        "Jerusalem",
        "unto",
        "said",
        "élan",
        "ÉLAN",
        "river",
    ];
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut text = Vec::with_capacity(bytes + 16);
    while text.len() < bytes {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        text.extend_from_slice(WORDS[(state % WORDS.len() as u64) as usize].as_bytes());
        text.extend_from_slice(match state % 13 {
            0 => b".\n",
            1 => b", ",
            2 => b"\n\n",
            _ => b" ",
        });
    }
    text
}
