//! The adapter: moves readiness, time and sockets between the reactor and
//! each [`ClientConnection`] state machine. It looks a connection up once
//! per round, lends the machine its sockets, does what the machine's
//! [`Action`] asks (lend a backend connection, parked or new; park or close
//! one; close the client; arm the deadline timer), and tells the machine
//! what came of it, and what else happened, as an [`Event`].

use std::mem;
use std::net::SocketAddr;
use std::time::Instant;

use slab::Slab;

use super::HttpBalancer;
use super::client::{Action, ClientConnection, Env, Event};
use super::peer::Peer;
use super::settings::{ROUNDS_PER_WAKE, Settings};
use super::token::{Socket, Timer};
use super::upstream::Upstream;
use crate::lb::backend_set::Pick;
use crate::lb::tls::ClientStream;
use crate::reactor::{self, Context, Interest, Kind, Readiness, TcpStream, TimerId};
use crate::{debug, warn};

/// A client the balancer serves: its socket, its connection's state
/// machine, the backend connection lent to it, and its armed deadline.
#[derive(Debug)]
pub(super) struct Client {
    pub peer: Peer<ClientStream>,
    pub connection: ClientConnection,
    /// Key of the backend connection lent to it.
    pub upstream: Option<usize>,
    /// The armed deadline timer and when it fires.
    pub timer: Option<(TimerId, Instant)>,
    /// When it was accepted.
    pub accepted: Instant,
}

impl Client {
    /// When it times out: the state machine's deadline, or sooner while a
    /// TLS handshake is under way (part of the first request's head).
    fn deadline(&self, settings: &Settings) -> Instant {
        let deadline = self.connection.deadline(settings);
        if self.peer.stream.is_handshaking() {
            deadline.min(self.accepted + settings.config.head_timeout)
        } else {
            deadline
        }
    }
}

/// After an action: step the client again, or stop (waiting, or closed).
pub(super) enum Next {
    StepAgain,
    Stop,
}

impl HttpBalancer {
    /// What a client's state machine is lent for one call, beside the
    /// clients and the backend connections.
    fn lend(&mut self, now: Instant) -> (&mut Slab<Client>, &mut Slab<Upstream>, Env<'_>) {
        let env = Env {
            now,
            settings: &self.settings,
            backends: &mut self.backends,
            buffers: &mut self.buffers,
        };
        (&mut self.clients, &mut self.upstreams, env)
    }

    /// Feeds `event` to client `ck`'s state machine and does what it asks.
    pub(super) fn tell(&mut self, ctx: &mut Context<'_>, ck: usize, event: Event) -> Next {
        let (clients, _, mut env) = self.lend(ctx.now());
        let Some(client) = clients.get_mut(ck) else {
            return Next::Stop;
        };
        let action = client.connection.handle(&mut env, event);
        self.perform(ctx, ck, action)
    }

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
        let id = self.acceptor.accepted();
        let mut connection = ClientConnection::new(id, addr, &self.settings, ctx.now());
        if stream.is_tls() {
            connection = connection.over_tls();
        }
        entry.insert(Client {
            peer: Peer::connected(stream),
            connection,
            upstream: None,
            timer: None,
            accepted: ctx.now(),
        });
        self.drive(ctx, key);
    }

    /// Makes all the progress one client and its backend connection can make now.
    pub(super) fn drive(&mut self, ctx: &mut Context<'_>, ck: usize) {
        for _ in 0..ROUNDS_PER_WAKE {
            let (clients, upstreams, mut env) = self.lend(ctx.now());
            let Some(client) = clients.get_mut(ck) else {
                return;
            };
            let mut backend = client.upstream.and_then(|uk| upstreams.get_mut(uk));
            let action = client.connection.step(
                &mut env,
                &mut client.peer,
                backend.as_mut().map(|u| &mut u.peer),
            );
            // A read refused a buffer: called again when one comes back.
            let starved = backend.is_some_and(|u| mem::take(&mut u.peer.starved));
            if mem::take(&mut client.peer.starved) | starved {
                env.buffers.wait(Socket::Client.token(ck));
            }
            if let Next::Stop = self.perform(ctx, ck, action) {
                return self.schedule(ctx, ck);
            }
        }
        ctx.defer(Socket::Client.token(ck));
        self.schedule(ctx, ck);
    }

    fn perform(&mut self, ctx: &mut Context<'_>, ck: usize, action: Action) -> Next {
        match action {
            Action::Progress => Next::StepAgain,
            Action::Wait => Next::Stop,
            Action::Connect { pick, fresh_only } => {
                match self.lend_backend(ctx, ck, pick, fresh_only) {
                    Some(event) => self.tell(ctx, ck, event),
                    None => Next::Stop,
                }
            }
            Action::Release { park } => {
                self.release_backend(ctx, ck, park);
                Next::StepAgain
            }
            Action::Queue { target, earlier } => {
                let ticket = self.backends.queue().join(ck, target, ctx.now(), earlier);
                self.tell(ctx, ck, Event::Joined(ticket))
            }
            Action::Close(ending) => {
                debug!("client connection ended: {ending}");
                self.close_client(ctx, ck);
                Next::Stop
            }
        }
    }

    /// Gives client `ck` a connection to the picked backend: a parked one
    /// (unless `fresh_only`) or a new one. Returns what came of it, for
    /// the client's state machine (`None` when the client is gone).
    fn lend_backend(
        &mut self,
        ctx: &mut Context<'_>,
        ck: usize,
        pick: Pick,
        fresh_only: bool,
    ) -> Option<Event> {
        if !self.clients.contains(ck) {
            self.backends.backend_set().release(pick);
            return None;
        }
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
        Some(match lent {
            Ok(uk) => {
                let upstream = &mut self.upstreams[uk];
                upstream.client = Some(ck);
                self.clients[ck].upstream = Some(uk);
                let addr = self.backends.addr(backend);
                let reused = upstream.reused;
                Event::Lent { pick, addr, reused }
            }
            Err(error) => Event::NoConnection { pick, error },
        })
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
        let (_, _, mut env) = self.lend(ctx.now());
        client.connection.handle(&mut env, Event::Closed);
        client.connection.give_back(env.buffers, &mut client.peer);
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
        let buffered = !client.peer.has_no_input();
        if let Next::StepAgain = self.tell(ctx, ck, Event::Deadline { buffered }) {
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
        if client.connection.awaiting_connect() {
            let event = match reactor::finish_connect(&upstream.peer.stream, readiness.writable) {
                Ok(true) => {
                    upstream.peer.writable = true;
                    Event::Connected
                }
                Ok(false) => return,
                Err(e) => Event::ConnectFailed(e),
            };
            self.tell(ctx, ck, event);
        }
        self.drive(ctx, ck);
    }
}
