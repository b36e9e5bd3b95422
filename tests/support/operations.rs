//! The operator's view of a running balancer in front of pi-backends: a
//! request through it and who answered (`X-Backend`), the admin port's
//! `/stats`, and polling until a state is reached. Every wait is a poll
//! with a deadline; nothing asserts how long anything took.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{IO_TIMEOUT, Server};

/// The longest wait for a state the balancer should reach (stats are
/// published about once a second).
pub const SETTLE: Duration = Duration::from_secs(8);
/// Health and agent checks run this often in these tests.
pub const INTERVAL: &str = "100ms";
/// A request that keeps its backend busy for a while (1 ms per term).
pub const SLOW_PATH: &str = "/leibniz/2500";

/// The `--backend` flag value for pi-backend `server` named `name`, plus `extra`.
pub fn spec(server: &Server, name: &str, extra: &str) -> String {
    format!("{},name={name}{extra}", server.addr)
}

/// One raw HTTP/1.1 exchange on a fresh connection: (status, head, body).
pub fn exchange(
    addr: SocketAddr,
    method: &str,
    path: &str,
) -> Result<(u16, String, String), String> {
    let mut stream =
        TcpStream::connect_timeout(&addr, IO_TIMEOUT).map_err(|e| format!("connect: {e}"))?;
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\nAccept: text/plain\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("write: {e}"))?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .map_err(|e| format!("read: {e}"))?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("no complete head in {text:?}"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line in {head:?}"))?;
    Ok((status, head.to_string(), body.to_string()))
}

/// The value of header `name` in `head`, if present.
pub fn header(head: &str, name: &str) -> Option<String> {
    head.lines().skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}

/// `GET path` through the balancer: (status, X-Backend).
pub fn try_get(addr: SocketAddr, path: &str) -> Result<(u16, String), String> {
    let (status, head, _) = exchange(addr, "GET", path)?;
    Ok((status, header(&head, "x-backend").unwrap_or_default()))
}

/// `GET path` that must succeed; returns the answering backend.
pub fn who(addr: SocketAddr, path: &str) -> String {
    let (status, backend) = try_get(addr, path).unwrap();
    assert_eq!(status, 200, "GET {path} answered by {backend:?}");
    backend
}

/// Backends answering `count` sequential requests, in order.
pub fn answers(addr: SocketAddr, count: usize) -> Vec<String> {
    (0..count).map(|_| who(addr, "/50")).collect()
}

/// An admin request: (status, body).
pub fn admin(addr: SocketAddr, method: &str, path: &str) -> (u16, String) {
    let (status, _, body) = exchange(addr, method, path).unwrap();
    (status, body)
}

/// `GET /stats`, parsed.
pub fn stats(addr: SocketAddr) -> Value {
    let (status, body) = admin(addr, "GET", "/stats");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// Backend `name`'s entry in a stats document.
pub fn backend_stats(stats: &Value, name: &str) -> Value {
    stats["backends"]
        .as_array()
        .expect("a backends array")
        .iter()
        .find(|b| b["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no backend {name} in {stats}"))
}

/// Polls `check` until it returns true; panics naming `what` after `within`.
pub fn wait_for(what: &str, within: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if check() {
            return;
        }
        thread::sleep(Duration::from_millis(50));
    }
    panic!("gave up waiting for {what}");
}

/// Waits until /stats shows backend `name` in `state`.
pub fn wait_for_state(admin_addr: SocketAddr, name: &str, state: &str) {
    wait_for(&format!("backend {name} {state}"), SETTLE, || {
        // A backend a reload adds shows up once the workers have taken it.
        let stats = stats(admin_addr);
        let listed = stats["backends"].as_array().expect("a backends array");
        listed
            .iter()
            .any(|b| b["name"] == name && b["state"] == state)
    });
}

/// Waits until /stats shows a request in flight on backend `name`.
pub fn wait_for_active(admin_addr: SocketAddr, name: &str) {
    wait_for(&format!("a request in flight on {name}"), SETTLE, || {
        backend_stats(&stats(admin_addr), name)["active"]
            .as_u64()
            .unwrap_or(0)
            > 0
    });
}
