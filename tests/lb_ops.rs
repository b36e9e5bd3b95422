//! The balancer's operations features, as an operator meets them: the real
//! binary on loopback in front of real pi-backends, with health checks,
//! agent checks, the admin port, reloads, the access log, several workers
//! and graceful stops. Every wait is a poll with a deadline; nothing asserts
//! how long anything took.

#[path = "support/agent.rs"]
mod agent;
#[path = "support/http_backends.rs"]
#[allow(dead_code)]
mod http_backends;
#[path = "support/pi.rs"]
mod pi;
mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use agent::Agent;
use pi::start_backends;
use serde_json::Value;
use support::{Server, distloop_bin};

/// No single read, write or connect in these tests may block longer than this.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest wait for a state the balancer should reach (stats are
/// published about once a second).
const SETTLE: Duration = Duration::from_secs(8);
/// Health and agent checks run this often in these tests.
const INTERVAL: &str = "100ms";
/// A request that keeps its backend busy for a while (1 ms per term).
const SLOW_PATH: &str = "/leibniz/2500";

/// The `--backend` flag value for pi-backend `server` named `name`, plus `extra`.
fn spec(server: &Server, name: &str, extra: &str) -> String {
    format!("{},name={name}{extra}", server.addr)
}

/// Starts `distloop lb` on ephemeral ports with an admin port; returns the
/// balancer and its admin address.
fn balancer(backends: &[String], extra: &[&str]) -> (Server, SocketAddr) {
    let mut args: Vec<String> = ["lb", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"]
        .map(String::from)
        .to_vec();
    for b in backends {
        args.push("--backend".into());
        args.push(b.clone());
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Server::start_expecting(distloop_bin(), &refs, 2);
    let admin = server.other_addrs[0].1;
    (server, admin)
}

/// One raw HTTP/1.1 exchange on a fresh connection: (status, head, body).
fn exchange(addr: SocketAddr, method: &str, path: &str) -> Result<(u16, String, String), String> {
    let mut stream =
        TcpStream::connect_timeout(&addr, IO_TIMEOUT).map_err(|e| format!("connect: {e}"))?;
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\nAccept: text/plain\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("write: {e}"))?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .map_err(|e| format!("read: {e}"))?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("no complete head in {text:?}"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line in {head:?}"))?;
    Ok((status, head.to_string(), body.to_string()))
}

/// The value of header `name` in `head`, if present.
fn header(head: &str, name: &str) -> Option<String> {
    head.lines().skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}

/// `GET path` through the balancer: (status, X-Backend).
fn try_get(addr: SocketAddr, path: &str) -> Result<(u16, String), String> {
    let (status, head, _) = exchange(addr, "GET", path)?;
    Ok((status, header(&head, "x-backend").unwrap_or_default()))
}

/// `GET path` that must succeed; returns the answering backend.
fn who(addr: SocketAddr, path: &str) -> String {
    let (status, backend) = try_get(addr, path).unwrap();
    assert_eq!(status, 200, "GET {path} answered by {backend:?}");
    backend
}

/// Backends answering `count` sequential requests, in order.
fn answers(addr: SocketAddr, count: usize) -> Vec<String> {
    (0..count).map(|_| who(addr, "/50")).collect()
}

/// An admin request: (status, body).
fn admin(addr: SocketAddr, method: &str, path: &str) -> (u16, String) {
    let (status, _, body) = exchange(addr, method, path).unwrap();
    (status, body)
}

/// `GET /stats`, parsed.
fn stats(addr: SocketAddr) -> Value {
    let (status, body) = admin(addr, "GET", "/stats");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// Backend `name`'s entry in a stats document.
fn backend_stats(stats: &Value, name: &str) -> Value {
    stats["backends"]
        .as_array()
        .expect("a backends array")
        .iter()
        .find(|b| b["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no backend {name} in {stats}"))
}

/// Polls `check` until it returns true; panics naming `what` after `within`.
fn wait_for(what: &str, within: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if check() {
            return;
        }
        thread::sleep(Duration::from_millis(50));
    }
    panic!("gave up waiting for {what}");
}

/// Waits until /stats shows backend `name` in `state`.
fn wait_for_state(admin_addr: SocketAddr, name: &str, state: &str) {
    wait_for(&format!("backend {name} {state}"), SETTLE, || {
        // A backend a reload adds shows up once the workers have taken it.
        let stats = stats(admin_addr);
        let listed = stats["backends"].as_array().expect("a backends array");
        listed
            .iter()
            .any(|b| b["name"] == name && b["state"] == state)
    });
}

/// Waits until /stats shows a request in flight on backend `name`.
fn wait_for_active(admin_addr: SocketAddr, name: &str) {
    wait_for(&format!("a request in flight on {name}"), SETTLE, || {
        backend_stats(&stats(admin_addr), name)["active"]
            .as_u64()
            .unwrap_or(0)
            > 0
    });
}

/// A path under the temporary directory unique to this process and `name`.
fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("distloop-ops-{}-{name}", std::process::id()))
}

