//! The admin listener: stats (JSON, Prometheus, HTML) and drain/ready
//! commands, on its own small event loop.
//!
//! Workers never share locks on their hot path: each publishes a
//! [`Snapshot`] into the [`AdminHub`] about once a second, and receives
//! commands through its own channel, woken by [`reactor::Handle::wake`].

mod queue;
mod render;

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use slab::Slab;

use super::stats::Snapshot;
use crate::http::{HeadLimits, HeadStatus, RequestHead, RequestParser, error_response};
use crate::reactor::{
    self, Acceptor, Buffer, Context, Interest, Kind, Readiness, Service, TcpListener, TcpStream,
    TimerId, Token, WriteStop, write_until_blocked,
};

/// A command for every worker, from an operator or a reload.
#[derive(Debug, Clone)]
pub enum AdminCommand {
    /// Take the named backend out of rotation; its in-flight work finishes.
    Drain(String),
    /// Take the named backend out for maintenance; its in-flight work finishes.
    Maint(String),
    /// Put the named backend back into rotation.
    Ready(String),
    /// Switch to a reloaded configuration (backends, weights, strategy).
    Reload(Box<crate::lb::LbConfig>),
}

/// Where workers publish stats and find commands.
#[derive(Default)]
pub struct AdminHub {
    snapshots: Mutex<Vec<Snapshot>>,
    /// Each backend's last seen state and since when, by name.
    states: Mutex<HashMap<String, (String, SystemTime)>>,
    workers: Mutex<Vec<(Sender<AdminCommand>, reactor::Handle)>>,
}

impl AdminHub {
    /// A hub for `workers` workers.
    pub fn new(workers: usize) -> Arc<Self> {
        Arc::new(Self {
            snapshots: Mutex::new(vec![Snapshot::default(); workers]),
            states: Mutex::new(HashMap::new()),
            workers: Mutex::new(Vec::new()),
        })
    }

    /// Registers a worker's reactor; returns the channel its commands arrive on.
    pub fn attach(&self, handle: reactor::Handle) -> Receiver<AdminCommand> {
        let (tx, rx) = channel();
        self.workers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((tx, handle));
        rx
    }

    /// Replaces worker `worker`'s snapshot.
    pub fn publish(&self, worker: usize, snapshot: Snapshot) {
        let mut snapshots = self
            .snapshots
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = snapshots.get_mut(worker) {
            *slot = snapshot;
        }
        // Noted on every publish (about once a second per worker), so that
        // a change is timed when it happens, not when someone looks.
        let now = SystemTime::now();
        self.note_states(&mut Snapshot::sum(&snapshots).settled(now), now);
    }

    /// Sets each backend's `state_since`, noting changes of state at `now`.
    fn note_states(&self, total: &mut Snapshot, now: SystemTime) {
        let mut states = self.states.lock().unwrap_or_else(PoisonError::into_inner);
        for backend in &mut total.backends {
            let seen = states
                .entry(backend.name.clone())
                .or_insert_with(|| (backend.state.clone(), now));
            if seen.0 != backend.state {
                *seen = (backend.state.clone(), now);
            }
            backend.state_since = Some(seen.1);
        }
    }

    /// The sum of every worker's latest snapshot, as of now.
    pub fn total(&self) -> Snapshot {
        let snapshots = self
            .snapshots
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let now = SystemTime::now();
        let mut total = Snapshot::sum(&snapshots).settled(now);
        drop(snapshots);
        self.note_states(&mut total, now);
        total
    }

    /// Sends a command to every worker and wakes them.
    pub fn send(&self, command: &AdminCommand) {
        let workers = self.workers.lock().unwrap_or_else(PoisonError::into_inner);
        for (tx, handle) in workers.iter() {
            if tx.send(command.clone()).is_ok() {
                handle.wake();
            }
        }
    }
}

/// Requests on the admin port are small; anything larger is refused.
const MAX_ADMIN_REQUEST_BYTES: usize = 8 * 1024;
/// An admin connection that has not sent its request by then is closed.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Admin connections served at once; further ones wait in the listen backlog.
const MAX_ADMIN_CONNECTIONS: usize = 256;

/// What a token of the admin server stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Socket {
    /// The listener (key 0).
    Listener,
    /// Admin connection `key`.
    Connection,
}

impl Kind for Socket {
    const ALL: &'static [Self] = &[Self::Listener, Self::Connection];
}

