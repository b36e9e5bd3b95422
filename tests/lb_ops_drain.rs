//! Taking a backend out of rotation through the admin port: a drain lets
//! the request in flight finish and sends new ones (and a kept-alive
//! client's next one) elsewhere, in HTTP and TCP mode and with two
//! workers; connections parked to a backend that left rotation are not
//! reused. The real binary on loopback; every wait is a poll with a
//! deadline.

#[path = "support/balancer.rs"]
mod balancer;
#[path = "support/http_backends.rs"]
#[allow(dead_code)]
mod http_backends;
#[path = "support/operations.rs"]
mod operations;
#[path = "support/pi.rs"]
mod pi;
mod support;

use std::thread;
use std::time::Duration;

use balancer::balancer_with_admin;
use operations::{
    SETTLE, SLOW_PATH, admin, answers, exchange, spec, try_get, wait_for, wait_for_active,
    wait_for_state, who,
};
use pi::start_backends;
use support::{SIGTERM, temp_path};

#[test]
fn drain_lets_the_request_in_flight_finish_and_sends_new_ones_elsewhere() {
    let backends = start_backends(&[&[], &[]]);
    let specs = [spec(&backends[0], "a", ""), spec(&backends[1], "b", "")];
    // n-to-1 sends everything to the first available backend: a.
    let (lb, admin_addr) = balancer_with_admin(&specs, &["--strategy", "n-to-1"]);
    let addr = lb.addr;
    let slow = thread::spawn(move || try_get(addr, SLOW_PATH));
    wait_for_active(admin_addr, "a");

    let (status, body) = admin(admin_addr, "POST", "/backends/a/drain");
    assert_eq!(status, 200, "{body}");
    wait_for_state(admin_addr, "a", "drain");
    let during = answers(lb.addr, 10);
    assert!(during.iter().all(|b| b == "b"), "{during:?}");
    assert_eq!(slow.join().unwrap(), Ok((200, "a".to_string())));

    let (status, body) = admin(admin_addr, "POST", "/backends/a/ready");
    assert_eq!(status, 200, "{body}");
    wait_for_state(admin_addr, "a", "up");
    assert_eq!(who(lb.addr, "/50"), "a");

    let (status, _) = admin(admin_addr, "POST", "/backends/nobody/drain");
    assert_eq!(status, 404);
    let (status, _) = admin(admin_addr, "POST", "/backends/a/explode");
    assert_eq!(status, 404);
}

#[test]
fn a_kept_alive_client_is_sent_elsewhere_from_its_next_request_after_a_drain() {
    let backends = start_backends(&[&[], &[]]);
    let specs = [spec(&backends[0], "a", ""), spec(&backends[1], "b", "")];
    let (lb, admin_addr) = balancer_with_admin(&specs, &["--strategy", "n-to-1"]);
    let mut conn = pi::Conn::open(lb.addr);
    assert_eq!(conn.get("/50", false).1, "a");
    assert_eq!(admin(admin_addr, "POST", "/backends/a/drain").0, 200);
    wait_for_state(admin_addr, "a", "drain");
    for _ in 0..3 {
        let (status, backend, _) = conn.get("/50", false);
        assert_eq!((status, backend.as_str()), (200, "b"));
    }
}

#[test]
fn with_two_workers_a_drain_reaches_both_and_sigterm_stops_both() {
    let backends = start_backends(&[&[], &[]]);
    let specs = [spec(&backends[0], "a", ""), spec(&backends[1], "b", "")];
    let (mut lb, admin_addr) =
        balancer_with_admin(&specs, &["--workers", "2", "--strategy", "n-to-1"]);
    assert_eq!(admin(admin_addr, "POST", "/backends/a/drain").0, 200);
    wait_for_state(admin_addr, "a", "drain");
    // Fresh connections land on either worker; none may still send to a.
    let seen = answers(lb.addr, 40);
    assert!(seen.iter().all(|b| b == "b"), "{seen:?}");
    lb.signal(SIGTERM);
    assert_eq!(lb.wait_exit(SETTLE), Some(0));
}

#[test]
fn tcp_mode_drain_and_access_log_work_per_connection() {
    let backends = start_backends(&[&[], &[]]);
    let specs = [spec(&backends[0], "a", ""), spec(&backends[1], "b", "")];
    let path = temp_path("tcp-access.log");
    let _ = std::fs::remove_file(&path);
    let (lb, admin_addr) = balancer_with_admin(
        &specs,
        &[
            "--mode",
            "tcp",
            "--strategy",
            "n-to-1",
            "--access-log",
            path.to_str().unwrap(),
        ],
    );
    assert_eq!(who(lb.addr, "/50"), "a");
    assert_eq!(admin(admin_addr, "POST", "/backends/a/drain").0, 200);
    wait_for_state(admin_addr, "a", "drain");
    assert_eq!(answers(lb.addr, 3), ["b", "b", "b"]);
    let mut lines = Vec::new();
    wait_for(
        "four connections in the log",
        Duration::from_secs(5),
        || {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            lines = text.lines().map(String::from).collect();
            lines.len() >= 4
        },
    );
    assert_eq!(lines.len(), 4, "{lines:#?}");
    for (line, backend) in lines.iter().zip(["a", "b", "b", "b"]) {
        assert!(line.contains("\"TCP\""), "{line}");
        assert!(line.contains(&format!(" backend={backend} ")), "{line}");
    }
    let _ = std::fs::remove_file(&path);
}

#[test]
fn parked_connections_to_a_backend_that_leaves_rotation_are_closed() {
    let backend = http_backends::HttpBackend::start(http_backends::Behaviour::Echo);
    let specs = [format!("{},name=a", backend.addr)];
    let (lb, admin_addr) = balancer_with_admin(&specs, &[]);
    let accepted = || backend.accepted.load(std::sync::atomic::Ordering::SeqCst);
    // The answer parks the balancer's connection to a.
    assert_eq!(exchange(lb.addr, "GET", "/one").unwrap().0, 200);
    assert_eq!(accepted(), 1);
    assert_eq!(exchange(lb.addr, "GET", "/two").unwrap().0, 200);
    assert_eq!(accepted(), 1, "a parked connection is reused");
    // Out of rotation and back: what was parked before is not used after.
    assert_eq!(admin(admin_addr, "POST", "/backends/a/maint").0, 200);
    wait_for_state(admin_addr, "a", "maint");
    assert_eq!(admin(admin_addr, "POST", "/backends/a/ready").0, 200);
    wait_for_state(admin_addr, "a", "up");
    assert_eq!(exchange(lb.addr, "GET", "/three").unwrap().0, 200);
    assert_eq!(
        accepted(),
        2,
        "a new connection after the backend came back"
    );
}