/// One request's outcome in a load run.
struct Outcome {
    started: Instant,
    result: Result<(u16, String), String>,
}

/// A client thread sending requests one after another until stopped.
struct LoadRun {
    stop: Arc<AtomicBool>,
    outcomes: Arc<Mutex<Vec<Outcome>>>,
    thread: thread::JoinHandle<()>,
}

impl LoadRun {
    fn start(addr: SocketAddr) -> LoadRun {
        let stop = Arc::new(AtomicBool::new(false));
        let outcomes = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, outcomes) = (Arc::clone(&stop), Arc::clone(&outcomes));
            thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let started = Instant::now();
                    let result = try_get(addr, "/50");
                    outcomes.lock().unwrap().push(Outcome { started, result });
                }
            })
        };
        LoadRun {
            stop,
            outcomes,
            thread,
        }
    }

    fn count(&self) -> usize {
        self.outcomes.lock().unwrap().len()
    }

    fn finish(self) -> Vec<Outcome> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap();
        Arc::try_unwrap(self.outcomes)
            .ok()
            .unwrap()
            .into_inner()
            .unwrap()
    }
}

fn killed_backend_is_taken_out_of_rotation(mode: &str, check: &str) {
    let mut backends = start_backends(&[&[], &[], &[]]);
    let specs: Vec<String> = ["a", "b", "c"]
        .iter()
        .zip(&backends)
        .map(|(name, s)| spec(s, name, ""))
        .collect();
    let (lb, admin_addr) = balancer(
        &specs,
        &[
            "--mode",
            mode,
            "--health-check",
            check,
            "--health-interval",
            INTERVAL,
            "--fall",
            "2",
            "--rise",
            "2",
        ],
    );
    let load = LoadRun::start(lb.addr);
    wait_for("requests before the kill", SETTLE, || load.count() >= 20);
    backends[1].child.kill().unwrap();
    backends[1].child.wait().unwrap();
    wait_for_state(admin_addr, "b", "down");
    let down_seen = Instant::now();
    wait_for("requests after b is down", SETTLE, || {
        load.outcomes
            .lock()
            .unwrap()
            .iter()
            .filter(|o| o.started > down_seen)
            .count()
            >= 30
    });
    let outcomes = load.finish();
    let after: Vec<&Outcome> = outcomes.iter().filter(|o| o.started > down_seen).collect();
    for o in &after {
        match &o.result {
            Ok((200, backend)) => assert!(
                backend == "a" || backend == "c",
                "{mode}: a request after the fall went to {backend:?}"
            ),
            other => panic!("{mode}: a request after the fall failed: {other:?}"),
        }
    }
    let before = outcomes.iter().filter(|o| o.started <= down_seen);
    assert!(
        before
            .filter_map(|o| o.result.as_ref().ok())
            .any(|(_, b)| b == "b"),
        "{mode}: b served before it was killed"
    );
}