/// What a timer of the admin server stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    /// Connection `key` ran out of time.
    Deadline,
    /// Accepting again after an accept error.
    AcceptRetry,
}

impl Kind for Timer {
    const ALL: &'static [Self] = &[Self::Deadline, Self::AcceptRetry];
}

struct AdminConn {
    socket: TcpStream,
    inbuf: Buffer,
    out: Vec<u8>,
    written: usize,
    timer: TimerId,
}

/// The admin HTTP server.
pub struct AdminServer {
    hub: Arc<AdminHub>,
    acceptor: Acceptor,
    conns: Slab<AdminConn>,
}

impl AdminServer {
    /// Binds the admin listener on `reactor`.
    pub fn bind(
        reactor: &reactor::Reactor,
        addr: SocketAddr,
        hub: Arc<AdminHub>,
    ) -> io::Result<(Self, SocketAddr)> {
        let listener = reactor::listen(addr, reactor::ListenOptions::default())?;
        Self::on_listener(reactor, listener, hub)
    }

    /// Serves on an already bound `listener` (one taken over in an upgrade).
    pub fn on_listener(
        reactor: &reactor::Reactor,
        listener: TcpListener,
        hub: Arc<AdminHub>,
    ) -> io::Result<(Self, SocketAddr)> {
        let local = listener.local_addr()?;
        let mut acceptor = Acceptor::new(listener).retry_on_timer(Timer::AcceptRetry.timer(0));
        acceptor.register(reactor.registry(), Socket::Listener.token(0))?;
        Ok((
            Self {
                hub,
                acceptor,
                conns: Slab::new(),
            },
            local,
        ))
    }

    fn accept(&mut self, ctx: &mut Context<'_>) {
        while let Some((mut socket, _)) =
            self.acceptor
                .accept(ctx, self.conns.len(), MAX_ADMIN_CONNECTIONS)
        {
            let entry = self.conns.vacant_entry();
            let key = entry.key();
            if ctx
                .registry()
                .register(
                    &mut socket,
                    Socket::Connection.token(key),
                    Interest::READABLE | Interest::WRITABLE,
                )
                .is_err()
            {
                continue;
            }
            let timer = ctx.set_timer_after(ADMIN_TIMEOUT, Timer::Deadline.timer(key));
            entry.insert(AdminConn {
                socket,
                inbuf: Buffer::with_capacity(MAX_ADMIN_REQUEST_BYTES),
                out: Vec::new(),
                written: 0,
                timer,
            });
        }
    }

    /// Reads the request, answers it, writes the answer; true when done.
    fn serve(&mut self, key: usize) -> io::Result<bool> {
        let conn = &mut self.conns[key];
        if conn.out.is_empty() {
            let (_, stop) = conn
                .inbuf
                .read_from(&mut conn.socket, MAX_ADMIN_REQUEST_BYTES)?;
            let limits = HeadLimits {
                max_head_bytes: MAX_ADMIN_REQUEST_BYTES,
                ..HeadLimits::default()
            };
            conn.out = match RequestParser::new(limits).parse(conn.inbuf.as_slice()) {
                Ok(HeadStatus::Complete { head, .. }) if head.method != "GET" => {
                    match sent_from_elsewhere(&head) {
                        Some(why) => respond(403, "text/plain", &format!("refused: {why}\n")),
                        None => answer(&self.hub, &head.method, &head.target),
                    }
                }
                Ok(HeadStatus::Complete { head, .. }) => {
                    answer(&self.hub, &head.method, &head.target)
                }
                Ok(HeadStatus::Partial) if stop == reactor::ReadStop::Eof => return Ok(true),
                Ok(HeadStatus::Partial) if conn.inbuf.is_full() => {
                    error_response(431, "admin requests are small")
                }
                Ok(HeadStatus::Partial) => return Ok(false),
                Err(e) => error_response(e.status(), &e.to_string()),
            };
        }
        let (written, stop) = write_until_blocked(&mut conn.socket, &conn.out[conn.written..])?;
        conn.written += written;
        if stop == WriteStop::WouldBlock {
            return Ok(false);
        }
        let _ = conn.socket.shutdown(std::net::Shutdown::Write);
        Ok(true)
    }
}

fn respond(status: u16, content_type: &str, body: &str) -> Vec<u8> {
    let reason = crate::http::reason_phrase(status);
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
}

