//! With `--log-level debug`, the balancer prints one line per state change
//! of a client connection: its number, the request's number, `from -> to`
//! and why. One GET through the real binary shows the whole path.

#[path = "support/balancer.rs"]
mod balancer;
#[path = "support/http_backends.rs"]
#[allow(dead_code)]
mod http_backends;
#[path = "support/http_client.rs"]
mod http_client;
mod support;

use std::time::{Duration, Instant};

use balancer::balancer_logging_debug;
use http_backends::{Behaviour, HttpBackend};
use http_client::exchange;

/// The transitions one GET on a new backend connection goes through, in order.
const ONE_GET: [&str; 6] = [
    "reading-head -> picking (request head complete)",
    "picking -> connecting (a new connection was started)",
    "connecting -> sending-head (connected)",
    "sending-head -> awaiting-head (request head sent)",
    "awaiting-head -> receiving-body (response head relayed)",
    "receiving-body -> reading-head (response complete)",
];

#[test]
fn one_get_logs_each_transition_of_its_client_connection() {
    let backend = HttpBackend::start(Behaviour::Echo);
    let lb = balancer_logging_debug(&[backend.addr], &[]);
    let reply = exchange(lb.addr, b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(reply.status, 200);

    let deadline = Instant::now() + Duration::from_secs(10);
    let mut transitions = Vec::new();
    while transitions.len() < ONE_GET.len() && Instant::now() < deadline {
        let Some(line) = lb.next_log_line(Duration::from_millis(200)) else {
            continue;
        };
        if let Some((_, transition)) = line.split_once(": ") {
            if line.contains(" -> ") && line.starts_with("[debug] client ") {
                assert!(line.contains(" request 1: "), "{line}");
                transitions.push(transition.to_string());
            }
        }
    }
    assert_eq!(transitions, ONE_GET);
}
