//! One incoming connection (from a client) as a state machine without
//! sockets: read a request head, forward the exchange to a backend, relay
//! the response, and start over; or pipe bytes after an upgrade; or answer
//! an error and close. Bytes move through [`Peer`]s the caller lends; the
//! time comes in as an argument; what needs the caller (a backend
//! connection, parking or closing one, closing this connection) comes out
//! as an [`Action`]. The caller arms the timer for [`Incoming::deadline`].

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use super::exchange::{Exchange, Link, Relay, Response, Retry};
use super::peer::{Outbox, Peer, Stream};
use super::settings::{BYTES_PER_WAKE, Settings};
use super::tunnel;
use crate::http::{HeadStatus, RequestParser, Scheme};
use crate::lb::access_log::Entry;
use crate::lb::backend_set::{Pick, hash_ip, hash_key};
use crate::lb::backends::{Admission, Backends};
use crate::lb::config::HashOn;
use crate::lb::queue::{Target, Ticket};
use crate::reactor::Pipe;
use crate::reactor::buffer_pool::BufferPool;
use crate::warn;

mod failure;
mod queued;

/// What the state machine needs from outside to go on.
#[derive(Debug)]
pub(super) enum Action {
    /// Something moved: step again.
    Progress,
    /// Nothing moves before new readiness or the deadline.
    Wait,
    /// Lend a connection to the picked backend (a parked one, unless
    /// `fresh_only`, else a new one), then call [`Incoming::attach`] or,
    /// when none can be had, [`Incoming::connect_failed`].
    Connect { pick: Pick, fresh_only: bool },
    /// Every backend the request may use is at its cap: line it up for
    /// `target` (at its `earlier` place, if it had one), then call
    /// [`Incoming::wait_in_queue`].
    Queue {
        target: Target,
        earlier: Option<Ticket>,
    },
    /// The backend connection is no longer used: park it for another
    /// request when `park`, else close it.
    Release { park: bool },
    /// The connection is over (why, for the debug log): close it and any
    /// backend connection lent to it.
    Close(io::Error),
}

/// What the state machine is lent for one call: the time, the settings,
/// the backends (to pick, finish, count and log) and the worker's buffers.
pub(super) struct Env<'a> {
    pub now: Instant,
    pub settings: &'a Settings,
    pub backends: &'a mut Backends,
    pub buffers: &'a mut BufferPool,
}

/// Where an incoming connection stands.
#[derive(Debug)]
enum Phase {
    /// Waiting for (the rest of) the next request head.
    ReadingHead,
    /// A request is being forwarded and its response relayed.
    Forwarding(Box<Exchange>),
    /// After a 101: bytes piped both ways with the backend.
    Tunnel(Box<Pipe>),
    /// Sending what is left, then closing. With `drain` (after an error,
    /// when the client may still be sending), half-close first and discard
    /// input until the client closes too.
    Closing { shut: bool, drain: bool },
}

/// The protocol state of one client connection.
#[derive(Debug)]
pub(super) struct Incoming {
    addr: SocketAddr,
    /// How the client connected: `Https` when TLS was terminated here.
    scheme: Scheme,
    phase: Phase,
    /// Response heads and error pages for the client (bodies go straight
    /// from the backend's buffer).
    out: Outbox,
    parser: RequestParser,
    last_active: Instant,
    /// When the first byte of the current request head arrived.
    head_started: Option<Instant>,
    /// Requests served on this connection.
    served: u64,
    /// The buffer the next rewritten request head is written into, kept
    /// between exchanges so that a kept-alive client allocates it once.
    spare_head: Vec<u8>,
    /// The settings generation its parser was made for.
    generation: u64,
}

impl Incoming {
    /// A connection from `addr`, accepted at `now`.
    pub fn new(addr: SocketAddr, settings: &Settings, now: Instant) -> Self {
        Self {
            addr,
            scheme: Scheme::Http,
            phase: Phase::ReadingHead,
            out: Outbox::default(),
            parser: RequestParser::new(settings.limits),
            last_active: now,
            head_started: None,
            served: 0,
            spare_head: Vec::with_capacity(512),
            generation: settings.generation,
        }
    }

    /// The same connection, come over TLS (terminated before these bytes).
    pub fn over_tls(mut self) -> Self {
        self.scheme = Scheme::Https;
        self
    }

    /// Between requests, having served one: nothing in flight to wait for
    /// in a graceful stop (when nothing more is buffered either).
    pub fn is_between_requests(&self) -> bool {
        matches!(self.phase, Phase::ReadingHead) && self.served > 0
    }

    /// A backend connect is under way: readiness on it finishes the connect.
    pub fn awaiting_connect(&self) -> bool {
        matches!(&self.phase, Phase::Forwarding(x) if x.link.as_ref().is_some_and(|l| !l.connected))
    }

