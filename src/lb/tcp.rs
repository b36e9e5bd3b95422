//! TCP mode (layer 4): one backend per client connection, bytes piped both ways.
//!
//! The adapter between the reactor and the [`BackendSet`](crate::lb::BackendSet). Each session owns
//! a client socket, at most one backend socket and one bounded buffer per
//! direction while bytes wait in it, lent by the worker's [`BufferPool`]
//! (a quiet session holds none; one the pool cannot serve waits on its
//! list). Reads stop when the far side's buffer is full (backpressure),
//! half-closes are passed on once the buffer has drained, and every session has
//! a connect deadline and an idle deadline. A backend that refuses or does not
//! answer in time is reported to the pool and the next one is tried.

use std::io;
use std::net::SocketAddr;
use std::time::{Instant, SystemTime};

use slab::Slab;

use super::access_log::Entry;
use super::admin::AdminCommand;
use super::backend_set::{Pick, hash_ip};
use super::backends::{Admission, Backends};
use super::config::LbConfig;
use super::health::HealthLanes;
use super::queue::Place;
use super::tls::ClientStream;
use super::worker::{TICK, WorkerLink};
use crate::reactor::buffer_pool::{BufferPool, PoolLimits};
use crate::reactor::{
    self, Acceptor, Context, Interest, Kind, Lane, Pipe, Readiness, Service, TcpListener,
    TcpStream, TimerId, Token,
};
use crate::{debug, warn};

mod token;
mod waiting;

use self::token::{Socket, Timer};

/// Bytes read per direction per wake-up before the session yields to others.
const BYTES_PER_WAKE: usize = 256 * 1024;

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
    /// Client (near) to backend (far) and back.
    pipe: Pipe,
    /// Where the picked backend listens (kept: a reload may renumber backends).
    backend_addr: Option<SocketAddr>,
    /// Bytes read from the client and from the backend.
    bytes_up: u64,
    bytes_down: u64,
    opened: Instant,
    /// Whether it waits (or waited) in the queue for a backend under its cap.
    place: Place,
}

/// The TCP-mode balancer, run by a [`reactor::Reactor`].
pub struct TcpBalancer {
    config: LbConfig,
    acceptor: Acceptor,
    backends: Backends,
    link: Option<WorkerLink>,
    sessions: Slab<Session>,
    /// The queue's wake-up token is deferred and not yet handled.
    queue_wake: bool,
    /// Buffers, lent to a session's directions while bytes wait in them.
    buffers: BufferPool,
}

/// The worker's buffers: `buffer_bytes` each, as many as the configuration
/// lends at once.
fn buffer_limits(config: &LbConfig) -> PoolLimits {
    PoolLimits::new(config.buffer_bytes.max(1), config.buffer_count())
}

impl TcpBalancer {
    /// A balancer that accepts on `listener` (already registered by
    /// [`TcpBalancer::register`]) and forwards to the configured backends.
    pub fn new(
        config: LbConfig,
        listener: TcpListener,
        mut backends: Backends,
        link: Option<WorkerLink>,
    ) -> Self {
        backends.use_lanes(HealthLanes {
            tokens: Lane::of(Socket::Health),
            timers: Lane::of(Timer::Health),
        });
        let buffers = BufferPool::new(buffer_limits(&config), Instant::now())
            .expect("the configuration keeps buffer sizes and counts above zero");
        Self {
            buffers,
            config,
            acceptor: Acceptor::new(listener).retry_on_timer(Timer::AcceptRetry.timer(0)),
            backends,
            link,
            sessions: Slab::new(),
            queue_wake: false,
        }
    }

    /// Registers the listener with the reactor that will run this balancer.
    pub fn register(&mut self, registry: &reactor::Registry) -> io::Result<()> {
        self.acceptor.register(registry, Socket::Listener.token(0))
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
        self.buffers.trim(ctx.now());
        super::http::shrink_when_mostly_vacant(&mut self.sessions);
        self.publish(ctx.now());
        self.backends.tick();
        ctx.set_timer_after(TICK, Timer::Tick.timer(0));
    }

