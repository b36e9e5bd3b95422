//! Without active health checks, a backend that refuses connections sits
//! out a passive backoff; the admin port says so (state `backoff` and until
//! when) in `/stats`, `/metrics` and the page, and says `up` again once the
//! backoff has ended. The real binary, its real admin port, loopback only.

#[path = "support/balancer.rs"]
mod balancer;
#[path = "support/http_backends.rs"]
#[allow(dead_code)]
mod http_backends;
#[path = "support/operations.rs"]
mod operations;
mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use balancer::balancer_with_admin;
use http_backends::{Behaviour, HttpBackend};
use operations::stats;
use serde_json::Value;
use support::{connect, dead_addr};

/// The first passive backoff in these tests: long beside the once-a-second
/// stats, short enough to wait out.
const BACKOFF: &str = "4s";
/// The longest wait for the admin port to show a state.
const SETTLE: Duration = Duration::from_secs(20);

/// One request on a new connection: (status, head and body as text).
fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = connect(addr);
    let request = format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).unwrap();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a status line: {status_line:?}"));
    let mut rest = String::new();
    reader.read_to_string(&mut rest).unwrap();
    (status, rest)
}

fn body(text: &str) -> &str {
    text.split_once("\r\n\r\n").map_or("", |(_, body)| body)
}

/// The value of the `/metrics` line of `family` for backend `name`.
fn metric(admin: SocketAddr, family: &str, name: &str) -> f64 {
    let (status, text) = get(admin, "/metrics");
    assert_eq!(status, 200, "{text}");
    let prefix = format!("distloop_{family}{{backend=\"{name}\",");
    body(&text)
        .lines()
        .find(|line| line.starts_with(&prefix))
        .and_then(|line| line.rsplit_once(' '))
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or_else(|| panic!("no {family} for {name} in {text}"))
}

fn wait_for_state(admin: SocketAddr, name: &str, state: &str) -> Value {
    let deadline = Instant::now() + SETTLE;
    loop {
        let shown = operations::backend_stats(&stats(admin), name);
        if shown["state"] == state {
            return shown;
        }
        assert!(
            Instant::now() < deadline,
            "{name} never shown {state}: {shown}"
        );
        thread::sleep(Duration::from_millis(50));
    }
}

fn unix_seconds(time: SystemTime) -> f64 {
    time.duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

fn refused_backend_is_shown_in_backoff_until_it_ends(mode: &str) {
    let echo = HttpBackend::start(Behaviour::Echo);
    let dead = format!("{},name=dead", dead_addr());
    let alive = format!("{},name=alive", echo.addr);
    let (lb, admin) = balancer_with_admin(
        &[dead, alive],
        &["--mode", mode, "--strategy", "n-to-1", "--backoff", BACKOFF],
    );
    let backend_stats = |admin, name| operations::backend_stats(&stats(admin), name);
    assert_eq!(backend_stats(admin, "dead")["state"], "up", "not tried yet");

    let before = SystemTime::now();
    let (status, _) = get(lb.addr, "/hello");
    assert_eq!(
        status, 200,
        "the refused connect went on to the next backend"
    );

    let shown = wait_for_state(admin, "dead", "backoff");
    assert_eq!(shown["consecutive_failures"], 1, "{shown}");
    assert_eq!(shown["failures"], 1, "{shown}");
    let until = shown["backoff_until"].as_str().expect("until when");
    assert!(
        until.ends_with('Z') && until.contains('T'),
        "RFC 3339: {until}"
    );
    assert_eq!(backend_stats(admin, "alive")["state"], "up");

    assert_eq!(metric(admin, "backend_up", "dead"), 0.0);
    assert_eq!(metric(admin, "backend_up", "alive"), 1.0);
    let until_unix = metric(admin, "backend_backoff_until_timestamp_seconds", "dead");
    assert!(
        until_unix > unix_seconds(before),
        "the backoff ends after the failure: {until_unix}"
    );
    assert_eq!(
        metric(admin, "backend_backoff_until_timestamp_seconds", "alive"),
        0.0
    );
    let (_, page) = get(admin, "/");
    assert!(page.contains("backoff until "), "{page}");

    // No request tries it again: once the backoff ends it is shown up (and
    // the next request will try it).
    let ended = wait_for_state(admin, "dead", "up");
    assert!(ended["backoff_until"].is_null(), "{ended}");
    assert_eq!(metric(admin, "backend_up", "dead"), 1.0);
}

#[test]
fn http_mode_a_refused_backend_is_shown_in_backoff_until_it_ends() {
    refused_backend_is_shown_in_backoff_until_it_ends("http");
}

#[test]
fn tcp_mode_a_refused_backend_is_shown_in_backoff_until_it_ends() {
    refused_backend_is_shown_in_backoff_until_it_ends("tcp");
}
