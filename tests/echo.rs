//! The echo servers over real sockets: each model's behaviour, the client
//! command, bad and vanishing clients, a thousand clients on the evented
//! model, graceful stops and the load generator.

#[path = "support/echo_models.rs"]
mod echo_models;
mod support;

use std::io::Write;
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use echo_models::{LineClient, echo_server};
use support::{SIGTERM, distloop_bin};

const EXIT_WAIT: Duration = Duration::from_secs(15);
/// Long enough for a server that wrongly served a waiting client to answer.
const QUIET_WAIT: Duration = Duration::from_millis(300);

#[test]
fn simple_model_echoes_one_message_and_exits() {
    let mut server = echo_server("simple", &[]);
    let mut client = LineClient::connect(server.addr);
    client.send(b"hello\nsecond line\n");
    assert_eq!(client.read_line(), "hello\n");
    assert_eq!(
        client.read_to_close(),
        "",
        "only the first message is echoed"
    );
    assert_eq!(server.wait_exit(EXIT_WAIT), Some(0));
}

#[test]
fn client_command_sends_one_message_to_the_simple_model() {
    let mut server = echo_server("simple", &[]);
    let out = Command::new(distloop_bin())
        .args(["echo", "client", "--server", &server.addr.to_string()])
        .args(["--message", "olá mundo"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "olá mundo\n");
    assert_eq!(server.wait_exit(EXIT_WAIT), Some(0));
}

#[test]
fn client_command_sends_stdin_lines_and_stops_at_fim() {
    let server = echo_server("sequential", &[]);
    let mut child = Command::new(distloop_bin())
        .args(["echo", "client", "--server", &server.addr.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"one\ntwo\nfim\nnot sent\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "one\ntwo\nfim\n");
    // The session ended, so the sequential server takes the next client.
    let mut next = LineClient::connect(server.addr);
    assert_eq!(next.round_trip("next"), "next\n");
}

#[test]
fn client_command_reports_a_refused_connection() {
    let unused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = unused.local_addr().unwrap();
    drop(unused);
    let out = Command::new(distloop_bin())
        .args([
            "echo",
            "client",
            "--server",
            &addr.to_string(),
            "--message",
            "x",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot connect"), "{stderr}");
}

#[test]
fn sequential_model_makes_a_second_client_wait_until_the_first_sends_fim() {
    let server = echo_server("sequential", &[]);
    let mut first = LineClient::connect(server.addr);
    assert_eq!(first.round_trip("first"), "first\n");
    let mut second = LineClient::connect(server.addr);
    second.send(b"second\n");
    assert!(
        second.nothing_within(QUIET_WAIT),
        "served while the first is"
    );
    assert_eq!(first.round_trip("still first"), "still first\n");
    assert_eq!(first.round_trip("fim"), "fim\n");
    assert_eq!(first.read_to_close(), "");
    assert_eq!(second.read_line(), "second\n");
}

#[test]
fn threaded_and_evented_models_serve_two_clients_at_once() {
    for model in ["threaded", "evented"] {
        let server = echo_server(model, &[]);
        let mut first = LineClient::connect(server.addr);
        let mut second = LineClient::connect(server.addr);
        assert_eq!(first.round_trip("a"), "a\n", "{model}");
        assert_eq!(second.round_trip("b"), "b\n", "{model}");
        assert_eq!(first.round_trip("c"), "c\n", "{model}");
        assert_eq!(second.round_trip("fim"), "fim\n", "{model}");
        assert_eq!(second.read_to_close(), "", "{model}");
        assert_eq!(
            first.round_trip("d"),
            "d\n",
            "{model}: fim ends one session only"
        );
    }
}

#[test]
fn evented_model_serves_a_thousand_concurrent_clients() {
    const CLIENTS: usize = 1000;
    // Each client is a socket here and one in the server (which inherits
    // this limit and raises its own too): a soft limit of 1024 is too low.
    let limit = distloop::apps::echo::raise_open_files_limit().expect("read RLIMIT_NOFILE");
    assert!(
        limit >= CLIENTS as u64 + 100,
        "open files limit {limit} is below {} even after raising the soft limit \
         to the hard one: raise the hard limit (ulimit -Hn)",
        CLIENTS + 100
    );
    let server = echo_server("evented", &[]);
    let mut clients: Vec<LineClient> = (0..CLIENTS)
        .map(|_| LineClient::connect(server.addr))
        .collect();
    for (i, client) in clients.iter_mut().enumerate() {
        client.send(format!("client {i}\n").as_bytes());
    }
    for (i, client) in clients.iter_mut().enumerate() {
        assert_eq!(client.read_line(), format!("client {i}\n"));
    }
    // Every session is still open; each now ends its own.
    for client in clients.iter_mut() {
        client.send(b"fim\n");
    }
    for client in clients.iter_mut() {
        assert_eq!(client.read_line(), "fim\n");
        assert_eq!(client.read_to_close(), "");
    }
}

#[test]
fn a_client_that_vanishes_mid_line_does_not_stop_the_server() {
    for model in ["sequential", "threaded", "evented"] {
        let server = echo_server(model, &[]);
        {
            let mut gone = TcpStream::connect(server.addr).unwrap();
            gone.write_all(b"half a li").unwrap();
        }
        {
            // And one that resets the connection instead of closing it.
            let reset = socket2::Socket::from(TcpStream::connect(server.addr).unwrap());
            reset.set_linger(Some(Duration::ZERO)).unwrap();
            (&reset).write_all(b"another half").unwrap();
        }
        let mut next = LineClient::connect(server.addr);
        assert_eq!(next.round_trip("still here"), "still here\n", "{model}");
    }
}

#[test]
fn a_client_that_never_reads_its_echoes_does_not_hold_up_the_others() {
    for model in ["threaded", "evented"] {
        let server = echo_server(model, &[]);
        let mut flooder = TcpStream::connect(server.addr).unwrap();
        flooder.set_nonblocking(true).unwrap();
        let mut line = vec![b'x'; 63];
        line.push(b'\n');
        let mut written = 0usize;
        // Write until both directions' socket buffers are full: the server
        // has stopped reading this client because it does not read.
        while written < 256 * 1024 * 1024 {
            match flooder.write(&line) {
                Ok(n) => written += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("{model}: {e}"),
            }
        }
        assert!(
            written < 256 * 1024 * 1024,
            "{model}: the server never pushed back"
        );
        let mut other = LineClient::connect(server.addr);
        assert_eq!(
            other.round_trip("still served"),
            "still served\n",
            "{model}"
        );
    }
}

#[test]
fn a_line_over_the_limit_gets_an_error_and_a_close_while_others_are_served() {
    for model in ["threaded", "evented"] {
        let server = echo_server(model, &["--max-line-bytes", "16"]);
        let mut other = LineClient::connect(server.addr);
        let mut bad = LineClient::connect(server.addr);
        bad.send(b"0123456789abcdefghij\n");
        assert_eq!(
            bad.read_line(),
            "error: line longer than 16 bytes\n",
            "{model}"
        );
        assert_eq!(bad.read_to_close(), "", "{model}");
        assert_eq!(other.round_trip("fine"), "fine\n", "{model}");
    }
}

#[test]
fn raw_framing_echoes_bytes_as_they_come_and_ignores_fim() {
    for model in ["threaded", "evented"] {
        let server = echo_server(model, &["--raw"]);
        let mut client = LineClient::connect(server.addr);
        client.send(b"fim\n");
        assert_eq!(client.read_line(), "fim\n", "{model}");
        assert_eq!(client.round_trip("after fim"), "after fim\n", "{model}");
    }
}

#[test]
fn sigterm_stops_each_model_with_exit_zero_while_a_client_is_connected() {
    for model in ["simple", "sequential", "threaded", "evented"] {
        let mut server = echo_server(model, &[]);
        let mut client = LineClient::connect(server.addr);
        if model != "simple" {
            assert_eq!(client.round_trip("before"), "before\n", "{model}");
        }
        server.signal(SIGTERM);
        assert_eq!(server.wait_exit(EXIT_WAIT), Some(0), "{model}");
        assert_eq!(client.read_to_close(), "", "{model}");
    }
}

#[test]
fn bad_flags_exit_with_code_2() {
    for args in [
        &["echo", "server", "--model", "forked"][..],
        &[
            "echo", "server", "--model", "evented", "--listen", "nowhere",
        ],
        &["echo", "bench", "--clients", "0"],
    ] {
        let out = Command::new(distloop_bin()).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}

#[test]
fn bench_counts_round_trips_and_checks_every_echo() {
    let server = echo_server("evented", &[]);
    let out = Command::new(distloop_bin())
        .args(["echo", "bench", "--server", &server.addr.to_string()])
        .args(["--clients", "4", "--warmup", "0s", "--duration", "300ms"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = String::from_utf8_lossy(&out.stdout);
    let field = |name: &str| -> f64 {
        let prefix = format!("{name}=");
        report
            .split_whitespace()
            .find_map(|w| w.strip_prefix(prefix.as_str()))
            .unwrap_or_else(|| panic!("no {name} in {report}"))
            .parse()
            .unwrap()
    };
    assert_eq!(field("connected"), 4.0);
    assert_eq!(field("errors"), 0.0);
    assert!(field("round_trips") > 0.0, "{report}");
}