#[test]
fn http_mode_a_killed_backend_is_marked_down_and_no_later_request_fails() {
    killed_backend_is_taken_out_of_rotation("http", "http:/health");
}

#[test]
fn tcp_mode_a_killed_backend_is_marked_down_and_no_later_request_fails() {
    killed_backend_is_taken_out_of_rotation("tcp", "tcp");
}

#[test]
fn drain_lets_the_request_in_flight_finish_and_sends_new_ones_elsewhere() {
    let backends = start_backends(&[&[], &[]]);
    let specs = [spec(&backends[0], "a", ""), spec(&backends[1], "b", "")];
    // n-to-1 sends everything to the first available backend: a.
    let (lb, admin_addr) = balancer(&specs, &["--strategy", "n-to-1"]);
    let addr = lb.addr;
    let slow = thread::spawn(move || try_get(addr, SLOW_PATH));
    wait_for_active(admin_addr, "a");

    let (status, body) = admin(admin_addr, "POST", "/backends/a/drain");
    assert_eq!(status, 200, "{body}");
    wait_for_state(admin_addr, "a", "drain");
    let during = answers(lb.addr, 10);
    assert!(during.iter().all(|b| b == "b"), "{during:?}");
    assert_eq!(slow.join().unwrap(), Ok((200, "a".to_string())));

    let (status, body) = admin(admin_addr, "POST", "/backends/a/ready");
    assert_eq!(status, 200, "{body}");
    wait_for_state(admin_addr, "a", "up");
    assert_eq!(who(lb.addr, "/50"), "a");

    let (status, _) = admin(admin_addr, "POST", "/backends/nobody/drain");
    assert_eq!(status, 404);
    let (status, _) = admin(admin_addr, "POST", "/backends/a/explode");
    assert_eq!(status, 404);
}

fn backend_table(server: &Server, name: &str) -> String {
    format!(
        "[[backend]]\naddress = \"{}\"\nname = \"{name}\"\n",
        server.addr
    )
}

#[test]
fn sighup_rereads_the_file_and_a_broken_file_keeps_the_running_config() {
    const SIGHUP: i32 = 1;
    let backends = start_backends(&[&[], &[], &[]]);
    let path = temp_path("reload.toml");
    let two = format!(
        "strategy = \"round-robin\"\n{}{}",
        backend_table(&backends[0], "a"),
        backend_table(&backends[1], "b")
    );
    std::fs::write(&path, &two).unwrap();
    let config = path.to_str().unwrap();
    let (mut lb, _admin) = balancer(&[], &["--config", config]);
    let first = answers(lb.addr, 6);
    assert!(first.iter().any(|b| b == "a") && first.iter().any(|b| b == "b"));
    assert!(!first.iter().any(|b| b == "c"), "{first:?}");

    let three = format!("{two}{}", backend_table(&backends[2], "c"));
    std::fs::write(&path, &three).unwrap();
    lb.signal(SIGHUP);
    wait_for("c to receive requests", SETTLE, || {
        who(lb.addr, "/50") == "c"
    });

    // Each broken file names only a: had it been taken, b and c would vanish.
    let broken = [
        format!("strategy = 42\n{}", backend_table(&backends[0], "a")),
        format!("colour = \"blue\"\n{}", backend_table(&backends[0], "a")),
    ];
    for text in broken {
        std::fs::write(&path, &text).unwrap();
        lb.signal(SIGHUP);
        thread::sleep(Duration::from_millis(500));
        assert_eq!(lb.child.try_wait().unwrap(), None, "still running");
        let seen = answers(lb.addr, 9);
        for name in ["a", "b", "c"] {
            assert!(seen.iter().any(|b| b == name), "{name} missing: {seen:?}");
        }
    }
    let _ = std::fs::remove_file(&path);
}