/// Why a request that may change state came from a web page elsewhere, if
/// it did: such a page must not drive the admin port (a cross-site form
/// POST would drain a backend). Browsers mark every POST with `Origin`, and
/// current ones with `Sec-Fetch-Site`; the stats page's own buttons send
/// the admin's own origin. A page on a name rebound to this address (DNS
/// rebinding) has a matching origin, so a browser's request must also name
/// the admin by an IP address or `localhost`. Command-line clients (curl)
/// send neither header and are let through.
fn sent_from_elsewhere(head: &RequestHead) -> Option<&'static str> {
    let field = |name| {
        head.headers
            .get(name)
            .and_then(|v| std::str::from_utf8(v).ok())
    };
    if let Some(site) = field("sec-fetch-site") {
        if !site.eq_ignore_ascii_case("same-origin") && !site.eq_ignore_ascii_case("none") {
            return Some("the request came from another site's page");
        }
    }
    let origin = field("origin")?;
    let host = field("host").unwrap_or("");
    let same = origin
        .strip_prefix("http://")
        .is_some_and(|rest| rest.eq_ignore_ascii_case(host));
    if !same {
        return Some("the request came from another site's page");
    }
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    if name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok() {
        None
    } else {
        Some("a browser must name the admin port by its IP address or localhost")
    }
}

/// Routes one admin request.
fn answer(hub: &AdminHub, method: &str, target: &str) -> Vec<u8> {
    let path = target.split('?').next().unwrap_or("");
    match (method, path) {
        ("GET", "/stats") => respond(200, "application/json", &render::json(&hub.total())),
        ("GET", "/metrics") => respond(
            200,
            "text/plain; version=0.0.4; charset=utf-8",
            &render::prometheus(&hub.total()),
        ),
        ("GET", "/") => respond(200, "text/html; charset=utf-8", &render::html(&hub.total())),
        ("POST", path) if path.starts_with("/backends/") => {
            let rest = &path["/backends/".len()..];
            let Some((name, action)) = rest.rsplit_once('/') else {
                return respond(
                    404,
                    "text/plain",
                    "use /backends/NAME/drain, /maint or /ready\n",
                );
            };
            let known = hub.total().backends.iter().any(|b| b.name == name);
            if !known {
                return respond(404, "text/plain", &format!("no backend named `{name}`\n"));
            }
            match action {
                "drain" => {
                    hub.send(&AdminCommand::Drain(name.to_string()));
                    respond(200, "text/plain", &format!("backend {name} draining\n"))
                }
                "maint" => {
                    hub.send(&AdminCommand::Maint(name.to_string()));
                    respond(
                        200,
                        "text/plain",
                        &format!("backend {name} in maintenance\n"),
                    )
                }
                "ready" => {
                    hub.send(&AdminCommand::Ready(name.to_string()));
                    respond(200, "text/plain", &format!("backend {name} ready\n"))
                }
                _ => respond(
                    404,
                    "text/plain",
                    "use /backends/NAME/drain, /maint or /ready\n",
                ),
            }
        }
        (_, "/stats" | "/metrics" | "/") => respond(405, "text/plain", "use GET\n"),
        _ => respond(404, "text/plain", "not found: try /, /stats or /metrics\n"),
    }
}

impl Service for AdminServer {
    fn on_ready(&mut self, ctx: &mut Context<'_>, token: Token, _readiness: Readiness) {
        let key = match Socket::of_token(token) {
            Some((Socket::Listener, _)) => return self.accept(ctx),
            Some((Socket::Connection, key)) if self.conns.contains(key) => key,
            _ => return,
        };
        if !matches!(self.serve(key), Ok(false)) {
            let conn = self.conns.remove(key);
            ctx.cancel_timer(conn.timer);
            self.acceptor.on_connection_closed(ctx);
        }
    }

    fn on_timer(&mut self, ctx: &mut Context<'_>, _id: TimerId, payload: u64) {
        match Timer::of_timer(payload) {
            Some((Timer::Deadline, key)) if self.conns.try_remove(key).is_some() => {
                self.acceptor.on_connection_closed(ctx);
            }
            Some((Timer::AcceptRetry, _)) => self.acceptor.on_retry_timer(ctx),
            _ => {}
        }
    }

    fn on_shutdown(&mut self, _ctx: &mut Context<'_>) {
        self.acceptor.close();
        self.conns.clear();
    }

