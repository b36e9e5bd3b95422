//! The HTTP proxy's state machine on bytes in memory: every path of an
//! exchange, driven the way the pump drives it, without a socket.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use super::incoming::{Action, Env, Incoming};
use super::peer::{Peer, Stream};
use super::settings::Settings;
use crate::lb::backends::Backends;
use crate::lb::{LbConfig, Mode, Strategy};
use crate::reactor::Readiness;

/// One end of an in-memory connection, as the proxy sees it.
#[derive(Debug, Default)]
struct Wire {
    /// Sent by the far end, not yet read by the proxy.
    unread: VecDeque<u8>,
    /// The far end closed its side.
    closed: bool,
    /// Written by the proxy.
    written: Vec<u8>,
    /// The proxy half-closed.
    shut: bool,
}

impl Read for Wire {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.unread.is_empty() {
            return match self.closed {
                true => Ok(0),
                false => Err(io::ErrorKind::WouldBlock.into()),
            };
        }
        let n = self.unread.read(buf)?;
        Ok(n)
    }
}

impl Write for Wire {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.written.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Stream for Wire {
    fn shutdown_write(&mut self) -> io::Result<()> {
        self.shut = true;
        Ok(())
    }
}

fn sends(peer: &mut Peer<Wire>, bytes: &[u8]) {
    peer.stream.unread.extend(bytes);
    peer.note(Readiness {
        readable: true,
        ..Readiness::default()
    });
}

fn closes(peer: &mut Peer<Wire>) {
    peer.stream.closed = true;
    peer.note(Readiness {
        readable: true,
        read_closed: true,
        ..Readiness::default()
    });
}

fn taken(peer: &mut Peer<Wire>) -> String {
    String::from_utf8(std::mem::take(&mut peer.stream.written)).unwrap()
}

/// A client connection to a proxy with two backends, the pump's part
/// played in memory: backend connections connect at once, and one released
/// for parking is lent again to the next request.
struct Proxy {
    settings: Settings,
    backends: Backends,
    now: Instant,
    incoming: Incoming,
    client: Peer<Wire>,
    backend: Option<Peer<Wire>>,
    parked: Option<Peer<Wire>>,
    /// Backend picked for each connection asked for, and whether it had to be fresh.
    connects: Vec<(usize, bool)>,
    /// Whether each backend connection released was parked.
    released: Vec<bool>,
    refuse_connects: bool,
    closed: Option<io::Error>,
}

impl Proxy {
    fn new() -> Self {
        Self::with(|_| {})
    }

    fn with(configure: impl FnOnce(&mut LbConfig)) -> Self {
        let mut config = LbConfig::new(
            "127.0.0.1:0".parse().unwrap(),
            vec![
                "127.0.0.1:9001".parse().unwrap(),
                "127.0.0.1:9002".parse().unwrap(),
            ],
            Strategy::RoundRobin,
            Mode::Http,
        );
        configure(&mut config);
        let backends = Backends::new(&config, None);
        let settings = Settings::new(config);
        let now = Instant::now();
        Self {
            incoming: Incoming::new("10.0.0.7:4000".parse().unwrap(), &settings, now),
            client: Peer::connected(Wire::default(), settings.client_buffer_bytes()),
            settings,
            backends,
            now,
            backend: None,
            parked: None,
            connects: Vec::new(),
            released: Vec::new(),
            refuse_connects: false,
            closed: None,
        }
    }

    /// Steps until the machine waits or closes the connection.
    fn run(&mut self) {
        for _ in 0..1000 {
            let mut env = Env {
                now: self.now,
                settings: &self.settings,
                backends: &mut self.backends,
            };
            let action = self
                .incoming
                .step(&mut env, &mut self.client, self.backend.as_mut());
            if !self.perform(action) {
                return;
            }
        }
        panic!("the machine never waits");
    }

