//! HTTP mode (layer 7): each request is balanced on its own.
//!
//! Read top to bottom, a request goes: the reactor reports readiness
//! ([`HttpBalancer`]'s `Service` impl, below), the adapter (`adapter`)
//! looks the connection up and steps its state machine (`client`), which
//! reads a request head from the client's buffer, picks a backend and asks
//! for a connection to it (a kept-alive one from the idle pool, `upstream`,
//! or a new one), relays the rewritten head and the body
//! (`client/exchange`), then the response the same way: head parsed and
//! rewritten, body streamed from the backend's buffer to the client. Bodies
//! are never held whole; a full buffer stops reading the sending side.
//! Requests on one connection are served in order, so pipelined requests
//! wait in the client's buffer. The machine's states and transitions are
//! tabled in `client` and `client/forwarding`; `--log-level debug` prints
//! each transition.
//!
//! Every socket read and write goes through `peer`; tokens and timer
//! payloads are packed in `token`; the state machine touches no socket,
//! so its unit tests run on bytes in memory.
//!
//! Read buffers are lent by the worker's [`BufferPool`] only while bytes
//! wait in them: a kept-alive client between requests and a parked backend
//! connection hold none. A read the pool cannot serve waits, its client on
//! the pool's list, and is called again when a buffer comes back; the tick
//! trims the buffers kept above recent need.

mod adapter;
mod client;
mod peer;
mod settings;
#[cfg(test)]
mod tests;
mod token;
mod tunnel;
mod upstream;
mod wait_queue;

use std::io;
use std::time::{Instant, SystemTime};

use slab::Slab;

use self::adapter::Client;
use self::settings::Settings;
use self::token::{Socket, Timer};
use self::upstream::{IdlePool, Upstream};
use super::admin::AdminCommand;
use super::backend_set::BackendState;
use super::backends::Backends;
use super::config::LbConfig;
use super::health::HealthLanes;
use super::worker::{TICK, WorkerLink};
use crate::reactor::buffer_pool::BufferPool;
use crate::reactor::{
    self, Acceptor, Context, Kind, Lane, Readiness, Service, TcpListener, TimerId, Token,
};

/// The HTTP-mode balancer, run by a [`reactor::Reactor`].
pub struct HttpBalancer {
    settings: Settings,
    acceptor: Acceptor,
    backends: Backends,
    link: Option<WorkerLink>,
    clients: Slab<Client>,
    upstreams: Slab<Upstream>,
    idle: IdlePool,
    /// The queue's wake-up token is deferred and not yet handled.
    queue_wake: bool,
    /// Read buffers, lent while bytes wait in them.
    buffers: BufferPool,
}

