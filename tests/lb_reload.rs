//! SIGHUP with a changed config file: every setting the README says a
//! reload applies reaches new work at once, in the running process, for new
//! connections and for clients already connected. The real binary on
//! loopback; each reload waits until the worker runs the new file.

#[path = "support/http_backends.rs"]
#[allow(dead_code)]
mod http_backends;
#[path = "support/reload.rs"]
mod reload;
mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use http_backends::{Behaviour, HttpBackend};
use reload::{
    Client, RELOAD_SETTLE, ReloadableLb, head_of, post_chunked, post_with_length, status_of,
};
use support::{IO_TIMEOUT, SIGTERM, dead_addr};

/// A timeout short enough to reach within a test, long enough to be set apart.
const SHORT: &str = "300ms";

#[test]
fn max_head_bytes_reloads_both_ways_for_new_and_kept_alive_clients() {
    let echo = HttpBackend::start(Behaviour::Echo);
    // A small buffer: the read buffer of a connected client must grow to
    // take the larger heads a reload allows.
    let small = "max_head_bytes = 2048\nbuffer_bytes = 1024";
    let mut lb = ReloadableLb::start("http", small, &[("e", echo.addr)], &[]);
    let mut kept = Client::open(lb.addr());
    assert_eq!(kept.request(&head_of(1500)).0, 200);
    assert_eq!(status_of(lb.addr(), &head_of(4000)), 431);

    lb.reload("max_head_bytes = 8192\nbuffer_bytes = 1024");
    assert_eq!(status_of(lb.addr(), &head_of(4000)), 200, "a new client");
    assert_eq!(kept.request(&head_of(4000)).0, 200, "a kept-alive client");
    assert_eq!(status_of(lb.addr(), &head_of(8000)), 200);

    lb.reload("max_head_bytes = 1024\nbuffer_bytes = 1024");
    assert_eq!(status_of(lb.addr(), &head_of(1500)), 431, "a new client");
    assert_eq!(kept.request(&head_of(1500)).0, 431, "a kept-alive client");
    assert_eq!(status_of(lb.addr(), &head_of(1000)), 200);
}

#[test]
fn max_body_bytes_reloads_for_content_length_and_chunked_bodies() {
    let echo = HttpBackend::start(Behaviour::Echo);
    let mut lb = ReloadableLb::start("http", "max_body_bytes = 100", &[("e", echo.addr)], &[]);
    let mut kept = Client::open(lb.addr());
    assert_eq!(kept.request(&post_with_length(50)).0, 200);
    assert_eq!(status_of(lb.addr(), &post_with_length(500)), 413);
    assert_eq!(status_of(lb.addr(), &post_chunked(500)), 413);

    lb.reload("max_body_bytes = 1000");
    let (status, body) = Client::open(lb.addr()).request(&post_with_length(500));
    assert_eq!(
        (status, body.len()),
        (200, 500),
        "Content-Length, new client"
    );
    assert_eq!(kept.request(&post_with_length(500)).0, 200, "kept-alive");
    assert_eq!(status_of(lb.addr(), &post_chunked(500)), 200, "chunked");
    assert_eq!(status_of(lb.addr(), &post_with_length(2000)), 413);
    assert_eq!(status_of(lb.addr(), &post_chunked(2000)), 413);

    lb.reload("");
    assert_eq!(
        status_of(lb.addr(), &post_with_length(2000)),
        200,
        "no limit"
    );

    lb.reload("max_body_bytes = 100");
    assert_eq!(status_of(lb.addr(), &post_with_length(500)), 413);
    assert_eq!(status_of(lb.addr(), &post_chunked(500)), 413);
}

/// The connection limit, lowered and raised, applies at once: a lowered one
/// keeps the next client in the backlog, a raised one lets the clients
/// already waiting there in without waiting for another connection.
fn max_connections_reloads_at_once(mode: &str) {
    let echo = HttpBackend::start(Behaviour::Echo);
    let get = b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n";
    let mut lb = ReloadableLb::start(mode, "max_connections = 2", &[("e", echo.addr)], &[]);
    let mut first = Client::open(lb.addr());
    assert_eq!(first.request(get).0, 200);

    lb.reload("max_connections = 1");
    let mut second = Client::open(lb.addr());
    second.send(get);
    assert!(second.is_kept_waiting(), "over the lowered limit");

    lb.reload("max_connections = 2");
    assert_eq!(second.answer().0, 200, "let in from the backlog at once");
    assert_eq!(
        first.request(get).0,
        200,
        "the first client is still served"
    );

    let mut third = Client::open(lb.addr());
    third.send(get);
    assert!(third.is_kept_waiting(), "two are open");
    drop(first);
    assert_eq!(third.answer().0, 200, "let in when a connection closed");
    assert_eq!(second.request(get).0, 200);
}

#[test]
fn http_mode_max_connections_reloads_at_once() {
    max_connections_reloads_at_once("http");
}

#[test]
fn tcp_mode_max_connections_reloads_at_once() {
    max_connections_reloads_at_once("tcp");
}

