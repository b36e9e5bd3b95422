//! The pump: moves readiness, time and sockets between the reactor and each
//! connection's [`Incoming`] state machine. It looks a connection up once
//! per round, lends the machine its sockets, and does what the machine's
//! [`Action`] asks: lend a backend connection (parked or new), park or
//! close one, close the client, arm the deadline timer.

use std::mem;
use std::net::SocketAddr;
use std::time::Instant;

use super::HttpBalancer;
use super::incoming::{Action, Env, Incoming};
use super::peer::Peer;
use super::settings::{ROUNDS_PER_WAKE, Settings};
use super::token::{Socket, Timer};
use super::upstream::Upstream;
use crate::lb::backend_set::Pick;
use crate::lb::tls::ClientStream;
use crate::reactor::{self, Context, Interest, Kind, Readiness, TcpStream, TimerId};
use crate::{debug, warn};

/// A client connection: its socket, its state machine, the backend
/// connection lent to it, and its armed deadline.
#[derive(Debug)]
pub(super) struct ClientConnection {
    pub peer: Peer<ClientStream>,
    pub incoming: Incoming,
    /// Key of the backend connection lent to it.
    pub upstream: Option<usize>,
    /// The armed deadline timer and when it fires.
    pub timer: Option<(TimerId, Instant)>,
    /// When it was accepted.
    pub accepted: Instant,
}

impl ClientConnection {
    /// When it times out: the state machine's deadline, or sooner while a
    /// TLS handshake is under way (part of the first request's head).
    fn deadline(&self, settings: &Settings) -> Instant {
        let deadline = self.incoming.deadline(settings);
        if self.peer.stream.is_handshaking() {
            deadline.min(self.accepted + settings.config.head_timeout)
        } else {
            deadline
        }
    }
}

/// After an action: go on stepping, or stop (waiting, or closed).
enum Flow {
    Again,
    Stop,
}

impl HttpBalancer {
    pub(super) fn accept(&mut self, ctx: &mut Context<'_>) {
        let max_open = self.settings.config.max_connections;
        while let Some((stream, addr)) = self.acceptor.accept(ctx, self.clients.len(), max_open) {
            self.open_client(ctx, stream, addr);
        }
    }

    fn open_client(&mut self, ctx: &mut Context<'_>, mut socket: TcpStream, addr: SocketAddr) {
        let entry = self.clients.vacant_entry();
        let key = entry.key();
        let token = Socket::Client.token(key);
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(e) = ctx.registry().register(&mut socket, token, interest) {
            warn!("cannot register client {addr}: {e}");
            return;
        }
        let stream = match ClientStream::accept(socket, self.settings.config.tls.as_ref()) {
            Ok(stream) => stream,
            Err(e) => return warn!("cannot start TLS for client {addr}: {e}"),
        };
        let mut incoming = Incoming::new(addr, &self.settings, ctx.now());
        if stream.is_tls() {
            incoming = incoming.over_tls();
        }
        entry.insert(ClientConnection {
            peer: Peer::connected(stream),
            incoming,
            upstream: None,
            timer: None,
            accepted: ctx.now(),
        });
        self.drive(ctx, key);
    }

    /// Makes all the progress one client and its backend connection can make now.
    pub(super) fn drive(&mut self, ctx: &mut Context<'_>, ck: usize) {
        for _ in 0..ROUNDS_PER_WAKE {
            let Some(client) = self.clients.get_mut(ck) else {
                return;
            };
            let mut backend = client.upstream.and_then(|uk| self.upstreams.get_mut(uk));
            let mut env = Env {
                now: ctx.now(),
                settings: &self.settings,
                backends: &mut self.backends,
                buffers: &mut self.buffers,
            };
            let action = client.incoming.step(
                &mut env,
                &mut client.peer,
                backend.as_mut().map(|u| &mut u.peer),
            );
            // A read refused a buffer: called again when one comes back.
            let starved = backend.is_some_and(|u| mem::take(&mut u.peer.starved));
            if mem::take(&mut client.peer.starved) | starved {
                self.buffers.wait(Socket::Client.token(ck));
            }
            if let Flow::Stop = self.perform(ctx, ck, action) {
                return self.schedule(ctx, ck);
            }
        }
        ctx.defer(Socket::Client.token(ck));
        self.schedule(ctx, ck);
    }

