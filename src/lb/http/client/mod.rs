//! One client connection as a state machine without sockets: read a
//! request head, forward the exchange to a backend, relay the response, and
//! start over; or pipe bytes after an upgrade; or answer an error and
//! close. Bytes move through [`Peer`]s the caller lends; the time comes in
//! as an argument; what needs the caller (a backend connection, parking or
//! closing one, closing this connection) comes out as an [`Action`], and
//! what the caller has to tell (a connection lent, a connect finished, the
//! queue's answer, the deadline, the close) goes in as an [`Event`]. The
//! caller arms the timer for [`ClientConnection::deadline`].
//!
//! # States
//!
//! A connection is in one [`Phase`]; while it forwards a request, its
//! exchange is in one [`Stage`](forwarding::Stage) (the table in
//! `forwarding`). Every change
//! of either goes through [`ClientConnection::handle`], whose
//! `match (state, event)` is the table below and the one in `forwarding`,
//! and with `--log-level debug` each prints one line: connection, request
//! number, `from -> to` and the event.
//!
//! | from           | event                                | to                 |
//! |----------------|--------------------------------------|--------------------|
//! | `reading-head` | request head complete                | `picking`          |
//! | `reading-head` | invalid or oversized head            | `closing` (4xx)    |
//! | `reading-head` | deadline, part of a head buffered    | `closing` (408)    |
//! | `reading-head` | deadline, nothing buffered           | (closed)           |
//! | forwarding     | see `forwarding`                     | `reading-head`, `tunnel`, `closing` |
//! | `tunnel`       | deadline                             | (closed)           |
//! | `closing`      | deadline                             | (closed)           |
//! | any            | the adapter closes the connection    | `closed`           |
//!
//! "(closed)": the state stays, and the machine asks the adapter to close
//! the connection ([`Action::Close`]); the adapter then tells
//! [`Event::Closed`]. The client closing between requests, a tunnel whose two ends closed and
//! an error page sent in full end the connection normally
//! ([`Ending::ClientClosed`], [`Ending::Finished`]): no error travels for them.

use std::fmt;
use std::io;
use std::mem;
use std::net::SocketAddr;
use std::time::Instant;

use self::exchange::{Exchange, Fault, ResponseBody};
use super::peer::{Outbox, Peer, Stream};
use super::settings::{BYTES_PER_WAKE, Settings};
use super::tunnel;
use crate::http::{HeadStatus, RequestHead, RequestParser, Scheme, error_response};
use crate::lb::backend_set::Pick;
use crate::lb::backends::Backends;
use crate::lb::queue::{Target, Ticket};
use crate::logging::{self, Level};
use crate::reactor::Pipe;
use crate::reactor::buffer_pool::BufferPool;
use crate::{debug, warn};

mod deadline;
mod exchange;
mod forwarding;
mod retry;

/// What the state machine needs from outside to go on.
#[derive(Debug)]
pub(super) enum Action {
    /// Something moved: step again.
    Progress,
    /// Nothing moves before new readiness or the deadline.
    Wait,
    /// Lend a connection to the picked backend (a parked one, unless
    /// `fresh_only`, else a new one), then tell [`Event::Lent`] or, when
    /// none can be had, [`Event::NoConnection`].
    Connect { pick: Pick, fresh_only: bool },
    /// Every backend the request may use is at its cap: line it up for
    /// `target` (at its `earlier` place, if it had one), then tell
    /// [`Event::Joined`].
    Queue {
        target: Target,
        earlier: Option<Ticket>,
    },
    /// The backend connection is no longer used: park it for another
    /// request when `park`, else close it.
    Release { park: bool },
    /// The connection is over (why, for the debug log): close it and any
    /// backend connection lent to it, then tell [`Event::Closed`].
    Close(Ending),
}

/// Why a connection ends.
#[derive(Debug)]
pub(super) enum Ending {
    /// The client closed its side where a request could begin (or in the
    /// middle of a head): a normal end.
    ClientClosed,
    /// Everything was sent: the response or error page before a planned
    /// close, or a tunnel whose two ends both closed.
    Finished,
    /// A deadline passed with nothing left worth an answer.
    TimedOut,
    /// The client left before its request was served: `when` says where.
    ClientLeft(&'static str),
    /// A socket failed, or the backend failed after its response began.
    Failed(io::Error),
}

impl fmt::Display for Ending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ending::ClientClosed => f.write_str("the client closed the connection"),
            Ending::Finished => f.write_str("everything was sent"),
            Ending::TimedOut => f.write_str("timed out"),
            Ending::ClientLeft(when) => write!(f, "the client left {when}"),
            Ending::Failed(e) => write!(f, "{e}"),
        }
    }
}

