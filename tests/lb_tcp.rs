//! The balancer in TCP mode, as a user meets it: the real binary on loopback.

#[path = "support/balancer.rs"]
mod balancer;
#[path = "support/echo.rs"]
mod echo;
mod support;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::thread;
use std::time::Duration;

use balancer::{balancer, tcp_balancer};
use echo::EchoServer;
use support::{SIGTERM, Server, connect, dead_addr, distloop_bin};

/// Deterministic bytes that reveal any loss or reordering.
fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn ten_mebibytes_each_way_arrive_intact_and_in_order() {
    let echo = EchoServer::start();
    let lb = tcp_balancer(&[echo.addr], &[]);
    let data = pattern(10 * 1024 * 1024, 42);
    let mut stream = connect(lb.addr);
    let mut writer = stream.try_clone().unwrap();
    let sent = data.clone();
    let sender = thread::spawn(move || {
        for chunk in sent.chunks(100_003) {
            writer.write_all(chunk).unwrap();
        }
        writer.shutdown(Shutdown::Write).unwrap();
    });
    let mut received = Vec::with_capacity(data.len());
    stream.read_to_end(&mut received).unwrap();
    sender.join().unwrap();
    assert_eq!(received.len(), data.len());
    assert!(received == data, "bytes were lost or reordered");
}

#[test]
fn client_half_close_reaches_the_backend_and_the_reply_still_flows_back() {
    let echo = EchoServer::start();
    let lb = tcp_balancer(&[echo.addr], &[]);
    let mut stream = connect(lb.addr);
    stream.write_all(b"last words").unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    // The echo server only answers its half close after it saw ours, so
    // reading to the end proves the close travelled through the balancer.
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).unwrap();
    assert_eq!(reply, b"last words");
}

#[test]
fn dead_backend_in_the_list_is_skipped_without_a_failed_connection() {
    let echo = EchoServer::start();
    let lb = tcp_balancer(
        &[dead_addr(), echo.addr, dead_addr()],
        &["--strategy", "round-robin"],
    );
    for i in 0..12 {
        let mut stream = connect(lb.addr);
        let msg = format!("hello {i}");
        stream.write_all(msg.as_bytes()).unwrap();
        stream.shutdown(Shutdown::Write).unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).unwrap();
        assert_eq!(reply, msg, "connection {i}");
    }
    assert_eq!(echo.accepted.load(std::sync::atomic::Ordering::SeqCst), 12);
}

#[test]
fn when_no_backend_answers_the_client_is_closed() {
    let lb = tcp_balancer(&[dead_addr(), dead_addr()], &[]);
    let mut stream = connect(lb.addr);
    let _ = stream.write_all(b"anyone?");
    let mut reply = Vec::new();
    let outcome = stream.read_to_end(&mut reply);
    assert!(outcome.is_err() || reply.is_empty(), "no bytes come back");
    // The balancer itself keeps serving.
    let echo = EchoServer::start();
    let lb2 = tcp_balancer(&[echo.addr], &[]);
    let mut ok = connect(lb2.addr);
    ok.write_all(b"x").unwrap();
    ok.shutdown(Shutdown::Write).unwrap();
    let mut got = Vec::new();
    ok.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"x");
}

#[test]
fn many_concurrent_clients_each_get_their_own_bytes_back() {
    let echo = EchoServer::start();
    let lb = tcp_balancer(&[echo.addr], &[]);
    let addr = lb.addr;
    let clients: Vec<_> = (0..32)
        .map(|i| {
            thread::spawn(move || {
                let data = pattern(200_000, i + 1);
                let mut stream = connect(addr);
                let mut writer = stream.try_clone().unwrap();
                let sent = data.clone();
                let sender = thread::spawn(move || {
                    writer.write_all(&sent).unwrap();
                    writer.shutdown(Shutdown::Write).unwrap();
                });
                let mut received = Vec::new();
                stream.read_to_end(&mut received).unwrap();
                sender.join().unwrap();
                assert!(received == data, "client {i} got other bytes");
            })
        })
        .collect();
    for client in clients {
        client.join().unwrap();
    }
}

#[test]
fn idle_connections_are_closed_after_the_idle_timeout() {
    let echo = EchoServer::start();
    let lb = tcp_balancer(&[echo.addr], &["--idle-timeout", "300ms"]);
    let mut stream = connect(lb.addr);
    stream.write_all(b"ping").unwrap();
    let mut buf = [0u8; 4];
    stream.read_exact(&mut buf).unwrap();
    let mut rest = Vec::new();
    // Without the timeout this read would block until IO_TIMEOUT and fail.
    stream.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
}

#[test]
fn sigterm_stops_the_balancer_with_exit_code_zero() {
    let echo = EchoServer::start();
    let mut lb = tcp_balancer(&[echo.addr], &[]);
    lb.signal(SIGTERM);
    assert_eq!(lb.wait_exit(Duration::from_secs(10)), Some(0));
}

#[test]
fn sigterm_lets_an_open_connection_finish_before_exiting() {
    let echo = EchoServer::start();
    let mut lb = tcp_balancer(&[echo.addr], &[]);
    let mut stream = connect(lb.addr);
    stream.write_all(b"before").unwrap();
    let mut buf = [0u8; 6];
    stream.read_exact(&mut buf).unwrap();
    lb.signal(SIGTERM);
    thread::sleep(Duration::from_millis(200));
    assert_eq!(lb.child.try_wait().unwrap(), None, "still draining");
    stream.write_all(b"after").unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"after");
    assert_eq!(lb.wait_exit(Duration::from_secs(10)), Some(0));
}

#[test]
fn bad_command_line_gets_one_line_and_exit_code_two() {
    for args in [
        vec!["lb", "--listen", "127.0.0.1:0"],
        vec!["lb", "--backend", "127.0.0.1:1", "--strategy", "fastest"],
        vec!["lb", "--backend", "nowhere"],
        vec![
            "lb",
            "--backend",
            "127.0.0.1:1",
            "--connect-timeout",
            "soon",
        ],
        vec!["lb", "--backend", "127.0.0.1:1", "--buffer-bytes", "0"],
    ] {
        let out = std::process::Command::new(distloop_bin())
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?} explains itself");
    }
}

#[test]
fn a_backend_that_never_accepts_times_out_and_the_next_one_serves() {
    let (hole, _fillers, _listener) = echo::black_hole();
    let echo = EchoServer::start();
    let lb = tcp_balancer(
        &[hole, echo.addr],
        &["--strategy", "n-to-1", "--connect-timeout", "300ms"],
    );
    for i in 0..3 {
        let mut stream = connect(lb.addr);
        let msg = format!("through {i}");
        stream.write_all(msg.as_bytes()).unwrap();
        stream.shutdown(Shutdown::Write).unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).unwrap();
        assert_eq!(reply, msg, "connection {i}");
    }
}

#[test]
fn in_http_mode_a_backend_that_never_accepts_times_out_and_the_next_one_answers() {
    let (hole, _fillers, _listener) = echo::black_hole();
    let backend = Server::start(
        support::pi_backend_bin(),
        &["--listen", "127.0.0.1:0", "--name", "b"],
    );
    let lb = balancer(
        &[hole, backend.addr],
        &["--strategy", "n-to-1", "--connect-timeout", "300ms"],
    );
    let mut stream = connect(lb.addr);
    stream
        .write_all(b"GET /5 HTTP/1.1\r\nHost: t\r\nAccept: text/plain\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.contains("X-Backend: b"), "{reply}");
    assert!(reply.ends_with("3.14159"), "{reply}");
}