    fn accept(&mut self, ctx: &mut Context<'_>) {
        let max = self.config.max_connections;
        while let Some((stream, addr)) = self.acceptor.accept(ctx, self.sessions.len(), max) {
            self.open_session(ctx, stream, addr);
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
            Socket::Client.token(key),
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
        let idle_timer = ctx.set_timer(now + self.config.idle_timeout, Timer::Idle.timer(key));
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
            pipe: Pipe::new(),
            backend_addr: None,
            bytes_up: 0,
            bytes_down: 0,
            opened: now,
            place: Place::Outside,
        });
        if !self.connect_next(ctx, key) {
            self.close(ctx, key);
        }
    }

    /// Starts a connect to the next backend the strategy gives, or lines
    /// the session up in the queue while the backends are at their caps.
    /// False when every backend has been tried.
    fn connect_next(&mut self, ctx: &mut Context<'_>, key: usize) -> bool {
        let now = ctx.now();
        let session = &mut self.sessions[key];
        let hash = hash_ip(session.client_addr.ip());
        loop {
            // A session that tried a backend already had its turn.
            let admitted = session.place.is_admitted() || !session.tried.is_empty();
            let pick = match self
                .backends
                .pick_or_wait(now, &session.tried, hash, admitted)
            {
                Admission::Picked(pick) => pick,
                Admission::Wait(target) => return self.enqueue(ctx, key, target),
                Admission::Refused => break,
            };
            session.tried.push(pick.backend);
            let addr = self.backends.addr(pick.backend);
            let started = reactor::connect(addr).and_then(|mut stream| {
                ctx.registry()
                    .register(
                        &mut stream,
                        Socket::Backend.token(key),
                        Interest::READABLE | Interest::WRITABLE,
                    )
                    .map(|()| stream)
            });
            match started {
                Ok(stream) => {
                    session.backend = Some(stream);
                    session.backend_addr = Some(addr);
                    session.pick = Some(pick);
                    let deadline = now + self.config.connect_timeout;
                    session.connect_timer =
                        Some(ctx.set_timer(deadline, Timer::Connect.timer(key)));
                    return true;
                }
                Err(e) => {
                    warn!("backend {addr} failed: {e}");
                    self.backends.backend_set().fail(pick, now);
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
            self.backends.backend_set().fail(pick, ctx.now());
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
                    // The same event may already say the backend sent bytes.
                    session.pipe.far_connected(readiness);
                }
                Ok(false) => return,
                Err(e) => {
                    let reason = format!("failed: {e}");
                    return self.connect_failed(ctx, key, &reason);
                }
            }
        } else {
            session.pipe.note_far(readiness);
        }
        self.drive(ctx, key);
    }

    fn on_client(&mut self, ctx: &mut Context<'_>, key: usize, readiness: Readiness) {
        let session = &mut self.sessions[key];
        // TLS records the socket could not take before go first; a failure
        // shows again on the next write.
        let _ = session.client.flush_pending();
        session.pipe.note_near(readiness);
        self.drive(ctx, key);
    }

    fn drive(&mut self, ctx: &mut Context<'_>, key: usize) {
        let session = &mut self.sessions[key];
        let backend = session.backend.as_mut().filter(|_| session.connected);
        match session.pipe.pump(
            &mut session.client,
            backend,
            BYTES_PER_WAKE,
            &mut self.buffers,
        ) {
            Ok(pumped) => {
                if pumped.starved {
                    // Called again when a buffer comes back.
                    self.buffers.wait(Socket::Client.token(key));
                }
                if pumped.up + pumped.down > 0 {
                    session.last_active = ctx.now();
                    session.bytes_up += pumped.up as u64;
                    session.bytes_down += pumped.down as u64;
                }
                // TLS records still queued for the client would be lost on close.
                if pumped.done && !session.client.has_pending_output() {
                    self.close(ctx, key);
                } else if pumped.capped {
                    ctx.defer(Socket::Client.token(key));
                }
            }
            Err(e) => {
                debug!("session of {} ended: {e}", session.client_addr);
                self.close(ctx, key);
            }
        }
    }

    fn close(&mut self, ctx: &mut Context<'_>, key: usize) {
        let mut session = self.sessions.remove(key);
        session.pipe.give_back(&mut self.buffers);
        if let Place::Waiting(ticket) = session.place {
            self.backends.queue().leave(ticket);
        }
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
                let index = self.backends.backend_set().index_of(&pick);
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
                self.backends.backend_set().finish(pick, ctx.now());
            } else {
                self.backends.backend_set().release(pick);
            }
        }
        // Dropping the sockets closes them, which also removes them from epoll.
        self.acceptor.on_connection_closed(ctx);
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
            session.idle_timer = Some(ctx.set_timer(deadline, Timer::Idle.timer(key)));
        }
    }
}