#[test]
fn agent_replies_drain_restore_and_reweigh_a_backend() {
    let backends = start_backends(&[&[], &[]]);
    let agent = Agent::start("up");
    let specs = [
        spec(
            &backends[0],
            "a",
            &format!(",weight=4,agent={}", agent.port()),
        ),
        spec(&backends[1], "b", ""),
    ];
    let (lb, admin_addr) = balancer(&specs, &["--health-interval", INTERVAL]);
    wait_for("the agent to be asked", SETTLE, || agent.served() > 0);
    wait_for_state(admin_addr, "a", "up");
    assert_eq!(backend_stats(&stats(admin_addr), "a")["weight"], 4);

    agent.set_reply("drain");
    wait_for_state(admin_addr, "a", "drain");
    let drained = answers(lb.addr, 10);
    assert!(drained.iter().all(|b| b == "b"), "{drained:?}");

    agent.set_reply("ready");
    wait_for_state(admin_addr, "a", "up");
    wait_for("a to serve again", SETTLE, || who(lb.addr, "/50") == "a");

    agent.set_reply("50%");
    wait_for("a's weight to halve", SETTLE, || {
        backend_stats(&stats(admin_addr), "a")["weight"] == 2
    });

    agent.set_reply("maint");
    wait_for_state(admin_addr, "a", "maint");
    agent.set_reply("down # disk full");
    wait_for_state(admin_addr, "a", "down");
    let down = answers(lb.addr, 6);
    assert!(down.iter().all(|b| b == "b"), "{down:?}");
    agent.set_reply("up");
    wait_for_state(admin_addr, "a", "up");
    wait_for("a to serve after down", SETTLE, || {
        who(lb.addr, "/50") == "a"
    });
}

#[test]
fn least_load_follows_the_load_the_agents_report() {
    let backends = start_backends(&[&[], &[]]);
    let agents = [Agent::start("80"), Agent::start("10")];
    let specs = [
        spec(&backends[0], "a", &format!(",agent={}", agents[0].port())),
        spec(&backends[1], "b", &format!(",agent={}", agents[1].port())),
    ];
    let (lb, _admin) = balancer(
        &specs,
        &["--strategy", "least-load", "--health-interval", INTERVAL],
    );
    let mostly = |name: &str| {
        let seen = answers(lb.addr, 20);
        seen.iter().filter(|b| *b == name).count() >= 18
    };
    wait_for("b, reporting 10, to take the requests", SETTLE, || {
        mostly("b")
    });
    agents[0].set_reply("10");
    agents[1].set_reply("80");
    wait_for("a, now reporting 10, to take the requests", SETTLE, || {
        mostly("a")
    });
}

