//! The real `pi-backend` binary, spoken to over loopback with std sockets
//! (and curl, when it is installed).

mod support;

use std::io::{ErrorKind, Read};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use support::Backend;

const TEXT: &str = "Accept: text/plain\r\n";

#[test]
fn one_connection_serves_several_requests_in_both_forms() {
    let backend = Backend::start(&["--name", "alpha"]);
    let mut client = backend.connect();

    let text = client.get("/5", TEXT);
    assert_eq!(text.status, 200);
    assert_eq!(text.text(), "3.14159");
    assert!(
        text.header("Content-Type")
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(text.header("X-Backend"), Some("alpha"));
    assert_eq!(text.header("Connection"), Some("keep-alive"));

    let html = client.get("/20", "");
    assert_eq!(html.status, 200);
    assert!(
        html.header("Content-Type")
            .unwrap()
            .starts_with("text/html")
    );
    let page = html.text();
    assert!(page.contains("<title>Pi</title>"), "{page}");
    assert!(page.contains("Computing Pi with precision 20"), "{page}");
    assert!(page.contains("3.14159265358979323846"), "{page}");

    let zero = client.get("/0", TEXT);
    assert_eq!(zero.text(), "3");

    let health = client.get("/health", "");
    assert_eq!((health.status, health.text()), (200, "ok".to_string()));
    assert_eq!(health.header("X-Backend"), Some("alpha"));
}

#[test]
fn a_thousand_digits_match_the_library() {
    let backend = Backend::start(&[]);
    let reply = backend.connect().get("/1000", TEXT);
    assert_eq!(reply.text(), pi_backend::pi_digits(1000));
    assert_eq!(reply.body.len(), 1002);
}

#[test]
fn the_default_name_is_the_bound_address() {
    let backend = Backend::start(&[]);
    let reply = backend.connect().get("/health", "");
    assert_eq!(
        reply.header("X-Backend"),
        Some(backend.addr.to_string().as_str())
    );
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let backend = Backend::start(&[]);
    let mut client = backend.connect();
    client.send(
        b"GET /3 HTTP/1.1\r\nAccept: text/plain\r\n\r\n\
          GET /health HTTP/1.1\r\n\r\n\
          HEAD /7 HTTP/1.1\r\nAccept: text/plain\r\n\r\n\
          GET /1 HTTP/1.1\r\nAccept: text/plain\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(client.read_reply(false).text(), "3.141");
    assert_eq!(client.read_reply(false).text(), "ok");
    let head = client.read_reply(true);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("Content-Length"), Some("9"));
    let last = client.read_reply(false);
    assert_eq!(last.text(), "3.1");
    assert_eq!(last.header("Connection"), Some("close"));
    assert!(client.is_closed_by_server());
}

#[test]
fn http_1_0_closes_unless_it_asks_for_keep_alive() {
    let backend = Backend::start(&[]);
    let mut client = backend.connect();
    client.send(b"GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(
        client.read_reply(false).header("Connection"),
        Some("keep-alive")
    );
    client.send(b"GET /health HTTP/1.0\r\n\r\n");
    assert_eq!(client.read_reply(false).header("Connection"), Some("close"));
    assert!(client.is_closed_by_server());
}

#[test]
fn bad_numbers_unknown_paths_and_other_methods_are_refused() {
    let backend = Backend::start(&[]);
    let mut client = backend.connect();
    for path in ["/abc", "/-1", "/1000001", "/leibniz/100001", "/leibniz/x"] {
        let reply = client.get(path, "");
        assert_eq!(reply.status, 400, "{path}");
        let reason = reply.text();
        assert_eq!(reason.trim_end().lines().count(), 1, "{reason:?}");
    }
    for path in ["/", "/nothing/here", "/health/more"] {
        assert_eq!(client.get(path, "").status, 404, "{path}");
    }
    client.send(b"DELETE /5 HTTP/1.1\r\n\r\n");
    let reply = client.read_reply(false);
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("Allow"), Some("GET, HEAD"));
    // A body sent with a refused method is read past, so the connection
    // stays usable.
    client.send(b"POST /5 HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello");
    assert_eq!(client.read_reply(false).status, 405);
    assert_eq!(client.get("/health", "").status, 200);
}

