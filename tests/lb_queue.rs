//! `--backend ADDR,maxconn=N` and the wait queue, on the real binary: the
//! requests beyond the cap wait and are served in arrival order, a request
//! that waits too long gets a 503, the counters show in /stats and
//! /metrics, a client that leaves is forgotten, TCP mode caps connections,
//! and `--check` refuses bad values. The backend answers only when the test
//! lets it, so each step is awaited, never timed.

#[path = "support/balancer.rs"]
mod balancer;
#[allow(dead_code)]
#[path = "support/echo.rs"]
mod echo;
#[path = "support/operations.rs"]
mod operations;
#[path = "support/queue.rs"]
mod queue;
mod support;

use std::io::{Read, Write};
use std::sync::atomic::Ordering;
use std::thread;

use balancer::balancer_with_admin;
use echo::EchoServer;
use operations::{SETTLE, exchange, wait_for};
use queue::{GatedBackend, metric, queue_stats, wait_queue_stat};
use support::{connect, run_distloop, temp_file};

/// `GET path` on its own connection, in a thread: (status, body).
fn get_later(addr: std::net::SocketAddr, path: &str) -> thread::JoinHandle<(u16, String)> {
    let path = path.to_string();
    thread::spawn(move || {
        let (status, _, body) = exchange(addr, "GET", &path).expect("an answer");
        (status, body)
    })
}

#[test]
fn requests_beyond_maxconn_wait_and_are_served_in_arrival_order() {
    let backend = GatedBackend::start();
    let spec = format!("{},name=gated,maxconn=1", backend.addr);
    let (lb, admin) = balancer_with_admin(&[spec], &[]);
    let first = get_later(lb.addr, "/1");
    backend.wait_received(1);
    let mut waiting = Vec::new();
    for i in 2..=4 {
        waiting.push(get_later(lb.addr, &format!("/{i}")));
        // Each is in line before the next is sent: the order is known.
        wait_queue_stat(admin, "queued", i - 1);
    }
    let shown = queue_stats(admin);
    assert_eq!(shown["waiting"], 3, "{shown}");
    assert_eq!(metric(admin, "distloop_queue_waiting"), Some(3.0));
    assert_eq!(backend.received(), ["/1"], "the cap holds the others back");

    let mut answers = vec![first];
    answers.append(&mut waiting);
    for (i, answer) in answers.into_iter().enumerate() {
        backend.release(1);
        assert_eq!(answer.join().unwrap(), (200, format!("/{}", i + 1)));
    }
    assert_eq!(backend.received(), ["/1", "/2", "/3", "/4"]);
    assert_eq!(backend.max_in_flight(), 1);
    wait_queue_stat(admin, "admitted", 3);
    let shown = queue_stats(admin);
    assert_eq!(shown["waiting"], 0, "{shown}");
    assert_eq!(shown["max_waiting"], 3, "{shown}");
    assert_eq!(shown["timed_out"], 0, "{shown}");
    assert!(shown["wait_max_ms"].as_f64().unwrap() > 0.0, "{shown}");
    assert_eq!(metric(admin, "distloop_queue_queued_total"), Some(3.0));
    assert!(metric(admin, "distloop_queue_wait_p99_seconds").unwrap() > 0.0);
    let (status, page) = operations::admin(admin, "GET", "/");
    assert_eq!(status, 200);
    assert!(
        page.contains("queue: 0 waiting (max 3), 3 queued, 3 served"),
        "{page}"
    );
}

#[test]
fn a_request_that_waits_past_the_queue_timeout_gets_503() {
    let backend = GatedBackend::start();
    let spec = format!("{},name=gated,maxconn=1", backend.addr);
    let (lb, admin) = balancer_with_admin(&[spec], &["--queue-timeout", "200ms"]);
    let first = get_later(lb.addr, "/held");
    backend.wait_received(1);
    let (status, _, body) = exchange(lb.addr, "GET", "/late").unwrap();
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("maxconn"), "{body}");
    wait_queue_stat(admin, "timed_out", 1);
    assert_eq!(metric(admin, "distloop_queue_timed_out_total"), Some(1.0));
    backend.release(1);
    assert_eq!(first.join().unwrap(), (200, "/held".to_string()));
    assert_eq!(
        backend.received(),
        ["/held"],
        "the late one never reached it"
    );
}

