//! Forwarding one request: the exchange's own state machine, from picking
//! a backend to the last byte of the response.
//!
//! The exchange is in one [`Stage`]. Its step ([`step`]) moves bytes and
//! tells what it saw as an [`Event`]; the adapter tells its news the same
//! way; [`ClientConnection::handle`] takes each through the table below
//! (`ClientConnection::forwarding`, one `match (stage, event)`), and logs
//! each change at debug level.
//!
//! | from                      | event                          | to                          |
//! |---------------------------|--------------------------------|-----------------------------|
//! | `picking`                 | (step) backend picked          | same, asks `Connect`        |
//! | `picking`                 | (step) all at their cap        | same, asks `Queue`          |
//! | `picking`                 | (step) no backend left         | `closing` (503)             |
//! | `picking`                 | lent, parked connection        | `sending-head`              |
//! | `picking`                 | lent, new connection           | `connecting`                |
//! | `picking`                 | no connection could be had     | `retry-pending`             |
//! | `picking`                 | joined the queue               | `queued`                    |
//! | `queued`                  | admitted                       | `admitted`                  |
//! | `queued`                  | the client left                | `closed`                    |
//! | `queued`                  | deadline (queue timeout)       | `closing` (503)             |
//! | `connecting`              | connected                      | `sending-head`              |
//! | `connecting`              | connect failed, or deadline    | retry table                 |
//! | `sending-head`            | request head sent              | `sending-body`, or `awaiting-head` when bodyless |
//! | `sending-body`            | request body sent              | `awaiting-head`             |
//! | `sending-*`, `awaiting-head`, `after-interim` | interim response relayed | `after-interim` |
//! | `sending-*`, `awaiting-head`, `after-interim` | final head relayed | `receiving-body`   |
//! | `sending-*`, `awaiting-head`, `after-interim` | protocol switched | `tunnel`            |
//! | `receiving-body`          | response complete              | `reading-head`, or `closing` when either side will not keep the connection |
//! | on a backend              | backend failed                 | retry table                 |
//! | on a backend              | request refused (413, bad response) | `closing` (4xx, 502)   |
//! | on a backend, nothing back | deadline                      | `closing` (504)             |
//! | on a backend, answer begun | deadline                      | (closed)                    |
//! | any                       | the adapter closes it          | `closed`                    |
//!
//! `admitted` and `retry-pending` take the same events as `picking`; they
//! differ in the pick: neither lines up behind the queue's waiters again,
//! and `retry-pending` after a retry decision asks for a fresh connection.
//! A response may begin before the request is out (an early answer, or
//! `100 Continue` before the body): from `after-interim` and
//! `receiving-body` the rest of the request body still goes up, as the
//! exchange's [`Request`](super::exchange::Request) counts it.
//!
//! "(closed)" is as in the connection's table: the adapter is asked to
//! close. The "retry table" is [`retry::decide`](super::retry::decide): another
//! backend, the same request on a fresh connection, a 502, or a close.

use std::io;
use std::mem;
use std::net::SocketAddr;
use std::time::Instant;

use super::exchange::{BodyRelay, Exchange, Fault, HeadRead, ResponseBody, Retry};
use super::retry::{self, Decision, Failure};
use super::{Action, ClientConnection, Ending, Env, Event, Phase, Turn, ignore};
use crate::lb::access_log::Entry;
use crate::lb::backend_set::{Pick, hash_ip, hash_key};
use crate::lb::backends::Admission;
use crate::lb::config::HashOn;
use crate::lb::http::peer::{Outbox, Peer, Stream};
use crate::lb::http::tunnel;
use crate::lb::queue::Ticket;
use crate::warn;