    /// Does what an action asks; false when stepping should stop.
    fn perform(&mut self, action: Action) -> bool {
        let mut env = Env {
            now: self.now,
            settings: &self.settings,
            backends: &mut self.backends,
        };
        match action {
            Action::Progress => {}
            Action::Wait => return false,
            Action::Connect { pick, fresh_only } => {
                self.connects.push((pick.backend, fresh_only));
                let addr = env.backends.addr(pick.backend);
                if self.refuse_connects {
                    let refused = io::ErrorKind::ConnectionRefused.into();
                    self.incoming.connect_failed(&mut env, pick, &refused);
                } else if let Some(parked) = self.parked.take().filter(|_| !fresh_only) {
                    self.backend = Some(parked);
                    self.incoming.attach(pick, addr, true, self.now);
                } else {
                    self.backend = Some(Peer::connecting(Wire::default(), 4096));
                    self.incoming.attach(pick, addr, false, self.now);
                    assert!(self.incoming.awaiting_connect());
                    self.backend.as_mut().unwrap().writable = true;
                    self.incoming.backend_connected();
                }
            }
            Action::Release { park } => {
                self.released.push(park);
                let backend = self.backend.take();
                if park {
                    self.parked = backend;
                }
            }
            Action::Close(reason) => {
                self.closed = Some(reason);
                return false;
            }
        }
        true
    }

    /// Lets the current deadline pass.
    fn time_out(&mut self) {
        self.now = self.incoming.deadline(&self.settings) + Duration::from_millis(1);
        let mut env = Env {
            now: self.now,
            settings: &self.settings,
            backends: &mut self.backends,
        };
        let buffered = !self.client.inbuf.is_empty();
        let action = self.incoming.on_deadline(&mut env, buffered);
        if self.perform(action) {
            self.run();
        }
    }

    fn client_sends(&mut self, bytes: &str) {
        sends(&mut self.client, bytes.as_bytes());
        self.run();
    }

    fn backend_sends(&mut self, bytes: &str) {
        sends(
            self.backend.as_mut().expect("a backend connection"),
            bytes.as_bytes(),
        );
        self.run();
    }

    fn client_got(&mut self) -> String {
        taken(&mut self.client)
    }

    fn backend_got(&mut self) -> String {
        taken(self.backend.as_mut().expect("a backend connection"))
    }