/// What happens to a client connection, fed to [`ClientConnection::handle`]:
/// the adapter's news, and what the connection's own step found.
#[derive(Debug)]
pub(super) enum Event {
    /// The adapter lent a connection to the picked backend at `addr`: one
    /// parked after an earlier request (`reused`, and so connected) or one
    /// whose connect just started.
    Lent {
        pick: Pick,
        addr: SocketAddr,
        reused: bool,
    },
    /// No connection to the picked backend could be had.
    NoConnection { pick: Pick, error: io::Error },
    /// The backend connection's connect finished.
    Connected,
    /// The backend connection's connect failed.
    ConnectFailed(io::Error),
    /// The request joined the wait queue with this ticket.
    Joined(Ticket),
    /// The queue let the request in: its next step picks a backend.
    Admitted,
    /// The deadline passed (`buffered`: part of a request head waits).
    Deadline { buffered: bool },
    /// The adapter closes the connection.
    Closed,
    /// A request head arrived.
    RequestHead(RequestHead),
    /// No backend the request may use is left.
    NoBackend,
    /// The client closed while its request waited in the queue.
    ClientLeft,
    /// The request head went out whole.
    HeadSent,
    /// The request body went out whole.
    RequestSent,
    /// An interim (1xx) response was relayed.
    Interim,
    /// The final response head is out (queued for the client).
    FinalHead(ResponseBody),
    /// The backend switched protocols: the two connections are piped.
    Upgraded(Box<Pipe>),
    /// The response reached the client in full; the backend connection may
    /// carry another request when `reusable`.
    ResponseDone { reusable: bool },
    /// The backend connection lent to the exchange is gone.
    BackendLost,
    /// Relaying failed.
    Failed(Fault),
}

impl Event {
    /// The event in a few words, for the debug log.
    fn why(&self) -> &'static str {
        match self {
            Event::Lent { reused: true, .. } => "a parked connection was lent",
            Event::Lent { reused: false, .. } => "a new connection was started",
            Event::NoConnection { .. } => "no connection could be had",
            Event::Connected => "connected",
            Event::ConnectFailed(_) => "the connect failed",
            Event::Joined(_) => "every backend is at its cap",
            Event::Admitted => "the queue let it in",
            Event::Deadline { .. } => "deadline",
            Event::Closed => "the connection closes",
            Event::RequestHead(_) => "request head complete",
            Event::NoBackend => "no backend available",
            Event::ClientLeft => "the client left",
            Event::HeadSent => "request head sent",
            Event::RequestSent => "request body sent",
            Event::Interim => "interim response relayed",
            Event::FinalHead(_) => "response head relayed",
            Event::Upgraded(_) => "protocol switched",
            Event::ResponseDone { .. } => "response complete",
            Event::BackendLost => "the backend connection was lost",
            Event::Failed(Fault::Client(_)) => "the client's socket failed",
            Event::Failed(Fault::ClientLeft) => "the client left mid-body",
            Event::Failed(Fault::Backend(_)) => "the backend failed",
            Event::Failed(Fault::Reject(..)) => "the request is refused",
        }
    }
}

/// What the state machine is lent for one call: the time, the settings,
/// the backends (to pick, finish, count and log) and the worker's buffers.
pub(super) struct Env<'a> {
    pub now: Instant,
    pub settings: &'a Settings,
    pub backends: &'a mut Backends,
    pub buffers: &'a mut BufferPool,
}

/// Names a connection and its current request in the debug log of
/// transitions.
#[derive(Debug, Clone, Copy)]
pub(super) struct Trace {
    /// The connection's number (the worker's accept count when it came).
    pub connection: u64,
    /// The request's number on the connection, from 1.
    pub request: u64,
}

impl Trace {
    /// Logs one transition (the caller checked the level first).
    fn log(self, from: &'static str, to: &'static str, why: &'static str) {
        debug!(
            "client {} request {}: {from} -> {to} ({why})",
            self.connection, self.request
        );
    }
}

/// Where a client connection stands.
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
    /// The adapter closed it.
    Closed,
}

/// What one round of stepping an exchange came to.
enum Turn {
    /// Hand this to the adapter.
    Act(Action),
    /// Feed this to the state machine.
    Feed(Event),
}

