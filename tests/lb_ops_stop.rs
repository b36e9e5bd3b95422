//! SIGTERM as an operator meets it: the balancer refuses new connections,
//! finishes the request (HTTP mode) or connection (TCP mode) in flight,
//! then exits 0. The real binary on loopback in front of a pi-backend.

#[path = "support/balancer.rs"]
mod balancer;
#[path = "support/operations.rs"]
mod operations;
#[path = "support/pi.rs"]
mod pi;
mod support;

use std::net::TcpStream;
use std::thread;

use balancer::balancer_with_admin;
use operations::{SETTLE, SLOW_PATH, spec, try_get, wait_for, wait_for_active};
use pi::start_backends;
use support::{IO_TIMEOUT, SIGTERM};

fn sigterm_lets_the_slow_request_finish(mode: &str) {
    let backends = start_backends(&[&[]]);
    let (mut lb, admin_addr) =
        balancer_with_admin(&[spec(&backends[0], "a", "")], &["--mode", mode]);
    let addr = lb.addr;
    let slow = thread::spawn(move || try_get(addr, SLOW_PATH));
    wait_for_active(admin_addr, "a");
    lb.signal(SIGTERM);
    wait_for("new connections to be refused", SETTLE, || {
        TcpStream::connect_timeout(&addr, IO_TIMEOUT).is_err()
    });
    assert!(!slow.is_finished(), "the slow request is still in flight");
    assert_eq!(slow.join().unwrap(), Ok((200, "a".to_string())));
    assert_eq!(lb.wait_exit(SETTLE), Some(0));
}

#[test]
fn http_mode_sigterm_finishes_the_request_in_flight_refuses_new_ones_and_exits_zero() {
    sigterm_lets_the_slow_request_finish("http");
}

#[test]
fn tcp_mode_sigterm_finishes_the_connection_in_flight_refuses_new_ones_and_exits_zero() {
    sigterm_lets_the_slow_request_finish("tcp");
}
