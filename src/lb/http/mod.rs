//! HTTP mode (layer 7): each request is balanced on its own.
//!
//! The adapter between the reactor, the HTTP framing core ([`crate::http`])
//! and the [`BackendPool`](crate::lb::BackendPool). A client connection parses a request head in its
//! read buffer, picks a backend, takes a kept-alive connection to it from the
//! idle pool (or opens one), writes the rewritten head, then streams the body
//! straight from its buffer to the backend. The response comes back the same
//! way: head parsed and rewritten, body streamed from the upstream's buffer
//! to the client. Bodies are never held whole; a full buffer stops reading
//! the sending side. Requests on one connection are served in order, so
//! pipelined requests wait in the client's buffer.

mod client;
mod forward;
mod limits;
mod relay;
mod tunnel;
mod upstream;

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use slab::Slab;

use self::client::{Client, ClientIo, Phase};
use self::limits::{client_buffer_bytes, head_limits};
use self::upstream::{IdlePool, Upstream};
use super::acceptor::{Accepted, Acceptor};
use super::admin::AdminCommand;
use super::backends::Backends;
use super::config::LbConfig;
use super::pool::BackendState;
use super::tls::ClientStream;
use super::worker::{TICK, WorkerLink};
use crate::http::{HeadLimits, RequestParser, error_response};
use crate::reactor::{
    self, Context, FIRST_RESERVED_TOKEN, Interest, ReadSide, Readiness, Service, TcpListener,
    TcpStream, TimerId, Token,
};
use crate::{debug, warn};

const LISTENER: Token = Token(FIRST_RESERVED_TOKEN - 1);
/// Bytes read per socket per wake-up before a connection yields to others.
const BYTES_PER_WAKE: usize = 256 * 1024;
/// Rounds of progress per wake-up for one client before it yields.
const ROUNDS_PER_WAKE: usize = 64;
/// After an error response, how long the client may take to read it.
const LINGER: Duration = Duration::from_secs(2);

const TIMER_CLIENT: u64 = 0;
/// Periodic upkeep: parked connections' age, stats, the access log, accept retries.
const TIMER_TICK: u64 = 1;
/// The end of a graceful stop's drain (`drain_timeout`, which a reload may change).
const TIMER_DRAIN: u64 = 2;

fn client_token(key: usize) -> Token {
    Token(key * 2)
}

fn upstream_token(key: usize) -> Token {
    Token(key * 2 + 1)
}

/// The HTTP-mode balancer, run by a [`reactor::Reactor`].
pub struct HttpBalancer {
    config: LbConfig,
    limits: HeadLimits,
    acceptor: Acceptor,
    backends: Backends,
    link: Option<WorkerLink>,
    /// Bumped by each reload: upstreams from older generations are not parked again.
    generation: u64,
    clients: Slab<Client>,
    upstreams: Slab<Upstream>,
    idle: IdlePool,
    shutting_down: bool,
}

impl HttpBalancer {
    /// A balancer that accepts on `listener` (registered by
    /// [`HttpBalancer::register`]) and forwards requests to the backends.
    pub fn new(
        config: LbConfig,
        listener: TcpListener,
        backends: Backends,
        link: Option<WorkerLink>,
    ) -> Self {
        let limits = head_limits(&config);
        let idle = IdlePool::new(config.backends.len(), config.max_idle_per_backend);
        Self {
            config,
            limits,
            acceptor: Acceptor::new(listener),
            backends,
            link,
            generation: 0,
            clients: Slab::new(),
            upstreams: Slab::new(),
            idle,
            shutting_down: false,
        }
    }

    /// Registers the listener with the reactor that will run this balancer.
    pub fn register(&mut self, registry: &reactor::Registry) -> io::Result<()> {
        self.acceptor.register(registry, LISTENER)
    }

    fn accept(&mut self, ctx: &mut Context<'_>) {
        loop {
            match self
                .acceptor
                .next(self.clients.len(), self.config.max_connections)
            {
                Accepted::Client(stream, addr) => self.open_client(ctx, stream, addr),
                Accepted::Wait => return,
                Accepted::Yield => return ctx.defer(LISTENER),
            }
        }
    }