#[test]
fn broken_or_huge_heads_get_an_error_and_a_closed_connection() {
    let backend = Backend::start(&[]);

    let mut client = backend.connect();
    client.send(b"this is not http\r\n\r\n");
    assert_eq!(client.read_reply(false).status, 400);
    assert!(client.is_closed_by_server());

    let mut client = backend.connect();
    let mut huge = b"GET /5 HTTP/1.1\r\nX-Filler: ".to_vec();
    huge.resize(64 * 1024, b'x');
    client.send(&huge);
    let reply = client.read_reply(false);
    assert_eq!(reply.status, 431);
    assert_eq!(reply.header("Connection"), Some("close"));

    let mut client = backend.connect();
    client.send(b"POST /5 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
    assert_eq!(client.read_reply(false).status, 411);
    assert!(client.is_closed_by_server());
}

#[test]
fn leibniz_answers_the_float_of_its_terms() {
    let backend = Backend::start(&[]);
    let reply = backend.connect().get("/leibniz/3", "");
    assert_eq!(reply.status, 200);
    let value: f64 = reply.text().parse().expect("a float");
    assert!((value - 4.0 * (1.0 - 1.0 / 3.0 + 1.0 / 5.0)).abs() < 1e-12);
}

#[test]
fn a_slow_request_does_not_hold_up_other_connections() {
    let backend = Backend::start(&["--threads", "1"]);
    let mut slow = backend.connect();
    // About 20 seconds of sleeping terms.
    slow.send(b"GET /leibniz/20000 HTTP/1.1\r\n\r\n");
    let mut quick = backend.connect();
    assert_eq!(quick.get("/health", "").status, 200);
    assert_eq!(quick.get("/100", TEXT).status, 200);
    slow.stream().set_nonblocking(true).unwrap();
    let mut byte = [0u8; 1];
    let pending = slow.stream().read(&mut byte);
    assert_eq!(
        pending.map_err(|e| e.kind()).unwrap_err(),
        ErrorKind::WouldBlock,
        "the slow answer came first"
    );
}

#[test]
fn delay_holds_every_answer_back_at_least_that_long() {
    let backend = Backend::start(&["--delay", "300"]);
    let mut client = backend.connect();
    let started = Instant::now();
    assert_eq!(client.get("/health", "").status, 200);
    // A lower bound only: sleeping guarantees it, however loaded the machine.
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[test]
fn sigterm_finishes_the_request_in_flight_and_exits_zero() {
    let mut backend = Backend::start(&[]);
    let mut busy = backend.connect();
    assert_eq!(busy.get("/health", "").status, 200);
    let mut idle = backend.connect();
    assert_eq!(idle.get("/health", "").status, 200);
    busy.send(b"GET /leibniz/400 HTTP/1.1\r\n\r\n");
    thread::sleep(Duration::from_millis(50));
    backend.terminate();
    let reply = busy.read_reply(false);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("Connection"), Some("close"));
    assert!(idle.is_closed_by_server());
    let status = backend.wait_for_exit(Duration::from_secs(15));
    assert_eq!(status.code(), Some(0));
}

#[test]
fn bad_command_lines_exit_with_code_two() {
    for args in [
        &["--listen", "nonsense"][..],
        &["--listen", "127.0.0.1:0", "--slowdown", "0.5"],
        &["--listen", "127.0.0.1:0", "--threads", "0"],
        &["--listen", "127.0.0.1:0", "--delay", "-4"],
        &[],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_pi-backend"))
            .args(args)
            .output()
            .expect("pi-backend runs");
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(output.stdout.is_empty());
    }
}

#[test]
fn curl_reuses_one_connection_for_several_requests() {
    if Command::new("curl").arg("--version").output().is_err() {
        eprintln!("curl is not installed: skipping");
        return;
    }
    let backend = Backend::start(&["--name", "curl-test"]);
    let base = format!("http://{}", backend.addr);
    let output = Command::new("curl")
        .args(["-sS", "--max-time", "20", "-H", "Accept: text/plain", "-v"])
        .arg(format!("{base}/10"))
        .arg(format!("{base}/health"))
        .output()
        .expect("curl runs");
    assert!(output.status.success());
    assert_eq!(String::from_utf8_lossy(&output.stdout), "3.1415926535ok");
    let trace = String::from_utf8_lossy(&output.stderr);
    assert!(trace.contains("X-Backend: curl-test"), "{trace}");
    assert!(
        trace.to_ascii_lowercase().contains("re-using existing")
            || trace.to_ascii_lowercase().contains("reusing existing"),
        "curl opened a second connection: {trace}"
    );

    let head = Command::new("curl")
        .args(["-sS", "--max-time", "20", "-I"])
        .arg(format!("{base}/3"))
        .output()
        .expect("curl runs");
    let head = String::from_utf8_lossy(&head.stdout);
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(head.contains("Content-Type: text/html"), "{head}");
}
