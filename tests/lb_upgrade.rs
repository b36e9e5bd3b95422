//! Zero-downtime upgrade: a new balancer started with the same
//! `--upgrade-socket` takes the listening sockets over from the running one,
//! which stops accepting and drains, while clients keep connecting. Not one
//! request may fail. Every wait is bounded; nothing asserts timings.

#[path = "support/balancer.rs"]
mod balancer;
#[path = "support/pi.rs"]
mod pi;
mod support;
#[path = "support/upgrade.rs"]
mod upgrade;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use balancer::balancer_with_admin;
use pi::start_backends;
use support::{SIGTERM, Server, distloop_bin};
use upgrade::Load;

/// The longest wait for a process to exit or for the load to make progress.
const WAIT: Duration = Duration::from_secs(30);
/// Clients opening one connection per request, all the time.
const CLIENTS: usize = 16;

fn socket_path(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("distloop-{}-{name}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

fn start_balancer(backends: &[Server], socket: &Path, extra: &[&str]) -> Server {
    let addrs: Vec<SocketAddr> = backends.iter().map(|b| b.addr).collect();
    let socket = socket.display().to_string();
    let mut flags = vec!["--upgrade-socket", socket.as_str()];
    flags.extend_from_slice(extra);
    balancer_with_admin(&addrs, &flags).0
}

/// Waits until the load has answered `more` further requests.
fn let_load_run(load: &Load, more: u64) {
    let target = load.answered() + more;
    let deadline = Instant::now() + WAIT;
    while load.answered() < target {
        assert!(
            Instant::now() < deadline,
            "the load stopped making progress"
        );
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn upgrades_under_load_lose_no_request() {
    let backends = start_backends(&[&[], &[]]);
    let socket = socket_path("upgrade");
    let mut old = start_balancer(&backends, &socket, &[]);
    let addr = old.addr;
    let admin = old.other_addrs[0].1;
    let load = Load::start(addr, "/20", CLIENTS);
    let_load_run(&load, 200);
    // Twice: the new process answers the next upgrade on the same path.
    for _ in 0..2 {
        let new = start_balancer(&backends, &socket, &[]);
        assert_eq!(new.addr, addr, "the same listening socket");
        assert_eq!(new.other_addrs[0].1, admin, "the same admin socket");
        assert_eq!(
            old.wait_exit(WAIT),
            Some(0),
            "the old balancer drains and exits"
        );
        let_load_run(&load, 200);
        old = new;
    }
    let outcome = load.finish();
    assert!(
        outcome.failures.is_empty(),
        "{} of {} requests failed: {:?}",
        outcome.failures.len(),
        outcome.ok + outcome.failures.len() as u64,
        &outcome.failures[..outcome.failures.len().min(10)]
    );
    assert!(outcome.ok >= 600);
    old.signal(SIGTERM);
    assert_eq!(old.wait_exit(WAIT), Some(0));
    assert!(!socket.exists(), "a stopped balancer removes its socket");
}

#[test]
fn connections_waiting_in_the_old_backlog_are_served_by_the_new_balancer() {
    // The old balancer serves one connection at a time and the backend is
    // slow, so the other clients wait, accepted by the kernel, in the
    // listen backlog. Had the new process bound a socket of its own
    // (SO_REUSEPORT) and the old one closed its listener, they would be reset.
    let backends = start_backends(&[&["--delay", "300"]]);
    let socket = socket_path("backlog");
    let mut old = start_balancer(&backends, &socket, &["--max-connections", "1"]);
    let addr = old.addr;
    let waiting: Vec<_> = (0..6)
        .map(|_| thread::spawn(move || pi::who_answers(addr, "/5")))
        .collect();
    // Let every client connect (into the backlog) before the upgrade.
    thread::sleep(Duration::from_millis(100));
    let new = start_balancer(&backends, &socket, &[]);
    assert_eq!(old.wait_exit(WAIT), Some(0));
    for client in waiting {
        assert_eq!(client.join().expect("a client failed"), "a");
    }
    drop(new);
    let _ = std::fs::remove_file(&socket);
}

#[test]
fn a_new_balancer_that_does_not_fit_is_refused_and_the_old_one_serves_on() {
    let backends = start_backends(&[&[]]);
    let socket = socket_path("refused");
    let mut old = start_balancer(&backends, &socket, &[]);
    let output = std::process::Command::new(distloop_bin())
        .args([
            "lb",
            "--workers",
            "2",
            "--admin",
            "127.0.0.1:0",
            "--upgrade-socket",
        ])
        .arg(&socket)
        .args(["--backend", &backends[0].addr.to_string()])
        .output()
        .expect("run distloop");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--workers"), "{stderr}");
    assert_eq!(
        pi::who_answers(old.addr, "/5"),
        "a",
        "the old one still serves"
    );
    assert!(old.child.try_wait().unwrap().is_none());
    old.signal(SIGTERM);
    assert_eq!(old.wait_exit(WAIT), Some(0));
}

#[test]
fn a_stale_socket_file_is_replaced() {
    let backends = start_backends(&[&[]]);
    let socket = socket_path("stale");
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    assert!(socket.exists());
    let mut lb = start_balancer(&backends, &socket, &[]);
    assert_eq!(pi::who_answers(lb.addr, "/5"), "a");
    lb.signal(SIGTERM);
    assert_eq!(lb.wait_exit(WAIT), Some(0));
}