    /// One round of progress. Read buffers left empty go back to the pool.
    pub fn step<C: Stream, B: Stream>(
        &mut self,
        env: &mut Env<'_>,
        client: &mut Peer<C>,
        mut backend: Option<&mut Peer<B>>,
    ) -> Action {
        let result = match &mut self.phase {
            Phase::ReadingHead => self.read_head(env, client),
            Phase::Forwarding(_) => Ok(self.forward(env, client, backend.as_deref_mut())),
            Phase::Tunnel(pipe) => match backend.as_deref_mut() {
                Some(backend) => tunnel::pipe(client, &mut self.out, backend, pipe, env.buffers),
                None => Err(io::ErrorKind::NotConnected.into()),
            },
            Phase::Closing { shut, drain } => {
                linger(client, &mut self.out, shut, *drain, env.buffers)
            }
        };
        client.release(env.buffers);
        if let Some(backend) = backend {
            backend.release(env.buffers);
        }
        result.unwrap_or_else(Action::Close)
    }

    /// Gives back every buffer the connection holds, bytes and all: the
    /// client's, the backend's lent to it, and a tunnel's (it is closing).
    pub fn give_back<C: Stream>(&mut self, buffers: &mut BufferPool, client: &mut Peer<C>) {
        client.give_back(buffers);
        if let Phase::Tunnel(pipe) = &mut self.phase {
            pipe.give_back(buffers);
        }
    }