#[test]
fn a_client_that_leaves_the_queue_is_forgotten_and_the_next_is_served() {
    let backend = GatedBackend::start();
    let spec = format!("{},name=gated,maxconn=1", backend.addr);
    let (lb, admin) = balancer_with_admin(&[spec], &[]);
    let first = get_later(lb.addr, "/held");
    backend.wait_received(1);
    let mut leaving = connect(lb.addr);
    leaving
        .write_all(b"GET /gone HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    wait_queue_stat(admin, "queued", 1);
    drop(leaving);
    wait_queue_stat(admin, "abandoned", 1);
    let next = get_later(lb.addr, "/next");
    wait_queue_stat(admin, "queued", 2);
    backend.release(2);
    assert_eq!(first.join().unwrap().0, 200);
    assert_eq!(next.join().unwrap(), (200, "/next".to_string()));
    assert_eq!(backend.received(), ["/held", "/next"]);
}

#[test]
fn tcp_mode_caps_connections_and_queues_the_next() {
    let echo = EchoServer::start();
    let spec = format!("{},maxconn=1", echo.addr);
    let (lb, admin) = balancer_with_admin(&[spec], &["--mode", "tcp"]);
    let mut first = connect(lb.addr);
    first.write_all(b"one").unwrap();
    let mut got = [0u8; 3];
    first.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"one");

    let mut second = connect(lb.addr);
    second.write_all(b"two").unwrap();
    wait_queue_stat(admin, "queued", 1);
    assert_eq!(
        echo.accepted.load(Ordering::SeqCst),
        1,
        "one connection at a time"
    );
    drop(first);
    second.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"two", "served once the first closed");
    assert_eq!(echo.accepted.load(Ordering::SeqCst), 2);
    wait_queue_stat(admin, "admitted", 1);
}

#[test]
fn check_refuses_bad_maxconn_and_queue_timeout_values() {
    let (code, _, stderr) = run_distloop(&["lb", "--check", "--backend", "127.0.0.1:1,maxconn=0"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("maxconn must be 1 to 1000000"), "{stderr}");

    let file = temp_file(
        "lb-queue-check.toml",
        "queue_timeout = \"forever\"\n[[backend]]\naddress = \"127.0.0.1:1\"\nmaxconn = 0\n",
    );
    let (code, _, stderr) = run_distloop(&["lb", "--check", "--config", file.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    let path = file.display().to_string();
    assert!(
        stderr.contains(&format!("{path}:1: queue_timeout")),
        "{stderr}"
    );
    assert!(stderr.contains(&format!("{path}:2: backend")), "{stderr}");
    assert!(stderr.contains("maxconn must be"), "{stderr}");

    let good = temp_file(
        "lb-queue-good.toml",
        "queue_timeout = \"2s\"\n[[backend]]\naddress = \"127.0.0.1:1\"\nmaxconn = 64\n",
    );
    let (code, stdout, stderr) =
        run_distloop(&["lb", "--check", "--config", good.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("configuration is valid"));
    let (code, _, stderr) = run_distloop(&[
        "lb",
        "--check",
        "--backend",
        "127.0.0.1:1",
        "--queue-timeout",
        "25h",
    ]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("--queue-timeout must be at most 24h"),
        "{stderr}"
    );
}

#[test]
fn a_request_waiting_for_its_hashed_backend_moves_on_when_that_one_drains() {
    let (a, b) = (GatedBackend::start(), GatedBackend::start());
    let specs = [
        format!("{},name=a,maxconn=1", a.addr),
        format!("{},name=b,maxconn=1", b.addr),
    ];
    let (lb, admin) = balancer_with_admin(&specs, &["--strategy", "consistent-hash"]);
    let first = get_later(lb.addr, "/first");
    wait_for("the first request at a backend", SETTLE, || {
        a.received().len() + b.received().len() == 1
    });
    let (owner, other, owner_name) = match a.received().len() {
        1 => (&a, &b, "a"),
        _ => (&b, &a, "b"),
    };
    // Same client address, same backend: it waits although the other has room.
    let second = get_later(lb.addr, "/second");
    wait_queue_stat(admin, "queued", 1);
    assert!(other.received().is_empty());
    let (status, body) = operations::admin(admin, "POST", &format!("/backends/{owner_name}/drain"));
    assert_eq!(status, 200, "{body}");
    other.wait_received(1);
    assert_eq!(other.received(), ["/second"]);
    other.release(1);
    assert_eq!(second.join().unwrap(), (200, "/second".to_string()));
    owner.release(1);
    assert_eq!(first.join().unwrap(), (200, "/first".to_string()));
}