impl HttpBalancer {
    /// A balancer that accepts on `listener` (registered by
    /// [`HttpBalancer::register`]) and forwards requests to the backends.
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
        let idle = IdlePool::new(config.backends.len(), config.max_idle_per_backend);
        let buffers = BufferPool::new(settings::buffer_limits(&config), Instant::now())
            .expect("the configuration keeps buffer sizes and counts above zero");
        Self {
            buffers,
            settings: Settings::new(config),
            acceptor: Acceptor::new(listener).retry_on_timer(Timer::AcceptRetry.timer(0)),
            backends,
            link,
            clients: Slab::new(),
            upstreams: Slab::new(),
            idle,
            queue_wake: false,
        }
    }

    /// Registers the listener with the reactor that will run this balancer.
    pub fn register(&mut self, registry: &reactor::Registry) -> io::Result<()> {
        self.acceptor.register(registry, Socket::Listener.token(0))
    }

    fn on_tick(&mut self, ctx: &mut Context<'_>) {
        self.sweep_idle(ctx.now());
        self.buffers.trim(ctx.now());
        self.close_parked_out_of_rotation();
        shrink_when_mostly_vacant(&mut self.clients);
        shrink_when_mostly_vacant(&mut self.upstreams);
        self.publish(ctx.now());
        self.backends.tick();
        ctx.set_timer_after(TICK, Timer::Tick.timer(0));
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
    /// limits.
    fn reload(&mut self, ctx: &mut Context<'_>, config: LbConfig) {
        self.backends.reconfigure(ctx, &config);
        let parked: Vec<usize> = self.idle.iter().collect();
        for uk in parked {
            self.close_upstream(uk);
        }
        self.idle = IdlePool::new(config.backends.len(), config.max_idle_per_backend);
        // Validated like the first configuration: no limit is zero.
        let _ = self
            .buffers
            .resize(settings::buffer_limits(&config), ctx.now());
        self.settings.reload(config);
        // Clients waiting in the backlog at the old connection limit raise no
        // new readiness (edge-triggered): look at the listener again now.
        ctx.defer(Socket::Listener.token(0));
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
                self.backends.backend_set().state(backend) != BackendState::Up
            })
            .collect();
        for uk in out {
            self.close_upstream(uk);
        }
    }

    fn sweep_idle(&mut self, now: Instant) {
        let max_idle = self.settings.config.pool_idle_timeout;
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

/// Gives a slab's memory back once a crowd has left: a slab keeps the room
/// of its peak (hundreds of bytes per connection), and nothing else would
/// ever free it. It shrinks only past its last entry in use, and only when
/// mostly vacant, so that a steady load does not reallocate every tick.
pub(super) fn shrink_when_mostly_vacant<T>(slab: &mut Slab<T>) {
    if slab.capacity() > SLAB_KEPT_ENTRIES && slab.capacity() / 4 > slab.len() {
        slab.shrink_to_fit();
    }
}

/// Slab entries kept however few are in use: below this, shrinking saves
/// too little to be worth a reallocation.
const SLAB_KEPT_ENTRIES: usize = 256;

impl Service for HttpBalancer {
    fn on_start(&mut self, ctx: &mut Context<'_>) {
        self.backends.start(ctx);
        ctx.set_timer_after(TICK, Timer::Tick.timer(0));
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
        self.wake_queue(ctx);
    }

    fn on_ready(&mut self, ctx: &mut Context<'_>, token: Token, readiness: Readiness) {
        match Socket::of_token(token) {
            Some((Socket::Listener, _)) => self.accept(ctx),
            Some((Socket::Client, ck)) => self.on_client_ready(ctx, ck, readiness),
            Some((Socket::Upstream, uk)) => self.on_upstream_ready(ctx, uk, readiness),
            Some((Socket::Health, _)) => self.backends.on_check_ready(ctx, token, readiness),
            Some((Socket::Queue, _)) => self.admit_queued(ctx),
            None => {}
        }
        self.wake_queue(ctx);
        self.buffers.wake(|token| ctx.defer(token));
    }

    fn on_timer(&mut self, ctx: &mut Context<'_>, id: TimerId, payload: u64) {
        match Timer::of_timer(payload) {
            Some((Timer::Client, ck)) => self.on_client_timer(ctx, ck),
            Some((Timer::Tick, _)) => self.on_tick(ctx),
            Some((Timer::Drain, _)) => ctx.stop(),
            Some((Timer::AcceptRetry, _)) => self.acceptor.on_retry_timer(ctx),
            Some((Timer::Health, _)) => self.backends.on_check_timer(ctx, id, payload),
            None => {}
        }
        self.wake_queue(ctx);
        self.buffers.wake(|token| ctx.defer(token));
    }

    fn on_shutdown(&mut self, ctx: &mut Context<'_>) {
        self.acceptor.close();
        self.settings.shutting_down = true;
        self.backends.stop(ctx);
        ctx.set_timer_after(self.settings.config.drain_timeout, Timer::Drain.timer(0));
        // Idle keep-alive clients have nothing in flight: let them go now.
        // A client accepted but not yet heard from gets its first request
        // served (within the head timeout): it connected while this process
        // was still accepting, which matters in an upgrade.
        let idle: Vec<usize> = self
            .clients
            .iter()
            .filter(|(_, c)| c.connection.is_between_requests() && c.peer.has_no_input())
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