    fn perform(&mut self, ctx: &mut Context<'_>, ck: usize, action: Action) -> Flow {
        match action {
            Action::Progress => Flow::Again,
            Action::Wait => Flow::Stop,
            Action::Connect { pick, fresh_only } => {
                self.lend_backend(ctx, ck, pick, fresh_only);
                Flow::Again
            }
            Action::Release { park } => {
                self.release_backend(ctx, ck, park);
                Flow::Again
            }
            Action::Queue { target, earlier } => {
                self.enqueue(ctx, ck, target, earlier);
                Flow::Stop
            }
            Action::Close(reason) => {
                debug!("client connection ended: {reason}");
                self.close_client(ctx, ck);
                Flow::Stop
            }
        }
    }

    /// Gives client `ck` a connection to the picked backend: a parked one
    /// (unless `fresh_only`) or a new one.
    fn lend_backend(&mut self, ctx: &mut Context<'_>, ck: usize, pick: Pick, fresh_only: bool) {
        let backend = pick.backend;
        let parked = if fresh_only {
            None
        } else {
            self.idle.take(backend)
        };
        let lent = match parked {
            Some(uk) => Ok(uk),
            None => self.open_upstream(ctx, backend),
        };
        let Some(client) = self.clients.get_mut(ck) else {
            return self.backends.pool().release(pick);
        };
        match lent {
            Ok(uk) => {
                let upstream = &mut self.upstreams[uk];
                upstream.client = Some(ck);
                client.upstream = Some(uk);
                let addr = self.backends.addr(backend);
                client
                    .incoming
                    .attach(pick, addr, upstream.reused, ctx.now());
            }
            Err(e) => {
                let mut env = Env {
                    now: ctx.now(),
                    settings: &self.settings,
                    backends: &mut self.backends,
                    buffers: &mut self.buffers,
                };
                client.incoming.connect_failed(&mut env, pick, &e);
            }
        }
    }

    fn open_upstream(&mut self, ctx: &mut Context<'_>, backend: usize) -> std::io::Result<usize> {
        let mut socket = reactor::connect(self.backends.addr(backend))?;
        let entry = self.upstreams.vacant_entry();
        let uk = entry.key();
        let token = Socket::Upstream.token(uk);
        let interest = Interest::READABLE | Interest::WRITABLE;
        ctx.registry().register(&mut socket, token, interest)?;
        entry.insert(Upstream {
            peer: Peer::connecting(socket, self.settings.config.buffer_bytes),
            backend,
            generation: self.settings.generation,
            client: None,
            reused: false,
            idle_since: ctx.now(),
        });
        Ok(uk)
    }

    /// Takes back the backend connection lent to client `ck`: parks it for
    /// another request when `park` (and its configuration is current), else
    /// closes it.
    fn release_backend(&mut self, ctx: &mut Context<'_>, ck: usize, park: bool) {
        let Some(uk) = self.clients.get_mut(ck).and_then(|c| c.upstream.take()) else {
            return;
        };
        let Some(upstream) = self.upstreams.get_mut(uk) else {
            return;
        };
        upstream.client = None;
        upstream.reused = true;
        upstream.idle_since = ctx.now();
        if park && upstream.generation == self.settings.generation {
            if let Some(evicted) = self.idle.park(upstream.backend, uk) {
                self.close_upstream(evicted);
            }
        } else {
            self.close_upstream(uk);
        }
    }