    fn open_client(&mut self, ctx: &mut Context<'_>, mut socket: TcpStream, addr: SocketAddr) {
        let entry = self.clients.vacant_entry();
        let key = entry.key();
        if let Err(e) = ctx.registry().register(
            &mut socket,
            client_token(key),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            warn!("cannot register client {addr}: {e}");
            return;
        }
        let socket = match ClientStream::accept(socket, self.config.tls.as_ref()) {
            Ok(socket) => socket,
            Err(e) => return warn!("cannot start TLS for client {addr}: {e}"),
        };
        entry.insert(Client {
            io: ClientIo {
                socket,
                inbuf: reactor::Buffer::with_capacity(client_buffer_bytes(&self.config)),
                out: Vec::new(),
                out_written: 0,
                read: ReadSide::new(),
                writable: true,
            },
            addr,
            phase: Phase::ReadingHead,
            parser: RequestParser::new(self.limits),
            last_active: ctx.now(),
            head_started: None,
            timer: None,
            served: 0,
            spare_head: Vec::with_capacity(512),
            generation: self.generation,
        });
        self.drive(ctx, key);
    }

    /// Makes all the progress one client and its upstream can make now.
    fn drive(&mut self, ctx: &mut Context<'_>, ck: usize) {
        if !self.clients.contains(ck) {
            return;
        }
        for _ in 0..ROUNDS_PER_WAKE {
            match self.step(ctx, ck) {
                Ok(true) => {}
                Ok(false) => return self.schedule(ctx, ck),
                Err(e) => {
                    debug!("client connection ended: {e}");
                    return self.close_client(ctx, ck);
                }
            }
            if !self.clients.contains(ck) {
                return;
            }
        }
        ctx.defer(client_token(ck));
        self.schedule(ctx, ck);
    }

    /// Queues an error response for the client and closes after it.
    fn reject(&mut self, ctx: &mut Context<'_>, ck: usize, status: u16, detail: &str) {
        self.abandon_exchange(ctx, ck);
        let client = &mut self.clients[ck];
        debug!("{status} to {}: {detail}", client.addr);
        client
            .io
            .out
            .extend_from_slice(&error_response(status, detail));
        client.phase = Phase::Closing {
            shut: false,
            drain: true,
        };
        client.last_active = ctx.now();
    }

    /// Drops the exchange in flight (if any) with its upstream, which cannot
    /// be reused in an unknown state.
    fn abandon_exchange(&mut self, ctx: &mut Context<'_>, ck: usize) {
        let phase = std::mem::replace(&mut self.clients[ck].phase, Phase::ReadingHead);
        match phase {
            Phase::Forwarding(mut exchange) => {
                if let Some(pick) = exchange.pick.take() {
                    self.backends.pool().finish(pick, ctx.now());
                }
                if let Some(uk) = exchange.upstream.take() {
                    self.close_upstream(uk);
                }
            }
            Phase::Tunnel { upstream, .. } => self.close_upstream(upstream),
            other => self.clients[ck].phase = other,
        }
    }

    fn close_client(&mut self, ctx: &mut Context<'_>, ck: usize) {
        if !self.clients.contains(ck) {
            return;
        }
        self.abandon_exchange(ctx, ck);
        let client = self.clients.remove(ck);
        if let Some((timer, _)) = client.timer {
            ctx.cancel_timer(timer);
        }
        if self.acceptor.connection_closed() {
            ctx.defer(LISTENER);
        }
    }

    fn close_upstream(&mut self, uk: usize) {
        if let Some(upstream) = self.upstreams.try_remove(uk) {
            // Only connections of the current configuration are ever parked.
            if upstream.client.is_none() && upstream.generation == self.generation {
                self.idle.remove(upstream.backend, uk);
            }
        }
    }

    /// Arms the client's timer for its current deadline, if that is earlier
    /// than the one already armed (a later one re-arms itself when it fires).
    fn schedule(&mut self, ctx: &mut Context<'_>, ck: usize) {
        let Some(deadline) = self.deadline(ck) else {
            return;
        };
        let client = &mut self.clients[ck];
        if let Some((timer, at)) = client.timer {
            if at <= deadline {
                return;
            }
            ctx.cancel_timer(timer);
        }
        let timer = ctx.set_timer(deadline, ((ck as u64) << 2) | TIMER_CLIENT);
        client.timer = Some((timer, deadline));
    }