/// Where a forwarded exchange stands (the table in the module doc).
#[derive(Debug)]
pub(super) enum Stage {
    /// Choosing a backend for the first time.
    Picking,
    /// Every backend it may use is at its cap: it waits in the queue. It
    /// reads nothing more from the client (the body stays in the client's
    /// buffer and socket, so backpressure holds), and leaves the queue when
    /// the client closes (as nginx gives up an upstream request whose
    /// client left) or the request ends any other way.
    Queued(Ticket),
    /// The queue let it in: it picks without lining up again.
    Admitted,
    /// A backend failed it: it picks again, on a fresh connection when the
    /// retry policy said so.
    RetryPending,
    /// A new connection to the picked backend is being made, since `since`.
    Connecting { link: Link, since: Instant },
    /// The rewritten request head is going out.
    SendingHead(Link),
    /// The request body is going out.
    SendingBody(Link),
    /// The request is out; the response head is awaited.
    AwaitingHead(Link),
    /// An interim (1xx) response was relayed; the final head is awaited.
    AfterInterim(Link),
    /// The final head is out; its body streams back.
    ReceivingBody(Link, ResponseBody),
}

/// The backend connection an exchange is using.
#[derive(Debug)]
pub(super) struct Link {
    pub pick: Pick,
    pub addr: SocketAddr,
    /// It served an earlier request: a failure before any response byte
    /// may be the backend closing it just as it was reused.
    pub reused: bool,
}

impl Stage {
    /// The stage's name in the debug log.
    pub fn name(&self) -> &'static str {
        match self {
            Stage::Picking => "picking",
            Stage::Queued(_) => "queued",
            Stage::Admitted => "admitted",
            Stage::RetryPending => "retry-pending",
            Stage::Connecting { .. } => "connecting",
            Stage::SendingHead(_) => "sending-head",
            Stage::SendingBody(_) => "sending-body",
            Stage::AwaitingHead(_) => "awaiting-head",
            Stage::AfterInterim(_) => "after-interim",
            Stage::ReceivingBody(..) => "receiving-body",
        }
    }

    /// A connect is under way.
    pub fn is_connecting(&self) -> bool {
        matches!(self, Stage::Connecting { .. })
    }

    /// The backend connection it used, if any.
    fn into_link(self) -> Option<Link> {
        match self {
            Stage::Picking | Stage::Queued(_) | Stage::Admitted | Stage::RetryPending => None,
            Stage::Connecting { link, .. }
            | Stage::SendingHead(link)
            | Stage::SendingBody(link)
            | Stage::AwaitingHead(link)
            | Stage::AfterInterim(link)
            | Stage::ReceivingBody(link, _) => Some(link),
        }
    }
}

/// The stage a backend connection failed in, for the retry table.
#[derive(Clone, Copy, PartialEq, Eq)]
enum FailedIn {
    /// `connecting`: the connect was refused or timed out.
    Connect,
    /// `sending-*`, `awaiting-head` or `after-interim`: no response body yet.
    Exchange,
    /// `receiving-body`: the response's head had gone to the client.
    ResponseBody,
}

/// The exchange goes on at `stage`, and the adapter does `action`.
fn stay(mut exchange: Box<Exchange>, stage: Stage, action: Action) -> (Phase, Action) {
    exchange.stage = stage;
    (Phase::Forwarding(exchange), action)
}

/// One round of an exchange: pick, or wait, or move bytes. What it sees
/// comes out as an event for the state machine.
pub(super) fn step<C: Stream, B: Stream>(
    exchange: &mut Exchange,
    env: &mut Env<'_>,
    out: &mut Outbox,
    last_active: &mut Instant,
    client: &mut Peer<C>,
    backend: Option<&mut Peer<B>>,
    addr: SocketAddr,
) -> Turn {
    let (watch, at) = match &exchange.stage {
        Stage::Picking => return pick(exchange, env, addr, false),
        Stage::Admitted | Stage::RetryPending => return pick(exchange, env, addr, true),
        Stage::Queued(_) if client.read.hup => return Turn::Feed(Event::ClientLeft),
        Stage::Queued(_) => return Turn::Act(Action::Wait),
        Stage::Connecting { .. } if backend.is_some() => return Turn::Act(Action::Wait),
        Stage::Connecting { .. } => return Turn::Feed(Event::BackendLost),
        Stage::SendingHead(link) => (Watch::Head, link.addr),
        Stage::SendingBody(link) => (Watch::Body, link.addr),
        Stage::AwaitingHead(link) | Stage::AfterInterim(link) | Stage::ReceivingBody(link, _) => {
            (Watch::Nothing, link.addr)
        }
    };
    let Some(backend) = backend else {
        return Turn::Feed(Event::BackendLost);
    };
    if let Some(turn) = request_round(exchange, watch, env, client, backend, last_active) {
        return turn;
    }
    response_round(exchange, at, env, out, client, backend)
}

