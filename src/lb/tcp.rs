//! TCP mode (layer 4): one backend per client connection, bytes piped both ways.
//!
//! The adapter between the reactor and the [`BackendPool`](crate::lb::BackendPool). Each session owns
//! a client socket, at most one backend socket and one bounded buffer per
//! direction. Reads stop when the far side's buffer is full (backpressure),
//! half-closes are passed on once the buffer has drained, and every session has
//! a connect deadline and an idle deadline. A backend that refuses or does not
//! answer in time is reported to the pool and the next one is tried.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Instant, SystemTime};

use slab::Slab;

use super::acceptor::{Accepted, Acceptor};
use super::access_log::Entry;
use super::admin::AdminCommand;
use super::backends::Backends;
use super::config::LbConfig;
use super::pool::{Pick, hash_ip};
use super::tls::{ClientStream, ShutdownWrite};
use super::worker::{TICK, WorkerLink};
use crate::reactor::{
    self, Buffer, Context, Interest, ReadSide, Readiness, Service, TcpListener, TcpStream, TimerId,
    Token, WriteStop,
};
use crate::{debug, warn};

const LISTENER: Token = Token(0);
/// Bytes read per direction per wake-up before the session yields to others.
const BYTES_PER_WAKE: usize = 256 * 1024;

const TIMER_CONNECT: u64 = 0;
const TIMER_IDLE: u64 = 1;
const TIMER_TICK: u64 = 2;
/// The tick's kind with this key marks the end of a graceful stop's drain
/// (the fourth kind belongs to the health checks).
const DRAIN_KEY: usize = 1;

fn client_token(key: usize) -> Token {
    Token(2 * key + 1)
}

fn backend_token(key: usize) -> Token {
    Token(2 * key + 2)
}

fn timer_payload(key: usize, kind: u64) -> u64 {
    ((key as u64) << 2) | kind
}

/// One direction of a session: bytes from `src` waiting for `dst`.
#[derive(Debug)]
struct Flow {
    buf: Buffer,
    /// The source's read side.
    src: ReadSide,
    /// The destination may take bytes (set by readiness, cleared at `WouldBlock`).
    dst_writable: bool,
    /// End of stream was passed on to the destination.
    shut: bool,
}

impl Flow {
    fn new(capacity: usize, src: ReadSide) -> Self {
        Self {
            buf: Buffer::with_capacity(capacity),
            src,
            dst_writable: true,
            shut: false,
        }
    }

    /// Moves bytes until neither side can make progress or the budget is spent.
    /// Returns the bytes read and whether work was left for lack of budget.
    fn run<S: Read + ?Sized, D: Write + ShutdownWrite + ?Sized>(
        &mut self,
        src: &mut S,
        mut dst: Option<&mut D>,
    ) -> io::Result<(usize, bool)> {
        let mut moved = 0;
        loop {
            if let Some(dst) = dst.as_deref_mut() {
                if self.dst_writable && !self.buf.is_empty() {
                    let (_, stop) = self.buf.write_to(dst)?;
                    if stop == WriteStop::WouldBlock {
                        self.dst_writable = false;
                    }
                }
            }
            if !self.src.can_read() || self.buf.is_full() || moved >= BYTES_PER_WAKE {
                break;
            }
            let n = self.src.fill(&mut self.buf, src, BYTES_PER_WAKE - moved)?;
            moved += n;
            if n == 0 {
                break;
            }
        }
        if let Some(dst) = dst {
            if self.src.eof && self.buf.is_empty() && !self.shut {
                // Half close: the peer is done sending; the other way stays open.
                dst.shutdown_write()?;
                self.shut = true;
            }
        }
        let capped = moved >= BYTES_PER_WAKE && self.src.can_read();
        Ok((moved, capped))
    }

    fn finished(&self) -> bool {
        self.shut
    }
}

/// A client connection and its backend.
#[derive(Debug)]
struct Session {
    client: ClientStream,
    client_addr: SocketAddr,
    backend: Option<TcpStream>,
    connected: bool,
    pick: Option<Pick>,
    tried: Vec<usize>,
    connect_timer: Option<TimerId>,
    idle_timer: Option<TimerId>,
    last_active: Instant,
    /// Client to backend.
    up: Flow,
    /// Backend to client.
    down: Flow,
    /// Where the picked backend listens (kept: a reload may renumber backends).
    backend_addr: Option<SocketAddr>,
    /// Bytes read from the client and from the backend.
    bytes_up: u64,
    bytes_down: u64,
    opened: Instant,
}