    fn deadline(&self, ck: usize) -> Option<Instant> {
        let client = self.clients.get(ck)?;
        let cfg = &self.config;
        Some(match &client.phase {
            Phase::ReadingHead => match client.head_started {
                Some(started) => started + cfg.head_timeout,
                // A TLS handshake is part of the first request's head.
                None if client.io.socket.is_handshaking() => client.last_active + cfg.head_timeout,
                None => client.last_active + cfg.idle_timeout,
            },
            Phase::Forwarding(exchange) => match exchange.upstream.map(|uk| &self.upstreams[uk]) {
                Some(upstream) if !upstream.connected => {
                    exchange.connect_started + cfg.connect_timeout
                }
                _ => exchange.last_backend_activity.max(client.last_active) + cfg.response_timeout,
            },
            Phase::Tunnel { .. } => client.last_active + cfg.idle_timeout,
            Phase::Closing { .. } => client.last_active + LINGER,
        })
    }

    fn on_client_timer(&mut self, ctx: &mut Context<'_>, ck: usize) {
        let Some(client) = self.clients.get_mut(ck) else {
            return;
        };
        client.timer = None;
        let Some(deadline) = self.deadline(ck) else {
            return;
        };
        if ctx.now() < deadline {
            return self.schedule(ctx, ck);
        }
        let client = &self.clients[ck];
        match &client.phase {
            Phase::ReadingHead if client.io.inbuf.is_empty() => self.close_client(ctx, ck),
            Phase::ReadingHead => {
                let timeout = self.config.head_timeout;
                self.reject(
                    ctx,
                    ck,
                    408,
                    &format!("request head not received within {timeout:?}"),
                );
                self.drive(ctx, ck);
            }
            Phase::Forwarding(exchange) => {
                let connecting = exchange
                    .upstream
                    .is_some_and(|uk| !self.upstreams[uk].connected);
                if connecting {
                    let timeout = self.config.connect_timeout;
                    self.upstream_failed(ctx, ck, &format!("did not accept within {timeout:?}"));
                } else if !exchange.response_started {
                    let timeout = self.config.response_timeout;
                    let backend = exchange.upstream.map(|uk| self.upstreams[uk].addr);
                    let who = backend.map_or_else(String::new, |b| format!("backend {b} "));
                    self.reject(
                        ctx,
                        ck,
                        504,
                        &format!("{who}did not answer within {timeout:?}"),
                    );
                } else {
                    self.close_client(ctx, ck);
                    return;
                }
                self.drive(ctx, ck);
            }
            Phase::Tunnel { .. } | Phase::Closing { .. } => self.close_client(ctx, ck),
        }
    }

    fn on_upstream_ready(&mut self, ctx: &mut Context<'_>, uk: usize, readiness: Readiness) {
        let Some(upstream) = self.upstreams.get_mut(uk) else {
            return;
        };
        upstream.read.note(readiness);
        if readiness.writable || readiness.write_closed || readiness.error {
            upstream.writable = true;
        }
        let Some(ck) = upstream.client else {
            // A parked connection has nothing to say: it was closed or sent junk.
            if readiness.readable || readiness.read_closed || readiness.error {
                self.close_upstream(uk);
            }
            return;
        };
        if !upstream.connected {
            match reactor::finish_connect(&upstream.socket, readiness.writable) {
                Ok(true) => {
                    upstream.connected = true;
                    upstream.writable = true;
                }
                Ok(false) => return,
                Err(e) => {
                    self.upstream_failed(ctx, ck, &format!("refused the connection: {e}"));
                    return self.drive(ctx, ck);
                }
            }
        }
        self.drive(ctx, ck);
    }

    fn on_tick(&mut self, ctx: &mut Context<'_>) {
        self.sweep_idle(ctx.now());
        self.close_parked_out_of_rotation();
        self.publish(ctx.now());
        self.backends.tick();
        if self.acceptor.retry_due() {
            self.accept(ctx);
        }
        ctx.set_timer_after(TICK, TIMER_TICK);
    }

    fn publish(&self, now: Instant) {
        if let Some(link) = &self.link {
            let clients = self.clients.len() as u64;
            link.publish(self.backends.snapshot(
                "http",
                clients,
                self.acceptor.accepted(),
                now,
                SystemTime::now(),
            ));
        }
    }