    fn read_head<C: Stream>(
        &mut self,
        env: &mut Env<'_>,
        client: &mut Peer<C>,
    ) -> io::Result<Action> {
        self.refresh_limits(env.settings);
        let n = client.fill(env.buffers, BYTES_PER_WAKE)?;
        if n > 0 {
            self.last_active = env.now;
        }
        if client.has_no_input() {
            if client.read.eof {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            return Ok(Action::Wait);
        }
        self.head_started.get_or_insert(env.now);
        match self.parser.parse(client.input()) {
            Err(e) => Ok(self.reject(env, e.status(), &e.to_string())),
            Ok(HeadStatus::Partial) => {
                if client.is_full() {
                    let limit = env.settings.config.max_head_bytes;
                    return Ok(self.reject(env, 431, &format!("request head over {limit} bytes")));
                }
                if client.read.eof {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                Ok(if n > 0 {
                    Action::Progress
                } else {
                    Action::Wait
                })
            }
            Ok(HeadStatus::Complete { head, consumed }) => {
                client.consume(consumed);
                self.head_started = None;
                let spare = std::mem::take(&mut self.spare_head);
                let logging = env.backends.logging();
                let (addr, scheme) = (self.addr, self.scheme);
                let exchange =
                    Exchange::new(head, addr, scheme, spare, env.settings, logging, env.now);
                self.phase = Phase::Forwarding(Box::new(exchange));
                Ok(Action::Progress)
            }
        }
    }

    /// Gives the client the limits of settings reloaded since it connected:
    /// a fresh head parser (it rescans what is buffered, so a head already
    /// begun is judged by the new limits as a whole). Its next read buffer
    /// comes from the pool, sized for the largest head now allowed.
    fn refresh_limits(&mut self, settings: &Settings) {
        if self.generation == settings.generation {
            return;
        }
        self.generation = settings.generation;
        self.parser = RequestParser::new(settings.limits);
    }

    fn forward<C: Stream, B: Stream>(
        &mut self,
        env: &mut Env<'_>,
        client: &mut Peer<C>,
        backend: Option<&mut Peer<B>>,
    ) -> Action {
        let Phase::Forwarding(exchange) = &mut self.phase else {
            return Action::Progress;
        };
        let Some(link) = &exchange.link else {
            return self.pick(env, client);
        };
        let Some(backend) = backend else {
            return Action::Close(io::Error::other("the backend connection was lost"));
        };
        if !link.connected {
            return Action::Wait;
        }
        match exchange.relay_request(client, backend, env.settings, env.buffers) {
            Ok(true) => {
                self.last_active = env.now;
                return Action::Progress;
            }
            Ok(false) => {}
            Err(fault) => return self.fault(env, fault),
        }
        match exchange.relay_response(client, &mut self.out, backend, env.settings, env.buffers) {
            Ok(Relay::Idle) => Action::Wait,
            Ok(Relay::Moved) => {
                exchange.last_backend_activity = env.now;
                Action::Progress
            }
            Ok(Relay::Complete) => self.finish(env, backend),
            Ok(Relay::Upgraded) => {
                if let Some(link) = exchange.link.take() {
                    env.backends.pool().finish(link.pick, env.now);
                }
                self.phase = Phase::Tunnel(Box::new(tunnel::open(client, backend)));
                Action::Progress
            }
            Err(fault) => self.fault(env, fault),
        }
    }

    /// Picks a backend for the exchange, or has it wait in the queue while
    /// the backends it may use are at their caps. Answers 503 when none is left.
    fn pick<C: Stream>(&mut self, env: &mut Env<'_>, client: &Peer<C>) -> Action {
        let Phase::Forwarding(exchange) = &mut self.phase else {
            return Action::Progress;
        };
        if exchange.place.is_waiting() {
            return self.while_waiting(env, client);
        }
        let key = match env.settings.config.hash_on {
            HashOn::ClientIp => hash_ip(self.addr.ip()),
            HashOn::Uri => hash_key(exchange.target()),
        };
        // A retry (after a failed connect, or on a fresh connection) had its
        // turn: it does not line up behind the waiters again.
        let admitted = exchange.place.is_admitted()
            || !exchange.tried.is_empty()
            || exchange.retry == Retry::Fresh;
        match env
            .backends
            .pick_or_wait(env.now, &exchange.tried, key, admitted)
        {
            Admission::Picked(pick) => Action::Connect {
                pick,
                fresh_only: exchange.retry == Retry::Fresh,
            },
            Admission::Wait(target) => Action::Queue {
                target,
                earlier: exchange.place.ticket(),
            },
            Admission::Refused => {
                let detail = format!("no backend available ({} tried)", exchange.tried.len());
                self.reject(env, 503, &detail)
            }
        }
    }

    /// The caller lent a connection to the picked backend at `addr`: one
    /// parked after an earlier request (`reused`, and so connected) or one
    /// whose connect just started.
    pub fn attach(&mut self, pick: Pick, addr: SocketAddr, reused: bool, now: Instant) {
        let Phase::Forwarding(exchange) = &mut self.phase else {
            return;
        };
        if exchange.retry == Retry::Fresh {
            exchange.retry = Retry::Spent;
        }
        exchange.link = Some(Link {
            pick,
            addr,
            connected: reused,
            reused,
            connect_started: now,
        });
        exchange.last_backend_activity = now;
        exchange.request.head_written = 0;
    }

    /// No connection to the picked backend could be had: try another.
    pub fn connect_failed(&mut self, env: &mut Env<'_>, pick: Pick, error: &io::Error) {
        warn!(
            "backend {} failed: {error}",
            env.backends.addr(pick.backend)
        );
        if let Phase::Forwarding(exchange) = &mut self.phase {
            exchange.tried.push(pick.backend);
        }
        env.backends.pool().fail(pick, env.now);
    }

    /// The backend connection's connect finished.
    pub fn backend_connected(&mut self) {
        if let Phase::Forwarding(exchange) = &mut self.phase {
            if let Some(link) = &mut exchange.link {
                link.connected = true;
            }
        }
    }

    /// The response is out: account for it, release the backend connection
    /// (to be parked when it can carry another request), and go on with the
    /// next request (or close).
    fn finish<B: Stream>(&mut self, env: &mut Env<'_>, backend: &Peer<B>) -> Action {
        let now = env.now;
        let phase = std::mem::replace(&mut self.phase, Phase::ReadingHead);
        let Phase::Forwarding(exchange) = phase else {
            self.phase = phase;
            return Action::Progress;
        };
        let Exchange {
            request,
            response,
            link,
            request_line,
            started,
            response_bytes,
            ..
        } = *exchange;
        let (status, body_bytes, keep_client, keep_backend) = match response {
            Response::Body(body) => (body.status, body.bytes, body.keep_client, body.keep_backend),
            Response::Head { .. } => (0, 0, false, false),
        };
        // A backend that answered before the whole request arrived leaves the
        // rest of the body unread: neither connection can carry another request.
        let complete = request.is_complete();
        let mut action = Action::Progress;
        if let Some(link) = link {
            let sent = request.head.len() as u64 + request.body_bytes;
            let backends = &mut *env.backends;
            backends.count_bytes(&link.pick, sent, response_bytes);
            if let Some(request_line) = request_line.as_deref() {
                let index = backends.pool().index_of(&link.pick);
                let name = index.map(|i| backends.name(i).to_string());
                backends.log(&Entry {
                    client: self.addr,
                    request: request_line,
                    status,
                    bytes: body_bytes,
                    backend: name.as_deref().unwrap_or("-"),
                    duration: now.saturating_duration_since(started),
                });
            }
            backends.pool().finish(link.pick, now);
            let reusable = link.connected && !backend.read.eof && backend.has_no_input();
            action = Action::Release {
                park: complete && keep_backend && reusable && !env.settings.shutting_down,
            };
        }
        self.spare_head = request.head;
        self.served += 1;
        self.last_active = now;
        if !(complete && keep_client) {
            // A request not read to its end leaves bytes that would reset
            // the connection on close: drain them first.
            self.phase = Phase::Closing {
                shut: false,
                drain: !complete,
            };
        }
        action
    }
}

/// Sends what is queued, then closes. When input may still be on its way
/// (`drain`), it half-closes and reads until the client closes too: closing
/// with unread input would reset the connection and could destroy the
/// response before the client reads it.
fn linger<C: Stream>(
    client: &mut Peer<C>,
    out: &mut Outbox,
    shut: &mut bool,
    drain: bool,
    buffers: &mut BufferPool,
) -> io::Result<Action> {
    if !out.flush_to(client)? || !client.flush()? {
        return Ok(Action::Wait);
    }
    if !drain && client.has_no_input() && !client.read.readable {
        // Everything the client sent was read: a plain close sends FIN.
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    if !*shut {
        client.stream.close_write()?;
        *shut = true;
    }
    client.discard_input();
    let n = client.fill(buffers, BYTES_PER_WAKE)?;
    client.discard_input();
    if client.read.eof {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(if n > 0 {
        Action::Progress
    } else {
        Action::Wait
    })
}
