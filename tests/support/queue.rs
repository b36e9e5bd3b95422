//! For the queue tests: a backend that holds every request until the test
//! lets it answer (so the test decides when a slot frees, without timing),
//! and readers of the balancer's queue counters in `/stats` and `/metrics`.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

use serde_json::Value;

use crate::operations::{SETTLE, admin, stats, wait_for};

/// How long a gated backend waits for the test before it gives up a request.
const GATE_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Default)]
struct Gate {
    /// Request targets received, in arrival order.
    received: Vec<String>,
    /// Answers the test allowed and no request has used yet.
    permits: usize,
    /// Requests received and not yet answered.
    in_flight: usize,
    /// The most `in_flight` has been.
    max_in_flight: usize,
}

/// An HTTP backend that answers each request (`200`, its target as body)
/// only when [`GatedBackend::release`] allows one more answer.
#[derive(Clone)]
pub struct GatedBackend {
    /// Where it listens.
    pub addr: SocketAddr,
    gate: Arc<(Mutex<Gate>, Condvar)>,
}

impl GatedBackend {
    /// Starts one on an ephemeral loopback port; it lives until the test
    /// process ends.
    pub fn start() -> GatedBackend {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind gated backend");
        let addr = listener.local_addr().unwrap();
        let gate: Arc<(Mutex<Gate>, Condvar)> = Arc::default();
        let shared = Arc::clone(&gate);
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let gate = Arc::clone(&shared);
                thread::spawn(move || serve(stream, &gate));
            }
        });
        GatedBackend { addr, gate }
    }

    /// Lets `count` more requests be answered.
    pub fn release(&self, count: usize) {
        let (lock, changed) = &*self.gate;
        lock.lock().unwrap().permits += count;
        changed.notify_all();
    }

    /// The targets received so far, in arrival order.
    pub fn received(&self) -> Vec<String> {
        self.gate.0.lock().unwrap().received.clone()
    }

    /// The most requests it held unanswered at once.
    pub fn max_in_flight(&self) -> usize {
        self.gate.0.lock().unwrap().max_in_flight
    }

    /// Waits until it has received `count` requests.
    pub fn wait_received(&self, count: usize) {
        wait_for(
            &format!("{count} request(s) at the backend"),
            SETTLE,
            || self.received().len() >= count,
        );
    }
}

fn serve(stream: TcpStream, gate: &(Mutex<Gate>, Condvar)) {
    let _ = stream.set_read_timeout(Some(GATE_TIMEOUT));
    let mut writer = match stream.try_clone() {
        Ok(writer) => writer,
        Err(_) => return,
    };
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        // The rest of the head; these requests have no body.
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
        }
        let target = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or("")
            .to_string();
        let (lock, changed) = gate;
        let mut state = lock.lock().unwrap();
        state.received.push(target.clone());
        state.in_flight += 1;
        state.max_in_flight = state.max_in_flight.max(state.in_flight);
        changed.notify_all();
        while state.permits == 0 {
            let (next, timeout) = changed.wait_timeout(state, GATE_TIMEOUT).unwrap();
            state = next;
            if timeout.timed_out() {
                return;
            }
        }
        state.permits -= 1;
        state.in_flight -= 1;
        drop(state);
        let answer = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{target}",
            target.len()
        );
        if writer.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

/// The `queue` object of the balancer's `/stats`.
pub fn queue_stats(admin_addr: SocketAddr) -> Value {
    stats(admin_addr)["queue"].clone()
}

/// Waits until the queue counter `field` in `/stats` is at least `at_least`.
pub fn wait_queue_stat(admin_addr: SocketAddr, field: &str, at_least: u64) {
    wait_for(&format!("queue.{field} >= {at_least}"), SETTLE, || {
        queue_stats(admin_addr)[field].as_u64().unwrap_or(0) >= at_least
    });
}

/// The value of the metric line `name` (without labels) in `/metrics`.
pub fn metric(admin_addr: SocketAddr, name: &str) -> Option<f64> {
    let (status, text) = admin(admin_addr, "GET", "/metrics");
    assert_eq!(status, 200, "{text}");
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}