/// The protocol state of one client connection.
#[derive(Debug)]
pub(super) struct ClientConnection {
    addr: SocketAddr,
    /// Its number in the debug log.
    id: u64,
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

impl ClientConnection {
    /// Connection number `id` from `addr`, accepted at `now`.
    pub fn new(id: u64, addr: SocketAddr, settings: &Settings, now: Instant) -> Self {
        Self {
            addr,
            id,
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
        matches!(&self.phase, Phase::Forwarding(x) if x.stage.is_connecting())
    }

    /// True while the request waits in the queue.
    #[cfg(test)]
    pub fn is_waiting(&self) -> bool {
        matches!(&self.phase, Phase::Forwarding(x) if matches!(x.stage, forwarding::Stage::Queued(_)))
    }

    /// The backends the current request failed to connect to.
    pub fn tried(&self) -> &[usize] {
        match &self.phase {
            Phase::Forwarding(exchange) => &exchange.tried,
            _ => &[],
        }
    }

    /// The state's name in the debug log.
    fn state_name(&self) -> &'static str {
        match &self.phase {
            Phase::ReadingHead => "reading-head",
            Phase::Forwarding(exchange) => exchange.stage.name(),
            Phase::Tunnel(_) => "tunnel",
            Phase::Closing { .. } => "closing",
            Phase::Closed => "closed",
        }
    }

    /// Names the connection and its current request in the debug log.
    fn trace(&self) -> Trace {
        Trace {
            connection: self.id,
            request: self.served + 1,
        }
    }

    /// Feeds `event` to the state machine: the one way its state changes.
    pub fn handle(&mut self, env: &mut Env<'_>, event: Event) -> Action {
        if !logging::enabled(Level::Debug) {
            return self.transition(env, event);
        }
        let (trace, from, why) = (self.trace(), self.state_name(), event.why());
        let action = self.transition(env, event);
        let to = self.state_name();
        if to != from {
            trace.log(from, to, why);
        }
        action
    }

    /// The transition table: the current phase and the event give the next
    /// phase and what the adapter is to do.
    fn transition(&mut self, env: &mut Env<'_>, event: Event) -> Action {
        let now = env.now;
        let (phase, action) = match (mem::replace(&mut self.phase, Phase::Closed), event) {
            (Phase::Forwarding(exchange), event) => self.forwarding(env, exchange, event),
            (Phase::ReadingHead, Event::RequestHead(head)) => {
                let spare = mem::take(&mut self.spare_head);
                let logging = env.backends.logging();
                let (addr, scheme) = (self.addr, self.scheme);
                let exchange = Exchange::new(head, addr, scheme, spare, env.settings, logging, now);
                (Phase::Forwarding(Box::new(exchange)), Action::Progress)
            }
            (Phase::ReadingHead, Event::Failed(Fault::Reject(status, detail))) => {
                (self.answer_error(now, status, &detail), Action::Progress)
            }
            (Phase::ReadingHead, Event::Deadline { buffered: true }) => {
                let limit = env.settings.config.head_timeout;
                let detail = format!("request head not received within {limit:?}");
                (self.answer_error(now, 408, &detail), Action::Progress)
            }
            (
                phase @ (Phase::ReadingHead | Phase::Tunnel(_) | Phase::Closing { .. }),
                Event::Deadline { .. },
            ) => (phase, Action::Close(Ending::TimedOut)),
            (Phase::Tunnel(mut pipe), Event::Closed) => {
                pipe.give_back(env.buffers);
                (Phase::Closed, Action::Progress)
            }
            (_, Event::Closed) => (Phase::Closed, Action::Progress),
            (phase, event) => (phase, ignore(env, event)),
        };
        self.phase = phase;
        action
    }

    /// One round of progress. Read buffers left empty go back to the pool.
    pub fn step<C: Stream, B: Stream>(
        &mut self,
        env: &mut Env<'_>,
        client: &mut Peer<C>,
        mut backend: Option<&mut Peer<B>>,
    ) -> Action {
        let turn = match &mut self.phase {
            Phase::ReadingHead => self.read_head(env, client),
            Phase::Forwarding(exchange) => {
                let out = &mut self.out;
                let last_active = &mut self.last_active;
                let backend = backend.as_deref_mut();
                forwarding::step(exchange, env, out, last_active, client, backend, self.addr)
            }
            Phase::Tunnel(pipe) => Turn::Act(match backend.as_deref_mut() {
                Some(backend) => tunnel::pipe(client, &mut self.out, backend, pipe, env.buffers),
                None => Action::Close(Ending::Failed(io::ErrorKind::NotConnected.into())),
            }),
            Phase::Closing { shut, drain } => {
                Turn::Act(linger(client, &mut self.out, shut, *drain, env.buffers))
            }
            Phase::Closed => Turn::Act(Action::Wait),
        };
        let action = match turn {
            Turn::Act(action) => action,
            Turn::Feed(event) => self.handle(env, event),
        };
        client.release(env.buffers);
        if let Some(backend) = backend {
            backend.release(env.buffers);
        }
        action
    }