/// Which end of the request a round watches for.
#[derive(Clone, Copy)]
enum Watch {
    /// The head going out whole (`sending-head`).
    Head,
    /// The body going out whole (`sending-body`).
    Body,
    /// Neither: what is left of the request just goes on.
    Nothing,
}

/// Picks a backend for the exchange, or has it wait in the queue while
/// the backends it may use are at their caps. One `admitted` (a retry, or
/// a request the queue let in) had its turn: it does not line up behind
/// the waiters again.
fn pick(exchange: &Exchange, env: &mut Env<'_>, addr: SocketAddr, admitted: bool) -> Turn {
    let key = match env.settings.config.hash_on {
        HashOn::ClientIp => hash_ip(addr.ip()),
        HashOn::Uri => hash_key(exchange.target()),
    };
    match env
        .backends
        .pick_or_wait(env.now, &exchange.tried, key, admitted)
    {
        Admission::Picked(pick) => Turn::Act(Action::Connect {
            pick,
            fresh_only: exchange.retry == Retry::Fresh,
        }),
        Admission::Wait(target) => Turn::Act(Action::Queue {
            target,
            earlier: exchange.ticket,
        }),
        Admission::Refused => Turn::Feed(Event::NoBackend),
    }
}

/// Relays what is left of the request. Ends the round (`Some`) when bytes
/// moved or the end `watch`ed for went out.
fn request_round<C: Stream, B: Stream>(
    exchange: &mut Exchange,
    watch: Watch,
    env: &mut Env<'_>,
    client: &mut Peer<C>,
    backend: &mut Peer<B>,
    last_active: &mut Instant,
) -> Option<Turn> {
    let request = &mut exchange.request;
    let moved = match request.relay(client, backend, env.settings, env.buffers) {
        Ok(moved) => moved,
        Err(fault) => return Some(Turn::Feed(Event::Failed(fault))),
    };
    if moved {
        *last_active = env.now;
    }
    match watch {
        Watch::Head if request.head_sent() => Some(Turn::Feed(Event::HeadSent)),
        Watch::Body if request.is_complete() => Some(Turn::Feed(Event::RequestSent)),
        _ if moved => Some(Turn::Act(Action::Progress)),
        _ => None,
    }
}

/// Reads the response and relays its head or its body, whichever is due.
fn response_round<C: Stream, B: Stream>(
    exchange: &mut Exchange,
    at: SocketAddr,
    env: &mut Env<'_>,
    out: &mut Outbox,
    client: &mut Peer<C>,
    backend: &mut Peer<B>,
) -> Turn {
    let response = &mut exchange.response;
    let read = match response.read(backend, env.buffers) {
        Ok(read) => read,
        Err(fault) => return Turn::Feed(Event::Failed(fault)),
    };
    let (method, asked) = (exchange.method.as_str(), exchange.asked);
    let moved = match &mut exchange.stage {
        Stage::ReceivingBody(_, body) => {
            match body.relay(client, out, backend, &mut response.bytes) {
                Ok(BodyRelay::Complete) => {
                    let reusable = !backend.read.eof && backend.has_no_input();
                    return Turn::Feed(Event::ResponseDone { reusable });
                }
                Ok(BodyRelay::Moved) => true,
                Ok(BodyRelay::Idle) => read,
                Err(fault) => return Turn::Feed(Event::Failed(fault)),
            }
        }
        _ => {
            let settings = env.settings;
            match response.read_head(method, asked, at, client, out, backend, settings) {
                Ok(HeadRead::Partial) => read,
                Ok(HeadRead::Interim) => {
                    exchange.last_backend_activity = env.now;
                    return Turn::Feed(Event::Interim);
                }
                Ok(HeadRead::Final(body)) => {
                    exchange.last_backend_activity = env.now;
                    return Turn::Feed(Event::FinalHead(body));
                }
                Ok(HeadRead::Upgraded) => {
                    let pipe = tunnel::open(client, backend);
                    return Turn::Feed(Event::Upgraded(Box::new(pipe)));
                }
                Err(fault) => return Turn::Feed(Event::Failed(fault)),
            }
        }
    };
    if !moved {
        return Turn::Act(Action::Wait);
    }
    exchange.last_backend_activity = env.now;
    Turn::Act(Action::Progress)
}