    /// The status line of the error the client got (and was half-closed after).
    fn error_answer(&mut self) -> String {
        let out = self.client_got();
        assert!(self.client.stream.shut, "half-closed after an error: {out}");
        out.lines().next().unwrap_or_default().to_string()
    }
}

const GET: &str = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
const OK: &str = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";

#[test]
fn a_request_is_forwarded_and_its_response_relayed_on_a_kept_alive_connection() {
    let mut proxy = Proxy::new();
    proxy.client_sends(GET);
    let request = proxy.backend_got();
    assert!(request.starts_with("GET /a HTTP/1.1\r\n"), "{request}");
    assert!(request.contains("X-Forwarded-For: 10.0.0.7"), "{request}");
    proxy.backend_sends(OK);
    let response = proxy.client_got();
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n") && response.ends_with("\r\n\r\nhi"));
    assert_eq!(proxy.released, [true], "the backend connection is parked");
    assert!(proxy.closed.is_none() && !proxy.client.stream.shut);
    assert!(proxy.incoming.is_between_requests());
}

#[test]
fn a_malformed_request_gets_400() {
    let mut proxy = Proxy::new();
    proxy.client_sends("GET / HTTP/1.1\r\nBad Header\r\n\r\n");
    assert_eq!(proxy.error_answer(), "HTTP/1.1 400 Bad Request");
    assert!(proxy.connects.is_empty(), "no backend is asked");
}

#[test]
fn a_head_not_finished_in_time_gets_408_and_an_idle_client_is_closed_quietly() {
    let mut proxy = Proxy::new();
    proxy.client_sends("GET / HTTP/1.1\r\nHo");
    proxy.time_out();
    assert_eq!(proxy.error_answer(), "HTTP/1.1 408 Request Timeout");

    let mut idle = Proxy::new();
    idle.run();
    idle.time_out();
    assert!(idle.closed.is_some() && idle.client_got().is_empty());
}

#[test]
fn a_body_over_the_limit_gets_413_and_the_backend_connection_is_closed() {
    let mut proxy = Proxy::with(|c| c.max_body_bytes = Some(4));
    proxy.client_sends("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    proxy.client_sends("a\r\n0123456789\r\n0\r\n\r\n");
    assert_eq!(proxy.error_answer(), "HTTP/1.1 413 Content Too Large");
    assert_eq!(proxy.released, [false]);
}

#[test]
fn a_head_over_the_limit_gets_431() {
    let mut proxy = Proxy::with(|c| {
        c.max_head_bytes = 1024;
        c.buffer_bytes = 1024;
    });
    let long = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\n",
        "p".repeat(2000)
    );
    proxy.client_sends(&long);
    assert_eq!(
        proxy.error_answer(),
        "HTTP/1.1 431 Request Header Fields Too Large"
    );
}

#[test]
fn an_unknown_transfer_coding_gets_501() {
    let mut proxy = Proxy::new();
    proxy.client_sends("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: zip\r\n\r\n");
    assert_eq!(proxy.error_answer(), "HTTP/1.1 501 Not Implemented");
}

#[test]
fn an_invalid_response_gets_502() {
    let mut proxy = Proxy::new();
    proxy.client_sends(GET);
    proxy.backend_sends("SMTP ready\r\n\r\n");
    assert_eq!(proxy.error_answer(), "HTTP/1.1 502 Bad Gateway");
    assert_eq!(
        proxy.released,
        [false],
        "a backend speaking garbage is closed"
    );
}

#[test]
fn every_connect_failing_gets_503_after_trying_each_backend() {
    let mut proxy = Proxy::new();
    proxy.refuse_connects = true;
    proxy.client_sends(GET);
    assert_eq!(proxy.error_answer(), "HTTP/1.1 503 Service Unavailable");
    let mut tried: Vec<usize> = proxy.connects.iter().map(|&(b, _)| b).collect();
    tried.sort_unstable();
    assert_eq!(tried, [0, 1]);
}

#[test]
fn a_backend_silent_past_the_response_timeout_gets_504() {
    let mut proxy = Proxy::new();
    proxy.client_sends(GET);
    proxy.time_out();
    let status = proxy.error_answer();
    assert_eq!(status, "HTTP/1.1 504 Gateway Timeout");
    assert_eq!(proxy.released, [false]);
}

#[test]
fn a_reused_connection_closed_before_answering_is_retried_on_a_fresh_one() {
    let mut proxy = Proxy::new();
    proxy.client_sends(GET);
    proxy.backend_sends(OK);
    proxy.client_got();
    proxy.client_sends(GET);
    assert_eq!(proxy.connects.len(), 2);
    assert!(!proxy.connects[1].1, "the parked connection may be reused");
    closes(proxy.backend.as_mut().unwrap());
    proxy.run();
    assert_eq!(proxy.released, [true, false], "the closed one is let go");
    assert!(proxy.connects[2].1, "the retry asks for a fresh connection");
    assert!(
        proxy.backend_got().starts_with("GET /a HTTP/1.1\r\n"),
        "sent again"
    );
    proxy.backend_sends(OK);
    assert!(proxy.client_got().starts_with("HTTP/1.1 200 OK"));
}

#[test]
fn a_request_with_a_body_is_not_retried_but_answered_502() {
    let mut proxy = Proxy::new();
    proxy.client_sends(GET);
    proxy.backend_sends(OK);
    proxy.client_got();
    proxy.client_sends("POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
    closes(proxy.backend.as_mut().unwrap());
    proxy.run();
    assert_eq!(proxy.error_answer(), "HTTP/1.1 502 Bad Gateway");
    assert_eq!(proxy.connects.len(), 2, "no second try");
}

#[test]
fn expect_100_continue_is_relayed_before_the_body_goes_up() {
    let mut proxy = Proxy::new();
    proxy.client_sends(
        "PUT /u HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
    );
    assert!(proxy.backend_got().contains("Expect: 100-continue"));
    proxy.backend_sends("HTTP/1.1 100 Continue\r\n\r\n");
    assert_eq!(proxy.client_got(), "HTTP/1.1 100 Continue\r\n\r\n");
    proxy.client_sends("data");
    assert_eq!(proxy.backend_got(), "data");
    proxy.backend_sends("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n");
    assert!(proxy.client_got().starts_with("HTTP/1.1 201 Created"));
    assert_eq!(proxy.released, [true]);
}

#[test]
fn an_upgrade_turns_the_connection_into_a_tunnel() {
    let mut proxy = Proxy::new();
    proxy.client_sends(
        "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
    );
    assert!(proxy.backend_got().contains("Upgrade: websocket"));
    proxy.backend_sends(
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
    );
    assert!(
        proxy
            .client_got()
            .starts_with("HTTP/1.1 101 Switching Protocols")
    );
    proxy.client_sends("ping");
    assert_eq!(proxy.backend_got(), "ping");
    proxy.backend_sends("pong");
    assert_eq!(proxy.client_got(), "pong");
    closes(&mut proxy.client);
    proxy.run();
    assert!(
        proxy.backend.as_ref().unwrap().stream.shut,
        "the close is passed on"
    );
    closes(proxy.backend.as_mut().unwrap());
    proxy.run();
    assert!(proxy.closed.is_some() && proxy.client.stream.shut);
    assert!(
        proxy.released.is_empty(),
        "the tunnel's connection is never parked"
    );
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let mut proxy = Proxy::new();
    proxy.client_sends(&format!("{GET}GET /b HTTP/1.1\r\nHost: x\r\n\r\n"));
    let first = proxy.backend_got();
    assert!(
        first.starts_with("GET /a ") && !first.contains("GET /b"),
        "{first}"
    );
    proxy.backend_sends(OK);
    assert!(
        proxy.backend_got().starts_with("GET /b "),
        "the second follows"
    );
    proxy.backend_sends("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo");
    let responses = proxy.client_got();
    let first = responses.find("\r\n\r\nhi").expect("the first response");
    let second = responses.find("\r\n\r\ntwo").expect("the second response");
    assert!(first < second, "{responses}");
    assert_eq!(proxy.released, [true, true]);
}

#[test]
fn an_http_1_0_client_is_answered_then_closed() {
    let mut proxy = Proxy::new();
    proxy.client_sends("GET /old HTTP/1.0\r\n\r\n");
    proxy.backend_sends(OK);
    let response = proxy.client_got();
    assert!(response.ends_with("hi"), "{response}");
    assert!(!response.contains("keep-alive"), "{response}");
    assert!(
        proxy.closed.is_some(),
        "the connection ends after one response"
    );
    assert_eq!(
        proxy.released,
        [true],
        "the backend's connection is still good"
    );
}

#[test]
fn responses_without_a_body_end_at_their_head() {
    for (request, response) in [
        (
            "HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
        ),
        (GET, "HTTP/1.1 204 No Content\r\n\r\n"),
        (
            GET,
            "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n",
        ),
    ] {
        let mut proxy = Proxy::new();
        proxy.client_sends(request);
        proxy.backend_sends(response);
        let relayed = proxy.client_got();
        assert!(relayed.ends_with("\r\n\r\n"), "{request}: {relayed}");
        assert_eq!(proxy.released, [true], "{request}: complete, parked");
        assert!(proxy.incoming.is_between_requests(), "{request}");
    }
}