#[test]
fn head_response_and_idle_timeouts_reload() {
    let silent = HttpBackend::start(Behaviour::Silent);
    let long = "head_timeout = \"60s\"\nresponse_timeout = \"60s\"\nidle_timeout = \"60s\"";
    let mut lb = ReloadableLb::start("http", long, &[("s", silent.addr)], &[]);
    lb.reload(&format!(
        "head_timeout = \"{SHORT}\"\nresponse_timeout = \"{SHORT}\"\nidle_timeout = \"{SHORT}\""
    ));

    let mut slow_head = Client::open(lb.addr());
    slow_head.send(b"GET / HTTP/1.1\r\nHost: t\r\n");
    let (status, body) = slow_head.answer();
    assert_eq!(status, 408, "{body}");
    assert!(body.contains(SHORT), "the reloaded head timeout: {body}");

    let (status, body) = Client::open(lb.addr()).request(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(status, 504, "{body}");
    assert!(
        body.contains(SHORT),
        "the reloaded response timeout: {body}"
    );

    let mut idle = Client::open(lb.addr());
    assert!(idle.is_closed(), "closed after the reloaded idle timeout");
}

#[test]
fn tcp_mode_idle_and_connect_timeouts_reload() {
    let echo = HttpBackend::start(Behaviour::Echo);
    // A backend whose accept queue is full: its connects never complete.
    let blackhole =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("a socket");
    blackhole
        .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    blackhole.listen(0).unwrap();
    let blackhole_addr = blackhole.local_addr().unwrap().as_socket().unwrap();
    let _queued = TcpStream::connect(blackhole_addr).expect("fills the accept queue");

    let long = "strategy = \"n-to-1\"\nconnect_timeout = \"60s\"\nidle_timeout = \"60s\"";
    let backends = [("hole", blackhole_addr), ("e", echo.addr)];
    let mut lb = ReloadableLb::start("tcp", long, &backends, &[]);
    // The idle timeout stays longer than the connect timeout, which the
    // client's session spends waiting.
    lb.reload(&format!(
        "strategy = \"n-to-1\"\nconnect_timeout = \"{SHORT}\"\nidle_timeout = \"2s\""
    ));
    let mut client = Client::open(lb.addr());
    let (status, _) = client.request(b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(
        status, 200,
        "the next backend, after the reloaded connect timeout"
    );
    assert!(client.is_closed(), "closed after the reloaded idle timeout");
}

/// SIGTERM with work in flight that never ends: the reloaded drain timeout
/// bounds the wait.
fn drain_timeout_reloads(mode: &str) {
    let silent = HttpBackend::start(Behaviour::Silent);
    let long = "drain_timeout = \"60s\"\nresponse_timeout = \"60s\"\nidle_timeout = \"60s\"";
    let mut lb = ReloadableLb::start(mode, long, &[("s", silent.addr)], &[]);
    lb.reload(&format!(
        "drain_timeout = \"{SHORT}\"\nresponse_timeout = \"60s\"\nidle_timeout = \"60s\""
    ));
    let mut client = Client::open(lb.addr());
    client.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    let deadline = Instant::now() + RELOAD_SETTLE;
    while lb.stats()["backends"][0]["active"].as_u64() != Some(1) {
        assert!(
            Instant::now() < deadline,
            "the request never reached the backend"
        );
        thread::sleep(Duration::from_millis(30));
    }
    lb.server.signal(SIGTERM);
    assert_eq!(
        lb.server.wait_exit(IO_TIMEOUT),
        Some(0),
        "stopped after the reloaded drain timeout"
    );
}

#[test]
fn http_mode_drain_timeout_reloads() {
    drain_timeout_reloads("http");
}

#[test]
fn tcp_mode_drain_timeout_reloads() {
    drain_timeout_reloads("tcp");
}

#[test]
fn backend_pool_settings_reload() {
    let echo = HttpBackend::start(Behaviour::Echo);
    let get = b"GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    let mut lb = ReloadableLb::start("http", "", &[("e", echo.addr)], &[]);
    for _ in 0..3 {
        assert_eq!(status_of(lb.addr(), get), 200);
    }
    let opened = echo.accepted.load(Ordering::SeqCst);
    assert_eq!(opened, 1, "one parked backend connection served all three");

    lb.reload("max_idle_per_backend = 0");
    for _ in 0..3 {
        assert_eq!(status_of(lb.addr(), get), 200);
    }
    assert_eq!(
        echo.accepted.load(Ordering::SeqCst) - opened,
        3,
        "nothing is parked: a new backend connection per request"
    );

    lb.reload(&format!("pool_idle_timeout = \"{SHORT}\""));
    assert_eq!(status_of(lb.addr(), get), 200);
    let parked_once = echo.accepted.load(Ordering::SeqCst);
    // A parked connection older than the reloaded timeout is closed, so a
    // request after a while needs a new one.
    // (Parked connections are swept once a second; the wait spans a sweep
    // that finds this one older than the timeout.)
    let deadline = Instant::now() + RELOAD_SETTLE;
    while echo.accepted.load(Ordering::SeqCst) == parked_once {
        assert!(Instant::now() < deadline, "the parked connection was kept");
        thread::sleep(Duration::from_millis(1500));
        assert_eq!(status_of(lb.addr(), get), 200);
    }
}

#[test]
fn strategy_hash_on_and_weights_reload() {
    let backends: Vec<HttpBackend> = (0..3)
        .map(|_| HttpBackend::start(Behaviour::Echo))
        .collect();
    let named = [
        ("a", backends[0].addr),
        ("b", backends[1].addr),
        ("c", backends[2].addr),
    ];
    let mut lb = ReloadableLb::start("http", "strategy = \"n-to-1\"", &named, &[]);
    let mut client = Client::open(lb.addr());
    // Twelve requests for different targets; how many each backend got.
    let mut seen = vec![0; backends.len()];
    let mut spread = |client: &mut Client, count: usize| {
        for i in 0..count {
            let request = format!("GET /item/{i} HTTP/1.1\r\nHost: t\r\n\r\n");
            assert_eq!(client.request(request.as_bytes()).0, 200);
        }
        let now: Vec<usize> = backends.iter().map(|b| b.heads().len()).collect();
        let new: Vec<usize> = now.iter().zip(&seen).map(|(n, s)| n - s).collect();
        seen = now;
        new
    };
    assert_eq!(spread(&mut client, 12), [12, 0, 0], "n-to-1");

    lb.reload("strategy = \"round-robin\"");
    assert_eq!(spread(&mut client, 12), [4, 4, 4], "round-robin");

    lb.reload("strategy = \"consistent-hash\"");
    let by_ip = spread(&mut client, 12);
    assert_eq!(
        by_ip.iter().filter(|&&n| n > 0).collect::<Vec<_>>(),
        [&12],
        "one client address sticks to one backend: {by_ip:?}"
    );

    lb.reload("strategy = \"consistent-hash\"\nhash_on = \"uri\"");
    let by_uri = spread(&mut client, 12);
    assert!(
        by_uri.iter().filter(|&&n| n > 0).count() > 1,
        "twelve targets spread over the backends: {by_uri:?}"
    );

    // The fifth file: the first backend's weight is 5 (see support/reload.rs).
    lb.reload("strategy = \"weighted-round-robin\"");
    assert_eq!(
        spread(&mut client, 14),
        [10, 2, 2],
        "weights 5, 1, 1 over two rounds"
    );
}

/// A backend whose every answer has a head of about `head_bytes`.
fn backend_with_large_response_heads(head_bytes: usize) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
                let mut writer = stream.try_clone().unwrap();
                let mut reader = BufReader::new(stream);
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nX-Large: {}\r\nContent-Length: 2\r\n\r\nok",
                    "x".repeat(head_bytes)
                );
                let mut line = String::new();
                // One answer per request head (requests carry no body).
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                    if line == "\r\n" && writer.write_all(answer.as_bytes()).is_err() {
                        return;
                    }
                    line.clear();
                }
            });
        }
    });
    addr
}