impl ClientConnection {
    /// The forwarding table (see the module doc): the exchange's stage and
    /// the event give the next phase (the exchange at its next stage, or
    /// what follows it) and what the adapter is to do.
    pub(super) fn forwarding(
        &mut self,
        env: &mut Env<'_>,
        mut exchange: Box<Exchange>,
        event: Event,
    ) -> (Phase, Action) {
        let now = env.now;
        let config = &env.settings.config;
        let release = Action::Release { park: false };
        match (mem::replace(&mut exchange.stage, Stage::Picking), event) {
            // Choosing a backend.
            (
                Stage::Picking | Stage::Admitted | Stage::RetryPending,
                Event::Lent { pick, addr, reused },
            ) => {
                if exchange.retry == Retry::Fresh {
                    exchange.retry = Retry::Spent;
                }
                exchange.last_backend_activity = now;
                exchange.request.head_written = 0;
                let link = Link { pick, addr, reused };
                let stage = match reused {
                    true => Stage::SendingHead(link),
                    false => Stage::Connecting { link, since: now },
                };
                stay(exchange, stage, Action::Progress)
            }
            (
                Stage::Picking | Stage::Admitted | Stage::RetryPending,
                Event::NoConnection { pick, error },
            ) => {
                warn!(
                    "backend {} failed: {error}",
                    env.backends.addr(pick.backend)
                );
                exchange.tried.push(pick.backend);
                env.backends.backend_set().fail(pick, now);
                stay(exchange, Stage::RetryPending, Action::Progress)
            }
            (Stage::Picking | Stage::Admitted | Stage::RetryPending, Event::Joined(ticket)) => {
                exchange.ticket = Some(ticket);
                stay(exchange, Stage::Queued(ticket), Action::Wait)
            }
            (Stage::Picking | Stage::Admitted | Stage::RetryPending, Event::NoBackend) => {
                let detail = format!("no backend available ({} tried)", exchange.tried.len());
                (self.answer_error(now, 503, &detail), Action::Progress)
            }
            // Waiting in the queue.
            (Stage::Queued(_), Event::Admitted) => {
                stay(exchange, Stage::Admitted, Action::Progress)
            }
            (Stage::Queued(ticket), Event::ClientLeft) => {
                env.backends.queue().leave(ticket);
                let ending = Ending::ClientLeft("while its request waited");
                (Phase::Closed, Action::Close(ending))
            }
            (Stage::Queued(ticket), Event::Deadline { .. }) => {
                let queue = env.backends.queue();
                if queue.time_out(ticket, now).is_none() {
                    // A reload shortened or lengthened the timeout meanwhile.
                    queue.leave(ticket);
                }
                let waited = config.queue_timeout;
                let detail = format!("every backend stayed at its maxconn for {waited:?}");
                (self.answer_error(now, 503, &detail), Action::Progress)
            }
            (Stage::Queued(ticket), Event::Closed) => {
                env.backends.queue().leave(ticket);
                (Phase::Closed, Action::Progress)
            }
            // Connecting.
            (Stage::Connecting { link, .. }, Event::Connected) => {
                stay(exchange, Stage::SendingHead(link), Action::Progress)
            }
            (Stage::Connecting { link, .. }, Event::ConnectFailed(e)) => {
                let reason = format!("refused the connection: {e}");
                self.backend_failed(env, exchange, link, FailedIn::Connect, &reason)
            }
            (Stage::Connecting { link, .. }, Event::Deadline { .. }) => {
                let reason = format!("did not accept within {:?}", config.connect_timeout);
                self.backend_failed(env, exchange, link, FailedIn::Connect, &reason)
            }
            // The request going out.
            (Stage::SendingHead(link), Event::HeadSent) => {
                let stage = match exchange.request.is_complete() {
                    true => Stage::AwaitingHead(link),
                    false => Stage::SendingBody(link),
                };
                stay(exchange, stage, Action::Progress)
            }
            (Stage::SendingBody(link), Event::RequestSent) => {
                stay(exchange, Stage::AwaitingHead(link), Action::Progress)
            }
            // The response head coming back.
            (
                Stage::SendingHead(link)
                | Stage::SendingBody(link)
                | Stage::AwaitingHead(link)
                | Stage::AfterInterim(link),
                event @ (Event::Interim | Event::FinalHead(_) | Event::Upgraded(_)),
            ) => match event {
                Event::FinalHead(body) => {
                    stay(exchange, Stage::ReceivingBody(link, body), Action::Progress)
                }
                Event::Upgraded(pipe) => {
                    env.backends.backend_set().finish(link.pick, now);
                    (Phase::Tunnel(pipe), Action::Progress)
                }
                _ => stay(exchange, Stage::AfterInterim(link), Action::Progress),
            },
            // The response body coming back.
            (Stage::ReceivingBody(link, body), Event::ResponseDone { reusable }) => {
                self.finish(env, *exchange, link, body, reusable)
            }
            // Failures and deadlines.
            (stage, Event::Failed(Fault::Client(e))) => {
                stay(exchange, stage, Action::Close(Ending::Failed(e)))
            }
            (stage, Event::Failed(Fault::ClientLeft)) => {
                let ending = Ending::ClientLeft("in the middle of its request body");
                stay(exchange, stage, Action::Close(ending))
            }
            (stage, Event::BackendLost) => {
                let lost = io::Error::other("the backend connection was lost");
                stay(exchange, stage, Action::Close(Ending::Failed(lost)))
            }
            (Stage::ReceivingBody(link, _), Event::Failed(Fault::Backend(e))) => {
                let reason = format!("failed: {e}");
                self.backend_failed(env, exchange, link, FailedIn::ResponseBody, &reason)
            }
            (
                Stage::SendingHead(link)
                | Stage::SendingBody(link)
                | Stage::AwaitingHead(link)
                | Stage::AfterInterim(link),
                Event::Failed(Fault::Backend(e)),
            ) => {
                let reason = format!("failed: {e}");
                self.backend_failed(env, exchange, link, FailedIn::Exchange, &reason)
            }
            (stage, Event::Failed(Fault::Reject(status, detail))) => {
                let action = match stage.into_link() {
                    Some(link) => {
                        env.backends.backend_set().finish(link.pick, now);
                        release
                    }
                    None => Action::Progress,
                };
                (self.answer_error(now, status, &detail), action)
            }
            (stage, Event::Deadline { .. }) if exchange.response.started => {
                stay(exchange, stage, Action::Close(Ending::TimedOut))
            }
            (stage, Event::Deadline { .. }) => {
                let limit = config.response_timeout;
                let (who, action) = match stage.into_link() {
                    Some(link) => {
                        env.backends.backend_set().finish(link.pick, now);
                        (format!("backend {} ", link.addr), release)
                    }
                    None => (String::new(), Action::Progress),
                };
                let detail = format!("{who}did not answer within {limit:?}");
                (self.answer_error(now, 504, &detail), action)
            }
            (stage, Event::Closed) => {
                if let Some(link) = stage.into_link() {
                    env.backends.backend_set().finish(link.pick, now);
                }
                (Phase::Closed, Action::Progress)
            }
            (stage, event) => {
                let action = ignore(env, event);
                stay(exchange, stage, action)
            }
        }
    }