    fn is_drained(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(fields: &[(&str, &str)]) -> RequestHead {
        let mut text = String::from("POST /backends/a/drain HTTP/1.1\r\n");
        for (name, value) in fields {
            text.push_str(&format!("{name}: {value}\r\n"));
        }
        text.push_str("Content-Length: 0\r\n\r\n");
        match RequestParser::new(HeadLimits::default()).parse(text.as_bytes()) {
            Ok(HeadStatus::Complete { head, .. }) => head,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_post_from_the_command_line_or_the_stats_page_itself_is_taken() {
        assert_eq!(
            sent_from_elsewhere(&head(&[("Host", "127.0.0.1:9000")])),
            None
        );
        let own_page = [
            ("Host", "127.0.0.1:9000"),
            ("Origin", "http://127.0.0.1:9000"),
            ("Sec-Fetch-Site", "same-origin"),
        ];
        assert_eq!(sent_from_elsewhere(&head(&own_page)), None);
        let local = [
            ("Host", "localhost:9000"),
            ("Origin", "http://localhost:9000"),
        ];
        assert_eq!(sent_from_elsewhere(&head(&local)), None);
        let v6 = [("Host", "[::1]:9000"), ("Origin", "http://[::1]:9000")];
        assert_eq!(sent_from_elsewhere(&head(&v6)), None);
    }

    #[test]
    fn a_post_from_a_page_elsewhere_is_refused() {
        for fields in [
            &[
                ("Host", "127.0.0.1:9000"),
                ("Origin", "http://evil.example"),
            ][..],
            &[("Host", "127.0.0.1:9000"), ("Origin", "null")][..],
            &[("Host", "127.0.0.1:9000"), ("Sec-Fetch-Site", "cross-site")][..],
            &[("Host", "127.0.0.1:9000"), ("Sec-Fetch-Site", "same-site")][..],
            // DNS rebinding: the page's own name, now pointing here.
            &[
                ("Host", "evil.example:9000"),
                ("Origin", "http://evil.example:9000"),
            ][..],
        ] {
            assert!(sent_from_elsewhere(&head(fields)).is_some(), "{fields:?}");
        }
    }

    #[test]
    fn drain_of_an_unknown_backend_is_a_404() {
        let hub = AdminHub::new(1);
        let reply = String::from_utf8(answer(&hub, "POST", "/backends/nope/drain")).unwrap();
        assert!(reply.starts_with("HTTP/1.1 404"));
    }

    #[test]
    fn a_backend_state_is_timed_from_when_it_changed() {
        use crate::lb::stats::BackendSnapshot;
        let hub = AdminHub::new(1);
        let with_state = |state: &str| Snapshot {
            backends: vec![BackendSnapshot {
                name: "a".into(),
                state: state.into(),
                ..BackendSnapshot::default()
            }],
            ..Snapshot::default()
        };
        hub.publish(0, with_state("up"));
        let first = hub.total().backends[0].state_since.unwrap();
        hub.publish(0, with_state("up"));
        assert_eq!(
            hub.total().backends[0].state_since,
            Some(first),
            "unchanged"
        );
        std::thread::sleep(Duration::from_millis(5));
        hub.publish(0, with_state("drain"));
        let changed = hub.total().backends[0].state_since.unwrap();
        assert!(changed > first, "a change restarts the clock");
    }

    #[test]
    fn maint_reaches_the_workers_and_unknown_names_are_refused() {
        let hub = AdminHub::new(1);
        let reactor = reactor::Reactor::new().unwrap();
        let inbox = hub.attach(reactor.handle());
        hub.publish(0, {
            let mut snapshot = Snapshot::default();
            snapshot.backends.push(crate::lb::stats::BackendSnapshot {
                name: "a".into(),
                ..Default::default()
            });
            snapshot
        });
        let reply = String::from_utf8(answer(&hub, "POST", "/backends/a/maint")).unwrap();
        assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
        assert!(matches!(inbox.try_recv(), Ok(AdminCommand::Maint(name)) if name == "a"));
        let reply = String::from_utf8(answer(&hub, "POST", "/backends/b/maint")).unwrap();
        assert!(reply.starts_with("HTTP/1.1 404"), "{reply}");
    }

    #[test]
    fn commands_reach_every_attached_worker() {
        let hub = AdminHub::new(2);
        let reactors: Vec<_> = (0..2).map(|_| reactor::Reactor::new().unwrap()).collect();
        let inboxes: Vec<_> = reactors.iter().map(|r| hub.attach(r.handle())).collect();
        hub.send(&AdminCommand::Drain("a".into()));
        for inbox in inboxes {
            assert!(matches!(inbox.try_recv(), Ok(AdminCommand::Drain(name)) if name == "a"));
        }
    }
}