    /// Switches to a reloaded configuration. Parked connections are closed:
    /// backend indices may have moved, and a removed backend must not be reused.
    /// Clients already connected read their next request head under the new
    /// limits ([`HttpBalancer::refresh_limits`]).
    fn reload(&mut self, ctx: &mut Context<'_>, config: LbConfig) {
        self.backends.reconfigure(ctx, &config);
        self.generation += 1;
        let parked: Vec<usize> = self.idle.iter().collect();
        for uk in parked {
            self.close_upstream(uk);
        }
        self.idle = IdlePool::new(config.backends.len(), config.max_idle_per_backend);
        self.limits = head_limits(&config);
        self.config = config;
        // Clients waiting in the backlog at the old connection limit raise no
        // new readiness (edge-triggered): look at the listener again now.
        ctx.defer(LISTENER);
    }

    /// Closes the parked connections of backends that left rotation (down,
    /// drained, in maintenance): none of them is picked meanwhile, and one
    /// parked before a backend hung or restarted must not carry a request
    /// once it is back.
    fn close_parked_out_of_rotation(&mut self) {
        let out: Vec<usize> = self
            .idle
            .iter()
            .filter(|&uk| {
                let backend = self.upstreams[uk].backend;
                self.backends.pool().state(backend) != BackendState::Up
            })
            .collect();
        for uk in out {
            self.close_upstream(uk);
        }
    }

    fn sweep_idle(&mut self, now: Instant) {
        let max_idle = self.config.pool_idle_timeout;
        let expired: Vec<usize> = self
            .idle
            .iter()
            .filter(|&uk| now.saturating_duration_since(self.upstreams[uk].idle_since) >= max_idle)
            .collect();
        for uk in expired {
            self.close_upstream(uk);
        }
    }
}

impl Service for HttpBalancer {
    fn on_start(&mut self, ctx: &mut Context<'_>) {
        self.backends.start(ctx);
        ctx.set_timer_after(TICK, TIMER_TICK);
    }

    fn on_wake(&mut self, ctx: &mut Context<'_>) {
        while let Some(command) = self.link.as_ref().and_then(WorkerLink::next_command) {
            match command {
                AdminCommand::Reload(config) => self.reload(ctx, *config),
                other => self.backends.command(&other),
            }
        }
        self.close_parked_out_of_rotation();
        self.publish(ctx.now());
    }

    fn on_ready(&mut self, ctx: &mut Context<'_>, token: Token, readiness: Readiness) {
        if token == LISTENER {
            return self.accept(ctx);
        }
        if Backends::owns_token(token) {
            return self.backends.on_check_ready(ctx, token, readiness);
        }
        let key = token.0 / 2;
        if token.0 % 2 == 1 {
            return self.on_upstream_ready(ctx, key, readiness);
        }
        let Some(client) = self.clients.get_mut(key) else {
            return;
        };
        client.io.read.note(readiness);
        if readiness.writable || readiness.write_closed || readiness.error {
            client.io.writable = true;
        }
        // TLS records the socket could not take before go first; a failure
        // shows again on the next write.
        let _ = client.io.socket.flush_pending();
        self.drive(ctx, key);
    }

    fn on_timer(&mut self, ctx: &mut Context<'_>, id: TimerId, payload: u64) {
        if Backends::owns_timer(payload) {
            return self.backends.on_check_timer(ctx, id, payload);
        }
        match payload & 3 {
            TIMER_CLIENT => self.on_client_timer(ctx, (payload >> 2) as usize),
            TIMER_DRAIN => ctx.stop(),
            _ => self.on_tick(ctx),
        }
    }

    fn on_shutdown(&mut self, ctx: &mut Context<'_>) {
        self.acceptor.close();
        self.shutting_down = true;
        self.backends.stop(ctx);
        ctx.set_timer_after(self.config.drain_timeout, TIMER_DRAIN);
        // Idle keep-alive clients have nothing in flight: let them go now.
        // A client accepted but not yet heard from gets its first request
        // served (within the head timeout): it connected while this process
        // was still accepting, which matters in an upgrade.
        let idle: Vec<usize> = self
            .clients
            .iter()
            .filter(|(_, c)| {
                matches!(c.phase, Phase::ReadingHead) && c.io.inbuf.is_empty() && c.served > 0
            })
            .map(|(k, _)| k)
            .collect();
        for ck in idle {
            self.close_client(ctx, ck);
        }
    }

    fn is_drained(&self) -> bool {
        self.clients.is_empty()
    }
}