    /// The response is out: account for it, release the backend connection
    /// (to be parked when it can carry another request), and go on with the
    /// next request (or close).
    fn finish(
        &mut self,
        env: &mut Env<'_>,
        exchange: Exchange,
        link: Link,
        body: ResponseBody,
        reusable: bool,
    ) -> (Phase, Action) {
        let now = env.now;
        let Exchange {
            request,
            response,
            request_line,
            started,
            ..
        } = exchange;
        // A backend that answered before the whole request arrived leaves the
        // rest of the body unread: neither connection can carry another request.
        let complete = request.is_complete();
        let sent = request.head.len() as u64 + request.body_bytes;
        let backends = &mut *env.backends;
        backends.count_bytes(&link.pick, sent, response.bytes);
        if let Some(request_line) = request_line.as_deref() {
            let index = backends.backend_set().index_of(&link.pick);
            let name = index.map(|i| backends.name(i).to_string());
            backends.log(&Entry {
                client: self.addr,
                request: request_line,
                status: body.status,
                bytes: body.bytes,
                backend: name.as_deref().unwrap_or("-"),
                duration: now.saturating_duration_since(started),
            });
        }
        backends.backend_set().finish(link.pick, now);
        let park = complete && body.keep_backend && reusable && !env.settings.shutting_down;
        self.spare_head = request.head;
        self.served += 1;
        self.last_active = now;
        let phase = match complete && body.keep_client {
            true => Phase::ReadingHead,
            // A request not read to its end leaves bytes that would reset
            // the connection on close: drain them first.
            false => Phase::Closing {
                shut: false,
                drain: !complete,
            },
        };
        (phase, Action::Release { park })
    }