enum Progress {
    Open { capped: bool },
    Done,
}

impl Session {
    fn pump(&mut self, now: Instant) -> io::Result<Progress> {
        let backend = self.backend.as_mut().filter(|_| self.connected);
        let (up_moved, up_capped) = self.up.run(&mut self.client, backend)?;
        let (down_moved, down_capped) = match self.backend.as_mut().filter(|_| self.connected) {
            Some(backend) => self.down.run(backend, Some(&mut self.client))?,
            None => (0, false),
        };
        if up_moved + down_moved > 0 {
            self.last_active = now;
            self.bytes_up += up_moved as u64;
            self.bytes_down += down_moved as u64;
        }
        // TLS records still queued for the client would be lost on close.
        if self.connected
            && self.up.finished()
            && self.down.finished()
            && !self.client.has_pending_output()
        {
            return Ok(Progress::Done);
        }
        Ok(Progress::Open {
            capped: up_capped || down_capped,
        })
    }
}

/// The TCP-mode balancer, run by a [`reactor::Reactor`].
pub struct TcpBalancer {
    config: LbConfig,
    acceptor: Acceptor,
    backends: Backends,
    link: Option<WorkerLink>,
    sessions: Slab<Session>,
}

impl TcpBalancer {
    /// A balancer that accepts on `listener` (already registered by
    /// [`TcpBalancer::register`]) and forwards to the configured backends.
    pub fn new(
        config: LbConfig,
        listener: TcpListener,
        backends: Backends,
        link: Option<WorkerLink>,
    ) -> Self {
        Self {
            config,
            acceptor: Acceptor::new(listener),
            backends,
            link,
            sessions: Slab::new(),
        }
    }

    /// Registers the listener with the reactor that will run this balancer.
    pub fn register(&mut self, registry: &reactor::Registry) -> io::Result<()> {
        self.acceptor.register(registry, LISTENER)
    }

    fn publish(&self, now: Instant) {
        if let Some(link) = &self.link {
            let sessions = self.sessions.len() as u64;
            link.publish(self.backends.snapshot(
                "tcp",
                sessions,
                self.acceptor.accepted(),
                now,
                SystemTime::now(),
            ));
        }
    }

    fn on_tick(&mut self, ctx: &mut Context<'_>) {
        self.publish(ctx.now());
        self.backends.tick();
        if self.acceptor.retry_due() {
            self.accept(ctx);
        }
        ctx.set_timer_after(TICK, timer_payload(0, TIMER_TICK));
    }

    fn accept(&mut self, ctx: &mut Context<'_>) {
        loop {
            match self
                .acceptor
                .next(self.sessions.len(), self.config.max_connections)
            {
                Accepted::Client(stream, addr) => self.open_session(ctx, stream, addr),
                Accepted::Wait => return,
                Accepted::Yield => return ctx.defer(LISTENER),
            }
        }
    }

    fn open_session(
        &mut self,
        ctx: &mut Context<'_>,
        mut client: TcpStream,
        client_addr: SocketAddr,
    ) {
        let entry = self.sessions.vacant_entry();
        let key = entry.key();
        if let Err(e) = ctx.registry().register(
            &mut client,
            client_token(key),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            warn!("cannot register client {client_addr}: {e}");
            return;
        }
        let client = match ClientStream::accept(client, self.config.tls.as_ref()) {
            Ok(client) => client,
            Err(e) => return warn!("cannot start TLS for client {client_addr}: {e}"),
        };
        let now = ctx.now();
        let idle_timer = ctx.set_timer(
            now + self.config.idle_timeout,
            timer_payload(key, TIMER_IDLE),
        );
        entry.insert(Session {
            client,
            client_addr,
            backend: None,
            connected: false,
            pick: None,
            tried: Vec::new(),
            connect_timer: None,
            idle_timer: Some(idle_timer),
            last_active: now,
            up: Flow::new(self.config.buffer_bytes, ReadSide::new()),
            // The backend is read once its readiness says so, not before.
            down: Flow::new(self.config.buffer_bytes, ReadSide::waiting()),
            backend_addr: None,
            bytes_up: 0,
            bytes_down: 0,
            opened: now,
        });
        if !self.connect_next(ctx, key) {
            self.close(ctx, key);
        }
    }

