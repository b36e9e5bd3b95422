//! Each strategy's choices over real connections to real Pi backends; the
//! `X-Backend` header tells who answered.

#[path = "support/balancer.rs"]
mod balancer;
#[path = "support/pi.rs"]
mod pi;
mod support;

use std::net::SocketAddr;

use balancer::balancer;
use pi::{Conn, start_backends, who_answers};
use support::Server;

/// The balancer in `mode` with `strategy` in front of `backends`.
fn balancer_of(backends: &[Server], strategy: &str, mode: &str) -> Server {
    let addrs: Vec<SocketAddr> = backends.iter().map(|b| b.addr).collect();
    balancer(&addrs, &["--strategy", strategy, "--mode", mode])
}

fn sequence(lb: &Server, count: usize) -> String {
    (0..count).map(|_| who_answers(lb.addr, "/3")).collect()
}

#[test]
fn round_robin_cycles_through_the_backends_in_list_order() {
    let backends = start_backends(&[&[], &[], &[]]);
    for mode in ["tcp", "http"] {
        let lb = balancer_of(&backends, "round-robin", mode);
        assert_eq!(sequence(&lb, 9), "abcabcabc", "{mode} mode");
    }
}

#[test]
fn n_to_one_sends_everything_to_the_first_backend() {
    let backends = start_backends(&[&[], &[], &[]]);
    let lb = balancer_of(&backends, "N2One", "tcp");
    assert_eq!(sequence(&lb, 6), "aaaaaa");
}

#[test]
fn least_connections_picks_the_backend_with_fewest_open_connections() {
    let backends = start_backends(&[&[], &[], &[]]);
    let lb = balancer_of(&backends, "least-connections", "tcp");
    // Three kept-open connections land on a, b and c.
    let mut open: Vec<Conn> = (0..3).map(|_| Conn::open(lb.addr)).collect();
    let firsts: String = open.iter_mut().map(|c| c.get("/1", false).1).collect();
    assert_eq!(firsts, "abc");
    // Closing b's connection makes b the least loaded.
    drop(open.remove(1));
    std::thread::sleep(std::time::Duration::from_millis(200));
    let mut next = Conn::open(lb.addr);
    assert_eq!(next.get("/1", false).1, "b");
    // Now all have one: ties go to list order.
    assert_eq!(who_answers(lb.addr, "/1"), "a");
}

#[test]
fn least_response_time_avoids_the_slow_backend() {
    let backends = start_backends(&[&["--delay", "300"], &[], &[]]);
    let lb = balancer_of(&backends, "least-response-time", "http");
    let picks = sequence(&lb, 9);
    // a is tried first (no sample yet), answers slowly, and is never chosen again
    // while the fast backends' averages stay far below its own.
    assert_eq!(&picks[..1], "a", "{picks}");
    assert!(!picks[1..].contains('a'), "{picks}");
    assert!(picks.contains('b') && picks.contains('c'), "{picks}");
}

#[test]
fn weighted_round_robin_gives_each_backend_its_weight_interleaved() {
    let backends = start_backends(&[&[], &[]]);
    let specs = [
        format!("{},name=a,weight=3", backends[0].addr),
        format!("{},name=b", backends[1].addr),
    ];
    let lb = balancer(&specs, &["--strategy", "weighted-round-robin"]);
    // Smooth weighted round-robin spreads a's three turns around b's one.
    assert_eq!(sequence(&lb, 8), "aabaaaba");
}

#[test]
fn consistent_hash_on_the_uri_sends_the_same_path_to_the_same_backend() {
    let backends = start_backends(&[&[], &[], &[]]);
    let specs: Vec<String> = backends.iter().map(|b| b.addr.to_string()).collect();
    let lb = balancer(
        &specs,
        &["--strategy", "consistent-hash", "--hash-on", "uri"],
    );
    let mut seen = std::collections::BTreeSet::new();
    for digits in 1..=30 {
        let path = format!("/{digits}");
        let first = who_answers(lb.addr, &path);
        for _ in 0..2 {
            assert_eq!(who_answers(lb.addr, &path), first, "{path}");
        }
        seen.insert(first);
    }
    assert!(
        seen.len() >= 2,
        "30 paths spread over the backends: {seen:?}"
    );
}

#[test]
fn randomised_and_reported_load_strategies_answer_every_request_over_real_backends() {
    let backends = start_backends(&[&[], &[], &[]]);
    let specs: Vec<String> = backends.iter().map(|b| b.addr.to_string()).collect();
    for strategy in ["power-of-two", "peak-ewma", "random", "least-load"] {
        let lb = balancer(&specs, &["--strategy", strategy]);
        let picks = sequence(&lb, 12);
        assert_eq!(picks.len(), 12, "{strategy}");
    }
}