    /// Gives back every buffer the connection holds, bytes and all: the
    /// client's (the adapter gives back the backend's, and a tunnel's went
    /// back when it closed).
    pub fn give_back<C: Stream>(&mut self, buffers: &mut BufferPool, client: &mut Peer<C>) {
        client.give_back(buffers);
        if let Phase::Tunnel(pipe) = &mut self.phase {
            pipe.give_back(buffers);
        }
    }

    fn read_head<C: Stream>(&mut self, env: &mut Env<'_>, client: &mut Peer<C>) -> Turn {
        self.refresh_limits(env.settings);
        let n = match client.fill(env.buffers, BYTES_PER_WAKE) {
            Ok(n) => n,
            Err(e) => return Turn::Act(Action::Close(Ending::Failed(e))),
        };
        if n > 0 {
            self.last_active = env.now;
        }
        if client.has_no_input() {
            if client.read.eof {
                return Turn::Act(Action::Close(Ending::ClientClosed));
            }
            return Turn::Act(Action::Wait);
        }
        self.head_started.get_or_insert(env.now);
        match self.parser.parse(client.input()) {
            Err(e) => Turn::Feed(Event::Failed(Fault::Reject(e.status(), e.to_string()))),
            Ok(HeadStatus::Partial) => {
                if client.is_full() {
                    let limit = env.settings.config.max_head_bytes;
                    let detail = format!("request head over {limit} bytes");
                    return Turn::Feed(Event::Failed(Fault::Reject(431, detail)));
                }
                if client.read.eof {
                    return Turn::Act(Action::Close(Ending::ClientClosed));
                }
                Turn::Act(if n > 0 {
                    Action::Progress
                } else {
                    Action::Wait
                })
            }
            Ok(HeadStatus::Complete { head, consumed }) => {
                client.consume(consumed);
                self.head_started = None;
                Turn::Feed(Event::RequestHead(head))
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

    /// Queues an error response; the phase to go to is closing after it.
    fn answer_error(&mut self, now: Instant, status: u16, detail: &str) -> Phase {
        debug!("{status} to {}: {detail}", self.addr);
        self.out
            .queue()
            .extend_from_slice(&error_response(status, detail));
        self.last_active = now;
        Phase::Closing {
            shut: false,
            drain: true,
        }
    }
}

/// An event the current state does not take: nothing changes, but a pick
/// it carries is handed back (a backend stays counted as active until its
/// pick is finished).
fn ignore(env: &mut Env<'_>, event: Event) -> Action {
    match event {
        Event::Lent { pick, .. } => {
            env.backends.backend_set().finish(pick, env.now);
            Action::Release { park: false }
        }
        Event::NoConnection { pick, error } => {
            warn!(
                "backend {} failed: {error}",
                env.backends.addr(pick.backend)
            );
            env.backends.backend_set().fail(pick, env.now);
            Action::Progress
        }
        _ => Action::Progress,
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
) -> Action {
    let failed = |e| Action::Close(Ending::Failed(e));
    match out
        .flush_to(client)
        .and_then(|sent| Ok(sent && client.flush()?))
    {
        Ok(true) => {}
        Ok(false) => return Action::Wait,
        Err(e) => return failed(e),
    }
    if !drain && client.has_no_input() && !client.read.readable {
        // Everything the client sent was read: a plain close sends FIN.
        return Action::Close(Ending::Finished);
    }
    if !*shut {
        if let Err(e) = client.stream.close_write() {
            return failed(e);
        }
        *shut = true;
    }
    client.discard_input();
    let n = match client.fill(buffers, BYTES_PER_WAKE) {
        Ok(n) => n,
        Err(e) => return failed(e),
    };
    client.discard_input();
    if client.read.eof {
        return Action::Close(Ending::Finished);
    }
    if n > 0 {
        Action::Progress
    } else {
        Action::Wait
    }
}