    /// Starts a connect to the next backend the strategy gives. False when
    /// every backend has been tried.
    fn connect_next(&mut self, ctx: &mut Context<'_>, key: usize) -> bool {
        let now = ctx.now();
        let session = &mut self.sessions[key];
        let hash = hash_ip(session.client_addr.ip());
        while let Some(pick) = self.backends.pool().pick(now, &session.tried, hash) {
            session.tried.push(pick.backend);
            let addr = self.backends.addr(pick.backend);
            let started = reactor::connect(addr).and_then(|mut stream| {
                ctx.registry()
                    .register(
                        &mut stream,
                        backend_token(key),
                        Interest::READABLE | Interest::WRITABLE,
                    )
                    .map(|()| stream)
            });
            match started {
                Ok(stream) => {
                    session.backend = Some(stream);
                    session.backend_addr = Some(addr);
                    session.pick = Some(pick);
                    session.connect_timer = Some(ctx.set_timer(
                        now + self.config.connect_timeout,
                        timer_payload(key, TIMER_CONNECT),
                    ));
                    return true;
                }
                Err(e) => {
                    warn!("backend {addr} failed: {e}");
                    self.backends.pool().fail(pick, now);
                }
            }
        }
        warn!(
            "no backend reachable for client {}; closing it",
            session.client_addr
        );
        false
    }

    fn connect_failed(&mut self, ctx: &mut Context<'_>, key: usize, reason: &str) {
        let session = &mut self.sessions[key];
        if let Some(timer) = session.connect_timer.take() {
            ctx.cancel_timer(timer);
        }
        session.backend = None;
        if let Some(pick) = session.pick.take() {
            if let Some(addr) = session.backend_addr.take() {
                warn!("backend {addr} {reason}");
            }
            self.backends.pool().fail(pick, ctx.now());
        }
        if !self.connect_next(ctx, key) {
            self.close(ctx, key);
        }
    }

    fn on_backend(&mut self, ctx: &mut Context<'_>, key: usize, readiness: Readiness) {
        let session = &mut self.sessions[key];
        if !session.connected {
            let Some(backend) = session.backend.as_ref() else {
                return;
            };
            match reactor::finish_connect(backend, readiness.writable) {
                Ok(true) => {
                    session.connected = true;
                    if let Some(timer) = session.connect_timer.take() {
                        ctx.cancel_timer(timer);
                    }
                    session.up.dst_writable = true;
                    // The same event may already say the backend sent bytes.
                    session.down.src.note(readiness);
                }
                Ok(false) => return,
                Err(e) => {
                    let reason = format!("failed: {e}");
                    return self.connect_failed(ctx, key, &reason);
                }
            }
        } else {
            session.down.src.note(readiness);
            if readiness.writable || readiness.write_closed || readiness.error {
                session.up.dst_writable = true;
            }
        }
        self.drive(ctx, key);
    }

    fn on_client(&mut self, ctx: &mut Context<'_>, key: usize, readiness: Readiness) {
        let session = &mut self.sessions[key];
        // TLS records the socket could not take before go first; a failure
        // shows again on the next write.
        let _ = session.client.flush_pending();
        session.up.src.note(readiness);
        if readiness.writable || readiness.write_closed || readiness.error {
            session.down.dst_writable = true;
        }
        self.drive(ctx, key);
    }

    fn drive(&mut self, ctx: &mut Context<'_>, key: usize) {
        let session = &mut self.sessions[key];
        match session.pump(ctx.now()) {
            Ok(Progress::Open { capped: true }) => ctx.defer(client_token(key)),
            Ok(Progress::Open { capped: false }) => {}
            Ok(Progress::Done) => self.close(ctx, key),
            Err(e) => {
                debug!("session of {} ended: {e}", session.client_addr);
                self.close(ctx, key);
            }
        }
    }