    /// The backend connection failed (connect refused or timed out, reset,
    /// closed, or garbage) before the response reached the client: the
    /// retry table decides. The connection is released for closing.
    fn backend_failed(
        &mut self,
        env: &mut Env<'_>,
        mut exchange: Box<Exchange>,
        link: Link,
        failed_in: FailedIn,
        reason: &str,
    ) -> (Phase, Action) {
        let now = env.now;
        let release = Action::Release { park: false };
        let failure = Failure {
            connected: failed_in != FailedIn::Connect,
            reused: link.reused,
            answered: exchange.response.started,
            body_started: failed_in == FailedIn::ResponseBody,
            body_sent: exchange.request.body_bytes > 0,
            retry: exchange.retry,
            redispatched: exchange.redispatched,
        };
        let backends = &mut *env.backends;
        match retry::decide(&failure) {
            Decision::NextBackend => {
                warn!("backend {} {reason}", link.addr);
                exchange.tried.push(link.pick.backend);
                backends.backend_set().fail(link.pick, now);
                stay(exchange, Stage::RetryPending, release)
            }
            Decision::RetryFresh => {
                // The backend may close a kept-alive connection just as we
                // reuse it: not its failure.
                exchange.retry = Retry::Fresh;
                backends.count_retry(&link.pick, true);
                backends.backend_set().release(link.pick);
                stay(exchange, Stage::RetryPending, release)
            }
            Decision::Redispatch => {
                // The backend failed as surely as if it had refused, and sits
                // out its backoff, so that the retry goes to another backend
                // when one is up (to the same one when no other is up).
                warn!("backend {} {reason}", link.addr);
                backends.count_retry(&link.pick, false);
                backends.backend_set().fail(link.pick, now);
                exchange.redispatched = true;
                exchange.retry = Retry::Fresh;
                stay(exchange, Stage::RetryPending, release)
            }
            Decision::BadGateway { blame } => {
                if blame {
                    warn!("backend {} {reason}", link.addr);
                    backends.backend_set().fail(link.pick, now);
                } else {
                    backends.backend_set().finish(link.pick, now);
                }
                let detail = format!("backend {} {reason}", link.addr);
                (self.answer_error(now, 502, &detail), release)
            }
            Decision::CutShort => {
                // All the client can learn is that the response was cut short.
                backends.backend_set().finish(link.pick, now);
                let error = io::Error::other(format!("backend {} {reason}", link.addr));
                (Phase::Closed, Action::Close(Ending::Failed(error)))
            }
        }
    }
}