#[test]
fn buffer_bytes_reloads() {
    // A response head must fit in the buffer of the backend connection.
    let backend = backend_with_large_response_heads(3000);
    let get = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n";
    let mut lb = ReloadableLb::start("http", "buffer_bytes = 1024", &[("l", backend)], &[]);
    assert_eq!(status_of(lb.addr(), get), 502, "a head over the buffer");
    lb.reload("buffer_bytes = 8192");
    assert_eq!(
        status_of(lb.addr(), get),
        200,
        "the reloaded buffer holds it"
    );
    lb.reload("buffer_bytes = 1024");
    assert_eq!(status_of(lb.addr(), get), 502);
}

/// The `/metrics` value of `family` for backend `name`, once it is not 0.
fn nonzero_metric(lb: &ReloadableLb, family: &str, name: &str) -> f64 {
    let prefix = format!("distloop_{family}{{backend=\"{name}\",");
    let deadline = Instant::now() + RELOAD_SETTLE;
    loop {
        let mut stream = TcpStream::connect(lb.admin).unwrap();
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).unwrap();
        let value = text
            .lines()
            .find(|line| line.starts_with(&prefix))
            .and_then(|line| line.rsplit_once(' '))
            .and_then(|(_, value)| value.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no {family} for {name} in {text}"));
        if value != 0.0 {
            return value;
        }
        assert!(Instant::now() < deadline, "{family} of {name} stayed 0");
        thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn backoff_reloads() {
    let echo = HttpBackend::start(Behaviour::Echo);
    let refusing = dead_addr();
    let backends = [("e", echo.addr), ("refusing", refusing)];
    let mut lb = ReloadableLb::start("http", "strategy = \"round-robin\"", &backends, &[]);
    lb.reload("strategy = \"round-robin\"\nbackoff = \"20s\"");
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    // Round-robin tries the refusing backend within two requests.
    for _ in 0..2 {
        let get = b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
        assert_eq!(status_of(lb.addr(), get), 200);
    }
    let until = nonzero_metric(&lb, "backend_backoff_until_timestamp_seconds", "refusing");
    // The default first backoff is a second; the reloaded one 20 seconds.
    assert!(
        until - before > 10.0,
        "backoff until {until}, failed after {before}"
    );
}
