//! The checker on a real reactor against loopback servers, each run bounded
//! by a deadline.

use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use super::*;
use crate::lb::backend_spec::BackendSpec;

mod harness;

use harness::run;

fn config(check: Option<CheckKind>) -> HealthConfig {
    HealthConfig {
        check,
        interval: Duration::from_millis(20),
        timeout: Duration::from_millis(500),
        rise: 2,
        fall: 2,
    }
}

fn http(path: &str) -> Option<CheckKind> {
    Some(CheckKind::Http { path: path.into() })
}

/// A port where nothing listens (bound, then released).
fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// A loopback server that hands each accepted connection to `serve` until
/// dropped.
struct TestServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    fn start(mut serve: impl FnMut(TcpStream) + Send + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        stream.set_nonblocking(false).unwrap();
                        stream
                            .set_read_timeout(Some(Duration::from_secs(2)))
                            .unwrap();
                        serve(stream);
                    }
                    Err(_) => thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Self {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    /// Answers each HTTP request with the next status of `script`, then 200;
    /// records the request heads.
    fn http(script: Vec<u16>, heads: Arc<Mutex<Vec<String>>>) -> Self {
        let mut script = script.into_iter();
        Self::start(move |mut stream| {
            let Some(head) = read_head(&mut stream) else {
                return;
            };
            heads
                .lock()
                .unwrap()
                .push(String::from_utf8_lossy(&head).into_owned());
            let status = script.next().unwrap_or(200);
            let _ = write!(
                stream,
                "HTTP/1.1 {status} Whatever\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        })
    }

    /// Sends `reply` to each connection and closes it.
    fn agent(reply: impl Into<String>) -> Self {
        let reply = reply.into();
        Self::start(move |mut stream| {
            let _ = stream.write_all(reply.as_bytes());
        })
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads one request head, byte by byte (the tests' requests are tiny).
fn read_head(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
    }
    Some(head)
}

fn backend(addr: SocketAddr) -> BackendSpec {
    BackendSpec::new(addr)
}

fn with_agent(addr: SocketAddr, agent: SocketAddr, weight: u16) -> BackendSpec {
    BackendSpec {
        weight,
        agent_port: Some(agent.port()),
        ..BackendSpec::new(addr)
    }
}

#[test]
fn http_check_takes_a_failing_backend_down_after_fall_and_back_up_after_rise() {
    let heads = Arc::new(Mutex::new(Vec::new()));
    let server = TestServer::http(vec![200, 500, 500, 200, 200], Arc::clone(&heads));
    let checker = HealthChecker::new(config(http("/healthz")), &[backend(server.addr)]);
    let (events, checker, gave_up) = run(
        checker,
        Box::new(|_, _, events| events.contains(&HealthEvent::Up(0))),
    );
    assert!(!gave_up, "events so far: {events:?}");
    assert_eq!(events, vec![HealthEvent::Down(0), HealthEvent::Up(0)]);
    let heads = heads.lock().unwrap();
    assert!(heads.len() >= 5, "{heads:?}");
    assert!(
        heads[0].starts_with("GET /healthz HTTP/1.1\r\n"),
        "{}",
        heads[0]
    );
    assert!(heads[0].contains(&format!("Host: {}\r\n", server.addr)));
    let status = checker.status(0).unwrap();
    assert_eq!(status.healthy, Some(true));
    assert_eq!(status.last_check.as_ref().unwrap().failure, None);
}

#[test]
fn tcp_check_takes_a_closed_port_down_and_leaves_a_listening_one_up() {
    let server = TestServer::start(drop);
    let backends = [backend(closed_port()), backend(server.addr)];
    let checker = HealthChecker::new(config(Some(CheckKind::Tcp)), &backends);
    let (events, checker, gave_up) = run(
        checker,
        Box::new(|checker, _, events| {
            events.contains(&HealthEvent::Down(0))
                && checker.status(1).unwrap().last_check.is_some()
        }),
    );
    assert!(!gave_up, "events so far: {events:?}");
    assert_eq!(events, vec![HealthEvent::Down(0)]);
    let down = checker.status(0).unwrap();
    assert_eq!(down.healthy, Some(false));
    let failure = down.last_check.as_ref().unwrap().failure.as_ref().unwrap();
    assert!(matches!(failure, CheckFailure::Connect(_)), "{failure}");
    assert_eq!(checker.status(1).unwrap().healthy, Some(true));
    assert!(!checker.status(0).unwrap().takes_new_work());
    assert!(checker.status(1).unwrap().takes_new_work());
}

#[test]
fn a_backend_that_accepts_but_never_answers_times_out_and_goes_down() {
    let held = Arc::new(Mutex::new(Vec::new()));
    let keep = Arc::clone(&held);
    let server = TestServer::start(move |stream| keep.lock().unwrap().push(stream));
    let config = HealthConfig {
        timeout: Duration::from_millis(30),
        ..config(http("/"))
    };
    let checker = HealthChecker::new(config, &[backend(server.addr)]);
    let (events, checker, gave_up) = run(
        checker,
        Box::new(|_, _, events| events.contains(&HealthEvent::Down(0))),
    );
    assert!(!gave_up, "events so far: {events:?}");
    assert_eq!(events, vec![HealthEvent::Down(0)]);
    let record = checker.status(0).unwrap().last_check.clone().unwrap();
    assert_eq!(record.failure, Some(CheckFailure::Timeout));
    assert!(
        !held.lock().unwrap().is_empty(),
        "the server saw the checks"
    );
}

#[test]
fn an_http_answer_that_is_not_http_fails_the_check() {
    let server = TestServer::start(|mut stream| {
        read_head(&mut stream);
        let _ = stream.write_all(b"SSH-2.0-nope\r\n");
    });
    let checker = HealthChecker::new(config(http("/")), &[backend(server.addr)]);
    let (events, checker, gave_up) = run(
        checker,
        Box::new(|_, _, events| events.contains(&HealthEvent::Down(0))),
    );
    assert!(!gave_up, "events so far: {events:?}");
    let record = checker.status(0).unwrap().last_check.clone().unwrap();
    assert_eq!(record.failure, Some(CheckFailure::Invalid));
}

#[test]
fn agent_drain_with_a_percentage_reports_the_state_and_half_the_weight() {
    let agent = TestServer::agent("drain 50%\n");
    let spec = with_agent(closed_port(), agent.addr, 4);
    // No active check: agent checks run on their own.
    let checker = HealthChecker::new(config(None), &[spec]);
    let (events, checker, gave_up) = run(
        checker,
        Box::new(|checker, _, _| checker.status(0).unwrap().last_agent_reply.is_some()),
    );
    assert!(!gave_up, "events so far: {events:?}");
    assert_eq!(
        events,
        vec![
            HealthEvent::AgentState(0, AgentState::Drain),
            HealthEvent::Weight(0, 2)
        ]
    );
    let status = checker.status(0).unwrap();
    assert_eq!(status.healthy, None, "no active check configured");
    assert_eq!(status.agent_state, Some(AgentState::Drain));
    assert!(
        !status.takes_new_work(),
        "a draining backend gets no new work"
    );
}

#[test]
fn agent_repeating_itself_reports_nothing_new() {
    let agent = TestServer::agent("drain 50%\n");
    let spec = with_agent(closed_port(), agent.addr, 4);
    let checker = HealthChecker::new(config(None), &[spec]);
    let mut replies = Vec::new();
    let (events, _, gave_up) = run(
        checker,
        Box::new(move |checker, _, _| {
            if let Some(at) = checker.status(0).unwrap().last_agent_reply {
                if replies.last() != Some(&at) {
                    replies.push(at);
                }
            }
            replies.len() >= 3
        }),
    );
    assert!(!gave_up, "events so far: {events:?}");
    assert_eq!(events.len(), 2, "{events:?}");
}

#[test]
fn agent_bare_number_without_line_end_is_the_load() {
    let agent = TestServer::agent("37");
    let spec = with_agent(closed_port(), agent.addr, 1);
    let checker = HealthChecker::new(config(None), &[spec]);
    let (events, _, gave_up) = run(
        checker,
        Box::new(|checker, _, _| checker.status(0).unwrap().last_agent_reply.is_some()),
    );
    assert!(!gave_up, "events so far: {events:?}");
    assert_eq!(events, vec![HealthEvent::Load(0, 37)]);
}

#[test]
fn an_unreachable_agent_changes_nothing() {
    let spec = with_agent(closed_port(), closed_port(), 3);
    let checker = HealthChecker::new(config(None), &[spec]);
    let mut errors_seen = 0;
    let (events, checker, gave_up) = run(
        checker,
        Box::new(move |checker, _, _| {
            if checker.status(0).unwrap().agent_error.is_some() {
                errors_seen += 1;
            }
            errors_seen >= 3
        }),
    );
    assert!(!gave_up);
    assert_eq!(events, vec![]);
    let status = checker.status(0).unwrap();
    assert_eq!(status.agent_state, None);
    assert_eq!(status.agent_weight, None);
    assert!(status.agent_error.as_ref().unwrap().contains("connect"));
}

#[test]
fn an_agent_reply_it_cannot_parse_changes_nothing() {
    let agent = TestServer::agent("weight:9999\n");
    let spec = with_agent(closed_port(), agent.addr, 3);
    let checker = HealthChecker::new(config(None), &[spec]);
    let (events, checker, gave_up) = run(
        checker,
        Box::new(|checker, _, _| checker.status(0).unwrap().agent_error.is_some()),
    );
    assert!(!gave_up);
    assert_eq!(events, vec![]);
    let error = checker.status(0).unwrap().agent_error.clone().unwrap();
    assert!(error.contains("weight:9999"), "{error}");
}

#[test]
fn an_overlong_agent_line_changes_nothing() {
    let line = format!("up {}\n", "x".repeat(agent::MAX_AGENT_REPLY_BYTES));
    let agent = TestServer::agent(line);
    let spec = with_agent(closed_port(), agent.addr, 3);
    let checker = HealthChecker::new(config(None), &[spec]);
    let (events, checker, gave_up) = run(
        checker,
        Box::new(|checker, _, _| checker.status(0).unwrap().agent_error.is_some()),
    );
    assert!(!gave_up);
    assert_eq!(events, vec![]);
    let error = checker.status(0).unwrap().agent_error.clone().unwrap();
    assert!(error.contains("too long"), "{error}");
}

#[test]
fn reconfigure_keeps_the_state_of_a_backend_with_the_same_name() {
    let dead = closed_port();
    let agent = TestServer::agent("maint 50%\n");
    let server = TestServer::start(drop);
    let old = [with_agent(dead, agent.addr, 4)];
    let new = [
        backend(server.addr),
        BackendSpec {
            weight: 8,
            ..old[0].clone()
        },
    ];
    let checks = config(Some(CheckKind::Tcp));
    let checker = HealthChecker::new(checks.clone(), &old);
    let restated: Rc<RefCell<Option<Vec<HealthEvent>>>> = Rc::default();
    let restated_in_run = Rc::clone(&restated);
    let (events, checker, gave_up) = run(
        checker,
        Box::new(move |checker, ctx, events| {
            let mut restated = restated_in_run.borrow_mut();
            if restated.is_some() {
                // Done once the backend new at index 0 was checked too.
                return checker.status(0).unwrap().last_check.is_some();
            }
            if events.contains(&HealthEvent::Down(0))
                && events.contains(&HealthEvent::AgentState(0, AgentState::Maint))
            {
                let mut out = Vec::new();
                checker.reconfigure(ctx, &checks, &new, &mut out);
                *restated = Some(out);
            }
            false
        }),
    );
    assert!(!gave_up, "events so far: {events:?}");
    assert_eq!(
        restated.borrow().as_deref(),
        Some(
            &[
                HealthEvent::Down(1),
                HealthEvent::AgentState(1, AgentState::Maint),
                HealthEvent::Weight(1, 4),
            ][..]
        ),
        "kept state restated under the new index, weight from the new configured 8"
    );
    assert_eq!(checker.status(0).unwrap().healthy, Some(true));
    assert_eq!(checker.status(1).unwrap().healthy, Some(false));
}

#[test]
fn without_checks_or_agents_nothing_runs() {
    let checker = HealthChecker::new(config(None), &[backend(closed_port())]);
    assert!(!checker.has_checks());
    let checker = HealthChecker::new(config(Some(CheckKind::Tcp)), &[backend(closed_port())]);
    assert!(checker.has_checks());
}