#[test]
fn two_workers_both_accept_connections_and_stats_add_them_up() {
    const THREADS: usize = 4;
    const PER_THREAD: usize = 50;
    let backends = start_backends(&[&[], &[]]);
    let specs = [spec(&backends[0], "a", ""), spec(&backends[1], "b", "")];
    let (lb, admin_addr) = balancer(&specs, &["--workers", "2"]);
    let addr = lb.addr;
    let clients: Vec<_> = (0..THREADS)
        .map(|_| {
            thread::spawn(move || {
                (0..PER_THREAD)
                    .map(|_| try_get(addr, "/20"))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for client in clients {
        for result in client.join().unwrap() {
            assert!(matches!(&result, Ok((200, _))), "{result:?}");
        }
    }
    let total = (THREADS * PER_THREAD) as u64;
    wait_for("both workers' counts in the stats", SETTLE, || {
        stats(admin_addr)["accepted"].as_u64() == Some(total)
    });
    let stats = stats(admin_addr);
    assert_eq!(stats["workers"], 2);
    let by_worker: Vec<u64> = stats["accepted_by_worker"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(by_worker.len(), 2, "{stats}");
    assert!(by_worker.iter().all(|&n| n > 0), "{by_worker:?}");
    assert_eq!(by_worker.iter().sum::<u64>(), total);
}

#[test]
fn admin_knows_the_backends_at_once_serves_metrics_and_html_and_refuses_other_methods() {
    let backends = start_backends(&[&[]]);
    let (lb, admin_addr) = balancer(&[spec(&backends[0], "a", "")], &[]);
    // Known from the start, before any worker's periodic publish.
    assert_eq!(admin(admin_addr, "POST", "/backends/a/ready").0, 200);
    assert_eq!(backend_stats(&stats(admin_addr), "a")["state"], "up");
    who(lb.addr, "/50");
    wait_for("the request in the metrics", SETTLE, || {
        let (_, metrics) = admin(admin_addr, "GET", "/metrics");
        metrics.contains("distloop_backend_requests_total{backend=\"a\"")
            && metrics
                .lines()
                .any(|l| l.starts_with("distloop_backend_requests_total") && l.ends_with(" 1"))
    });
    let (status, metrics) = admin(admin_addr, "GET", "/metrics");
    assert_eq!(status, 200);
    for line in metrics.lines().filter(|l| !l.is_empty()) {
        assert!(
            line.starts_with('#') || line.starts_with("distloop_"),
            "{line}"
        );
        if !line.starts_with('#') {
            let value = line.rsplit(' ').next().unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }

    let (status, head, page) = exchange(admin_addr, "GET", "/").unwrap();
    assert_eq!(status, 200);
    assert!(
        header(&head, "content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(page.to_ascii_lowercase().contains("<html"), "{page}");
    assert!(page.contains("refresh"), "{page}");

    for (method, path) in [("POST", "/stats"), ("DELETE", "/metrics"), ("PUT", "/")] {
        assert_eq!(admin(admin_addr, method, path).0, 405, "{method} {path}");
    }
    assert_eq!(admin(admin_addr, "GET", "/nothing-here").0, 404);
}

/// Checks one Common Log Format line with backend and duration; returns the backend.
fn check_log_line(line: &str) -> String {
    // 127.0.0.1 - - [02/Jan/2006:15:04:05 +0000] "GET /50 HTTP/1.1" 200 123 backend=a 1.234ms
    let (client, rest) = line.split_once(" - - [").expect(line);
    assert_eq!(client, "127.0.0.1", "{line}");
    let (time, rest) = rest.split_once("] \"").expect(line);
    assert!(time.ends_with(" +0000") && time.len() == 26, "{line}");
    let (request, rest) = rest.split_once("\" ").expect(line);
    assert_eq!(request, "GET /50 HTTP/1.1", "{line}");
    let fields: Vec<&str> = rest.split(' ').collect();
    assert_eq!(fields.len(), 4, "{line}");
    assert_eq!(fields[0], "200", "{line}");
    assert!(fields[1].parse::<u64>().unwrap() > 0, "{line}");
    let ms = fields[3].strip_suffix("ms").expect(line);
    assert!(ms.parse::<f64>().is_ok(), "{line}");
    fields[2].strip_prefix("backend=").expect(line).to_string()
}

#[test]
fn the_access_log_has_one_common_log_format_line_per_request() {
    const REQUESTS: usize = 6;
    let backends = start_backends(&[&[], &[]]);
    let specs = [spec(&backends[0], "a", ""), spec(&backends[1], "b", "")];
    let path = temp_path("access.log");
    let _ = std::fs::remove_file(&path);
    let (lb, _admin) = balancer(&specs, &["--access-log", path.to_str().unwrap()]);
    let served = answers(lb.addr, REQUESTS);
    let mut lines = Vec::new();
    wait_for("every request in the log", Duration::from_secs(5), || {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        lines = text.lines().map(String::from).collect();
        lines.len() >= REQUESTS
    });
    assert_eq!(lines.len(), REQUESTS, "{lines:#?}");
    let logged: Vec<String> = lines.iter().map(|l| check_log_line(l)).collect();
    assert_eq!(logged, served);
    let _ = std::fs::remove_file(&path);
}

fn sigterm_lets_the_slow_request_finish(mode: &str) {
    const SIGTERM: i32 = 15;
    let backends = start_backends(&[&[]]);
    let (mut lb, admin_addr) = balancer(&[spec(&backends[0], "a", "")], &["--mode", mode]);
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

#[test]
fn a_kept_alive_client_is_sent_elsewhere_from_its_next_request_after_a_drain() {
    let backends = start_backends(&[&[], &[]]);
    let specs = [spec(&backends[0], "a", ""), spec(&backends[1], "b", "")];
    let (lb, admin_addr) = balancer(&specs, &["--strategy", "n-to-1"]);
    let mut conn = pi::Conn::open(lb.addr);
    assert_eq!(conn.get("/50", false).1, "a");
    assert_eq!(admin(admin_addr, "POST", "/backends/a/drain").0, 200);
    wait_for_state(admin_addr, "a", "drain");
    for _ in 0..3 {
        let (status, backend, _) = conn.get("/50", false);
        assert_eq!((status, backend.as_str()), (200, "b"));
    }
}

#[test]
fn a_bad_config_file_at_start_exits_2_naming_the_file_and_line() {
    let path = temp_path("bad.toml");
    std::fs::write(
        &path,
        "strategy = \"round-robin\"\n\n[[backend]]\naddress = \"127.0.0.1:9\"\nweight = \"heavy\"\n",
    )
    .unwrap();
    let mut child = Command::new(distloop_bin())
        .args(["lb", "--listen", "127.0.0.1:0", "--config"])
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + SETTLE;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("a bad file did not stop the balancer");
        }
        thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(2), "{stderr}");
    let located = format!("{}:5:", path.display());
    assert!(stderr.contains(&located), "{stderr}");
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_reload_starts_the_checks_it_asks_for_on_the_backends_it_adds() {
    const SIGHUP: i32 = 1;
    let backends = start_backends(&[&[], &[], &[]]);
    let agent = Agent::start("drain");
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let path = temp_path("reload-checks.toml");
    let two = format!(
        "{}{}",
        backend_table(&backends[0], "a"),
        backend_table(&backends[1], "b")
    );
    std::fs::write(&path, &two).unwrap();
    let (lb, admin_addr) = balancer(&[], &["--config", path.to_str().unwrap()]);
    assert_eq!(answers(lb.addr, 4).len(), 4);

    let more = format!(
        "{two}{}agent = {}\n[[backend]]\naddress = \"{dead}\"\nname = \"d\"\n\
         [health]\ncheck = \"http:/health\"\ninterval = \"{INTERVAL}\"\nfall = 1\n",
        backend_table(&backends[2], "c"),
        agent.port()
    );
    std::fs::write(&path, &more).unwrap();
    lb.signal(SIGHUP);
    wait_for_state(admin_addr, "c", "drain");
    wait_for_state(admin_addr, "d", "down");
    let seen = answers(lb.addr, 12);
    assert!(
        seen.iter().all(|b| b == "a" || b == "b"),
        "c drains and d is down: {seen:?}"
    );
    let _ = std::fs::remove_file(&path);
}

#[test]
fn with_two_workers_a_drain_reaches_both_and_sigterm_stops_both() {
    const SIGTERM: i32 = 15;
    let backends = start_backends(&[&[], &[]]);
    let specs = [spec(&backends[0], "a", ""), spec(&backends[1], "b", "")];
    let (mut lb, admin_addr) = balancer(&specs, &["--workers", "2", "--strategy", "n-to-1"]);
    assert_eq!(admin(admin_addr, "POST", "/backends/a/drain").0, 200);
    wait_for_state(admin_addr, "a", "drain");
    // Fresh connections land on either worker; none may still send to a.
    let seen = answers(lb.addr, 40);
    assert!(seen.iter().all(|b| b == "b"), "{seen:?}");
    lb.signal(SIGTERM);
    assert_eq!(lb.wait_exit(SETTLE), Some(0));
}

#[test]
fn tcp_mode_drain_and_access_log_work_per_connection() {
    let backends = start_backends(&[&[], &[]]);
    let specs = [spec(&backends[0], "a", ""), spec(&backends[1], "b", "")];
    let path = temp_path("tcp-access.log");
    let _ = std::fs::remove_file(&path);
    let (lb, admin_addr) = balancer(
        &specs,
        &[
            "--mode",
            "tcp",
            "--strategy",
            "n-to-1",
            "--access-log",
            path.to_str().unwrap(),
        ],
    );
    assert_eq!(who(lb.addr, "/50"), "a");
    assert_eq!(admin(admin_addr, "POST", "/backends/a/drain").0, 200);
    wait_for_state(admin_addr, "a", "drain");
    assert_eq!(answers(lb.addr, 3), ["b", "b", "b"]);
    let mut lines = Vec::new();
    wait_for(
        "four connections in the log",
        Duration::from_secs(5),
        || {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            lines = text.lines().map(String::from).collect();
            lines.len() >= 4
        },
    );
    assert_eq!(lines.len(), 4, "{lines:#?}");
    for (line, backend) in lines.iter().zip(["a", "b", "b", "b"]) {
        assert!(line.contains("\"TCP\""), "{line}");
        assert!(line.contains(&format!(" backend={backend} ")), "{line}");
    }
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_reload_that_removes_backends_lets_a_request_in_flight_on_them_finish() {
    const SIGHUP: i32 = 1;
    let backends = start_backends(&[&[], &[], &[]]);
    let path = temp_path("shrink.toml");
    let three = format!(
        "strategy = \"n-to-1\"\n{}{}{}",
        backend_table(&backends[2], "c"),
        backend_table(&backends[0], "a"),
        backend_table(&backends[1], "b")
    );
    std::fs::write(&path, &three).unwrap();
    let (mut lb, admin_addr) = balancer(&[], &["--config", path.to_str().unwrap()]);
    // Drain c and a so that the slow request lands on b, the last backend.
    for name in ["c", "a"] {
        assert_eq!(
            admin(admin_addr, "POST", &format!("/backends/{name}/drain")).0,
            200
        );
        wait_for_state(admin_addr, name, "drain");
    }
    let addr = lb.addr;
    let slow = thread::spawn(move || try_get(addr, SLOW_PATH));
    wait_for_active(admin_addr, "b");
    // The new configuration has one backend, under a new name (a drain
    // survives a reload by name): b's old index no longer exists.
    std::fs::write(
        &path,
        format!(
            "strategy = \"n-to-1\"\n{}",
            backend_table(&backends[0], "d")
        ),
    )
    .unwrap();
    lb.signal(SIGHUP);
    let (status, backend) = slow.join().unwrap().expect("the slow request is answered");
    assert_eq!((status, backend.as_str()), (200, "b"));
    wait_for("the new backend to serve", SETTLE, || {
        try_get(lb.addr, "/10").is_ok_and(|(status, _)| status == 200)
    });
    assert_eq!(lb.child.try_wait().unwrap(), None, "still running");
    let _ = std::fs::remove_file(&path);
}

#[test]
fn parked_connections_to_a_backend_that_leaves_rotation_are_closed() {
    let backend = http_backends::HttpBackend::start(http_backends::Behaviour::Echo);
    let specs = [format!("{},name=a", backend.addr)];
    let (lb, admin_addr) = balancer(&specs, &[]);
    let accepted = || backend.accepted.load(std::sync::atomic::Ordering::SeqCst);
    // The answer parks the balancer's connection to a.
    assert_eq!(exchange(lb.addr, "GET", "/one").unwrap().0, 200);
    assert_eq!(accepted(), 1);
    assert_eq!(exchange(lb.addr, "GET", "/two").unwrap().0, 200);
    assert_eq!(accepted(), 1, "a parked connection is reused");
    // Out of rotation and back: what was parked before is not used after.
    assert_eq!(admin(admin_addr, "POST", "/backends/a/maint").0, 200);
    wait_for_state(admin_addr, "a", "maint");
    assert_eq!(admin(admin_addr, "POST", "/backends/a/ready").0, 200);
    wait_for_state(admin_addr, "a", "up");
    assert_eq!(exchange(lb.addr, "GET", "/three").unwrap().0, 200);
    assert_eq!(
        accepted(),
        2,
        "a new connection after the backend came back"
    );
}