    pub(super) fn close_client(&mut self, ctx: &mut Context<'_>, ck: usize) {
        let Some(mut client) = self.clients.try_remove(ck) else {
            return;
        };
        let mut env = Env {
            now: ctx.now(),
            settings: &self.settings,
            backends: &mut self.backends,
            buffers: &mut self.buffers,
        };
        client.incoming.abandon(&mut env);
        client
            .incoming
            .give_back(&mut self.buffers, &mut client.peer);
        if let Some(uk) = client.upstream {
            self.close_upstream(uk);
        }
        if let Some((timer, _)) = client.timer {
            ctx.cancel_timer(timer);
        }
        self.acceptor.on_connection_closed(ctx);
    }

    pub(super) fn close_upstream(&mut self, uk: usize) {
        if let Some(mut upstream) = self.upstreams.try_remove(uk) {
            upstream.peer.give_back(&mut self.buffers);
            // Only connections of the current configuration are ever parked.
            if upstream.client.is_none() && upstream.generation == self.settings.generation {
                self.idle.remove(upstream.backend, uk);
            }
        }
    }

    /// Arms the client's timer for its current deadline, if that is earlier
    /// than the one already armed (a later one re-arms itself when it fires).
    fn schedule(&mut self, ctx: &mut Context<'_>, ck: usize) {
        let Some(client) = self.clients.get_mut(ck) else {
            return;
        };
        let deadline = client.deadline(&self.settings);
        if let Some((timer, at)) = client.timer {
            if at <= deadline {
                return;
            }
            ctx.cancel_timer(timer);
        }
        let timer = ctx.set_timer(deadline, Timer::Client.timer(ck));
        client.timer = Some((timer, deadline));
    }

    pub(super) fn on_client_timer(&mut self, ctx: &mut Context<'_>, ck: usize) {
        let Some(client) = self.clients.get_mut(ck) else {
            return;
        };
        client.timer = None;
        if ctx.now() < client.deadline(&self.settings) {
            return self.schedule(ctx, ck);
        }
        let mut env = Env {
            now: ctx.now(),
            settings: &self.settings,
            backends: &mut self.backends,
            buffers: &mut self.buffers,
        };
        let buffered = !client.peer.has_no_input();
        let action = client.incoming.on_deadline(&mut env, buffered);
        if let Flow::Again = self.perform(ctx, ck, action) {
            self.drive(ctx, ck);
        }
    }

    pub(super) fn on_client_ready(
        &mut self,
        ctx: &mut Context<'_>,
        ck: usize,
        readiness: Readiness,
    ) {
        let Some(client) = self.clients.get_mut(ck) else {
            return;
        };
        client.peer.note(readiness);
        // TLS records the socket could not take before go first; a failure
        // shows again on the next write.
        let _ = client.peer.stream.flush_pending();
        self.drive(ctx, ck);
    }

    pub(super) fn on_upstream_ready(
        &mut self,
        ctx: &mut Context<'_>,
        uk: usize,
        readiness: Readiness,
    ) {
        let Some(upstream) = self.upstreams.get_mut(uk) else {
            return;
        };
        upstream.peer.note(readiness);
        let Some(ck) = upstream.client else {
            // A parked connection has nothing to say: it was closed or sent junk.
            if readiness.readable || readiness.read_closed || readiness.error {
                self.close_upstream(uk);
            }
            return;
        };
        let Some(client) = self.clients.get_mut(ck) else {
            return;
        };
        if client.incoming.awaiting_connect() {
            match reactor::finish_connect(&upstream.peer.stream, readiness.writable) {
                Ok(true) => {
                    upstream.peer.writable = true;
                    client.incoming.backend_connected();
                }
                Ok(false) => return,
                Err(e) => {
                    let mut env = Env {
                        now: ctx.now(),
                        settings: &self.settings,
                        backends: &mut self.backends,
                        buffers: &mut self.buffers,
                    };
                    let reason = format!("refused the connection: {e}");
                    let action = client.incoming.backend_failed(&mut env, &reason);
                    self.perform(ctx, ck, action);
                }
            }
        }
        self.drive(ctx, ck);
    }
}