impl Service for TcpBalancer {
    fn on_start(&mut self, ctx: &mut Context<'_>) {
        self.backends.start(ctx);
        ctx.set_timer_after(TICK, Timer::Tick.timer(0));
    }

    fn on_wake(&mut self, ctx: &mut Context<'_>) {
        while let Some(command) = self.link.as_ref().and_then(WorkerLink::next_command) {
            match command {
                AdminCommand::Reload(config) => {
                    self.backends.reconfigure(ctx, &config);
                    // Validated like the first configuration: no limit is zero.
                    let _ = self.buffers.resize(buffer_limits(&config), ctx.now());
                    self.config = *config;
                    // Clients waiting in the backlog at the old connection
                    // limit raise no new readiness: look at the listener now.
                    ctx.defer(Socket::Listener.token(0));
                }
                other => self.backends.command(&other),
            }
        }
        self.publish(ctx.now());
        self.wake_queue(ctx);
    }

    fn on_ready(&mut self, ctx: &mut Context<'_>, token: Token, readiness: Readiness) {
        match Socket::of_token(token) {
            Some((Socket::Listener, _)) => self.accept(ctx),
            Some((Socket::Health, _)) => self.backends.on_check_ready(ctx, token, readiness),
            // A session closed earlier in this turn may still have events.
            Some((Socket::Client, key)) if self.sessions.contains(key) => {
                self.on_client(ctx, key, readiness);
            }
            Some((Socket::Backend, key)) if self.sessions.contains(key) => {
                self.on_backend(ctx, key, readiness);
            }
            Some((Socket::Queue, _)) => self.admit_queued(ctx),
            _ => {}
        }
        self.wake_queue(ctx);
        self.buffers.wake(|token| ctx.defer(token));
    }

    fn on_timer(&mut self, ctx: &mut Context<'_>, id: TimerId, payload: u64) {
        match Timer::of_timer(payload) {
            Some((Timer::Health, _)) => self.backends.on_check_timer(ctx, id, payload),
            Some((Timer::Tick, _)) => self.on_tick(ctx),
            Some((Timer::Drain, _)) => ctx.stop(),
            Some((Timer::AcceptRetry, _)) => self.acceptor.on_retry_timer(ctx),
            Some((Timer::Idle, key)) => self.on_idle_timer(ctx, key),
            Some((Timer::Connect, key)) => {
                if let Some(session) = self.sessions.get_mut(key) {
                    session.connect_timer = None;
                    if session.place.is_waiting() {
                        self.queue_timed_out(ctx, key);
                    } else {
                        let timeout = self.config.connect_timeout;
                        let reason = format!("did not accept within {timeout:?}");
                        self.connect_failed(ctx, key, &reason);
                    }
                }
            }
            None => {}
        }
        self.wake_queue(ctx);
        self.buffers.wake(|token| ctx.defer(token));
    }

    fn on_shutdown(&mut self, ctx: &mut Context<'_>) {
        // Dropping the listener stops new connections; open sessions go on.
        self.acceptor.close();
        self.backends.stop(ctx);
        ctx.set_timer_after(self.config.drain_timeout, Timer::Drain.timer(0));
    }

    fn is_drained(&self) -> bool {
        self.sessions.is_empty()
    }
}