    fn close(&mut self, ctx: &mut Context<'_>, key: usize) {
        let session = self.sessions.remove(key);
        for timer in [session.connect_timer, session.idle_timer]
            .into_iter()
            .flatten()
        {
            ctx.cancel_timer(timer);
        }
        if let Some(pick) = session.pick {
            self.backends
                .count_bytes(&pick, session.bytes_up, session.bytes_down);
            if self.backends.logging() {
                let index = self.backends.pool().index_of(&pick);
                let name = index.map(|i| self.backends.name(i).to_string());
                self.backends.log(&Entry {
                    client: session.client_addr,
                    request: "TCP",
                    status: 0,
                    bytes: session.bytes_down,
                    backend: name.as_deref().unwrap_or("-"),
                    duration: ctx.now().saturating_duration_since(session.opened),
                });
            }
            if session.connected {
                self.backends.pool().finish(pick, ctx.now());
            } else {
                self.backends.pool().release(pick);
            }
        }
        // Dropping the sockets closes them, which also removes them from epoll.
        if self.acceptor.connection_closed() {
            ctx.defer(LISTENER);
        }
    }

    fn on_idle_timer(&mut self, ctx: &mut Context<'_>, key: usize) {
        let idle_timeout = self.config.idle_timeout;
        let Some(session) = self.sessions.get_mut(key) else {
            return;
        };
        session.idle_timer = None;
        let deadline = session.last_active + idle_timeout;
        if ctx.now() >= deadline {
            debug!(
                "session of {} idle for {idle_timeout:?}; closing",
                session.client_addr
            );
            self.close(ctx, key);
        } else {
            // Activity moved the deadline; one timer per session, re-armed lazily,
            // keeps the hot path free of timer updates.
            session.idle_timer = Some(ctx.set_timer(deadline, timer_payload(key, TIMER_IDLE)));
        }
    }
}

impl Service for TcpBalancer {
    fn on_start(&mut self, ctx: &mut Context<'_>) {
        self.backends.start(ctx);
        ctx.set_timer_after(TICK, timer_payload(0, TIMER_TICK));
    }

    fn on_wake(&mut self, ctx: &mut Context<'_>) {
        while let Some(command) = self.link.as_ref().and_then(WorkerLink::next_command) {
            match command {
                AdminCommand::Reload(config) => {
                    self.backends.reconfigure(ctx, &config);
                    self.config = *config;
                    // Clients waiting in the backlog at the old connection
                    // limit raise no new readiness: look at the listener now.
                    ctx.defer(LISTENER);
                }
                other => self.backends.command(&other),
            }
        }
        self.publish(ctx.now());
    }

    fn on_ready(&mut self, ctx: &mut Context<'_>, token: Token, readiness: Readiness) {
        if token == LISTENER {
            return self.accept(ctx);
        }
        if Backends::owns_token(token) {
            return self.backends.on_check_ready(ctx, token, readiness);
        }
        let key = (token.0 - 1) / 2;
        if !self.sessions.contains(key) {
            return; // an event for a session closed earlier in this turn
        }
        if token == client_token(key) {
            self.on_client(ctx, key, readiness);
        } else {
            self.on_backend(ctx, key, readiness);
        }
    }

    fn on_timer(&mut self, ctx: &mut Context<'_>, id: TimerId, payload: u64) {
        if Backends::owns_timer(payload) {
            return self.backends.on_check_timer(ctx, id, payload);
        }
        let key = (payload >> 2) as usize;
        match payload & 3 {
            TIMER_TICK if key == DRAIN_KEY => ctx.stop(),
            TIMER_TICK => self.on_tick(ctx),
            TIMER_IDLE => self.on_idle_timer(ctx, key),
            _ => {
                if let Some(session) = self.sessions.get_mut(key) {
                    session.connect_timer = None;
                    let timeout = self.config.connect_timeout;
                    self.connect_failed(ctx, key, &format!("did not accept within {timeout:?}"));
                }
            }
        }
    }

    fn on_shutdown(&mut self, ctx: &mut Context<'_>) {
        // Dropping the listener stops new connections; open sessions go on.
        self.acceptor.close();
        self.backends.stop(ctx);
        ctx.set_timer_after(
            self.config.drain_timeout,
            timer_payload(DRAIN_KEY, TIMER_TICK),
        );
    }

    fn is_drained(&self) -> bool {
        self.sessions.is_empty()
    }
}
