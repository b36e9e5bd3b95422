//! One exchange (a request and its response) and the relay of its bytes:
//! the rewritten request head and the body from the client's buffer to the
//! backend, the response head (parsed and rewritten) and body from the
//! backend's buffer to the client. Bodies pass through as the framing core
//! counts them, never held whole. No socket is touched here but through a
//! [`Peer`], so the relay runs the same on bytes in memory.
//!
//! Where the exchange stands is its [`Stage`] (see `forwarding`); the
//! relays here only move bytes and say what they saw.

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use super::forwarding::Stage;
use crate::http::{
    BodyFramer, BodyFraming, HeadStatus, RequestHead, ResponseParser, Scheme, Version,
    write_request_head, write_response_head,
};
use crate::lb::http::peer::{Outbox, Peer, Stream};
use crate::lb::http::settings::{BYTES_PER_WAKE, Settings};
use crate::lb::queue::Ticket;
use crate::reactor::buffer_pool::BufferPool;

/// Methods whose requests may be sent twice (RFC 9110 §9.2.2).
const IDEMPOTENT: [&str; 6] = ["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"];

/// Response bytes copied behind a head so that both go out in one write.
const COALESCE_BYTES: usize = 16 * 1024;

/// One request and its response.
#[derive(Debug)]
pub(super) struct Exchange {
    /// Where it stands; changed only by the state machine's transitions.
    pub stage: Stage,
    /// The request method, which decides whether the response has a body.
    pub method: String,
    /// What the request asked of the connection.
    pub asked: Asked,
    pub request: Request,
    pub response: Response,
    pub retry: Retry,
    /// A new backend connection closed before answering and the request
    /// went out once more: a second such close gets the 502.
    pub redispatched: bool,
    /// Backends whose connect failed for this request.
    pub tried: Vec<usize>,
    /// The queue ticket it held: if it must wait again, it keeps its place.
    pub ticket: Option<Ticket>,
    /// The request line, kept for the access log (only when it is on).
    pub request_line: Option<String>,
    /// When the request head was complete.
    pub started: Instant,
    pub last_backend_activity: Instant,
}

/// What the client's request head asked for.
#[derive(Debug, Clone, Copy)]
pub(super) struct Asked {
    /// The client keeps the connection after this exchange (and the balancer
    /// is not shutting down).
    pub keep_alive: bool,
    pub upgrade: bool,
    pub expects_continue: bool,
}

/// Whether the request may be sent again on a fresh connection. A safe
/// request gets at most one retry after a reused connection closed before
/// answering (this enum) and one after a new connection did
/// ([`Exchange::redispatched`]): two at most, never a loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Retry {
    /// Not idempotent, or it has a body.
    Unsafe,
    /// Idempotent and bodyless: it may be sent again.
    Allowed,
    /// A retry is under way: on a fresh connection, not a parked one
    /// that may be closing just as well.
    Fresh,
    /// A retry went out on a fresh connection: a reused one closing is no
    /// longer retried.
    Spent,
}

/// How far the request has gone to the backend.
#[derive(Debug)]
pub(super) struct Request {
    /// The rewritten head, kept until the exchange ends so that a retry can
    /// send it again.
    pub head: Vec<u8>,
    pub head_written: usize,
    pub framer: BodyFramer,
    /// Body bytes at the front of the client's buffer counted, not yet written.
    pub pending: usize,
    /// Body bytes counted so far.
    pub body_bytes: u64,
}

/// How far the response has come (its body, once the head is out, is a
/// [`ResponseBody`] in the stage).
#[derive(Debug)]
pub(super) struct Response {
    /// Reads the response head (again after each interim 1xx).
    pub parser: ResponseParser,
    /// Some byte of the response arrived.
    pub started: bool,
    /// Response head and body bytes read from the backend.
    pub bytes: u64,
}

/// A final response's head is out; its body is on its way.
#[derive(Debug)]
pub(in crate::lb::http) struct ResponseBody {
    pub status: u16,
    pub framer: BodyFramer,
    /// Bytes at the front of the backend's buffer counted as body, not yet
    /// written to the client.
    pub pending: usize,
    /// Body bytes relayed.
    pub bytes: u64,
    /// The client connection stays open after this response.
    pub keep_client: bool,
    /// The backend lets its connection be reused.
    pub keep_backend: bool,
}

/// What reading the response head came to.
#[derive(Debug)]
pub(super) enum HeadRead {
    /// Not complete yet.
    Partial,
    /// An interim (1xx) response, relayed when the client asked for it.
    Interim,
    /// The final head, queued for the client; its body follows.
    Final(ResponseBody),
    /// The backend switched protocols: the `101` head is queued for the client.
    Upgraded,
}

/// What one round of the response body's relay did.
#[derive(Debug, PartialEq, Eq)]
pub(in crate::lb::http) enum BodyRelay {
    Idle,
    Moved,
    /// The response reached the client's socket in full.
    Complete,
}

/// What went wrong while relaying, and so what to do about it.
#[derive(Debug)]
pub(in crate::lb::http) enum Fault {
    /// The client's socket failed: close it.
    Client(io::Error),
    /// The client closed its side in the middle of the request body.
    ClientLeft,
    /// The backend failed: retry, 502, or close.
    Backend(io::Error),
    /// Answer this status and close.
    Reject(u16, String),
}

impl Exchange {
    /// The exchange for a parsed request head from `client`, which came
    /// over `scheme` (told to the backend in `X-Forwarded-Proto`).
    pub fn new(
        head: RequestHead,
        client: SocketAddr,
        scheme: Scheme,
        mut bytes: Vec<u8>,
        settings: &Settings,
        logging: bool,
        now: Instant,
    ) -> Self {
        bytes.clear();
        write_request_head(&head, client.ip(), scheme, &mut bytes);
        // `Content-Length: 0` frames a body that is complete before its first
        // byte: waiting for one would leave the request unfinished forever,
        // and the connection closed after an answer that promised to keep it.
        let framer = BodyFramer::new(head.framing);
        let bodyless = framer.is_complete();
        let retry = if IDEMPOTENT.contains(&head.method.as_str()) && bodyless {
            Retry::Allowed
        } else {
            Retry::Unsafe
        };
        Self {
            stage: Stage::Picking,
            asked: Asked {
                keep_alive: head.keep_alive && !settings.shutting_down,
                upgrade: head.upgrade_requested,
                expects_continue: head.expects_continue,
            },
            request: Request {
                head: bytes,
                head_written: 0,
                framer,
                pending: 0,
                body_bytes: 0,
            },
            response: Response {
                parser: ResponseParser::new(settings.limits),
                started: false,
                bytes: 0,
            },
            retry,
            redispatched: false,
            tried: Vec::new(),
            ticket: None,
            request_line: logging.then(|| {
                let version = match head.version {
                    Version::Http10 => "HTTP/1.0",
                    Version::Http11 => "HTTP/1.1",
                };
                format!("{} {} {version}", head.method, head.target)
            }),
            started: now,
            last_backend_activity: now,
            method: head.method,
        }
    }

    /// The request target, read back from the rewritten head's request line.
    pub fn target(&self) -> &[u8] {
        self.request
            .head
            .split(|&b| b == b' ')
            .nth(1)
            .unwrap_or_default()
    }
}

impl Request {
    /// The whole head was written to the backend.
    pub fn head_sent(&self) -> bool {
        self.head_written == self.head.len()
    }

    /// The whole body was written to the backend.
    pub fn is_complete(&self) -> bool {
        self.pending == 0 && self.framer.is_complete()
    }

    /// Writes the head, then streams the body from the client's buffer
    /// (lent by `buffers`). True when something moved.
    pub fn relay<C: Stream, B: Stream>(
        &mut self,
        client: &mut Peer<C>,
        backend: &mut Peer<B>,
        settings: &Settings,
        buffers: &mut BufferPool,
    ) -> Result<bool, Fault> {
        if self.head_written < self.head.len() {
            self.head_written += backend
                .send(&self.head[self.head_written..])
                .map_err(Fault::Backend)?;
        }
        if !self.head_sent() || self.is_complete() {
            return Ok(false);
        }
        let mut moved = false;
        if self.pending == 0 {
            if client.has_no_input() {
                moved |= client
                    .fill(buffers, BYTES_PER_WAKE)
                    .map_err(Fault::Client)?
                    > 0;
            }
            if client.has_no_input() {
                if client.read.eof {
                    return Err(Fault::ClientLeft);
                }
                return Ok(moved);
            }
            let progress = self
                .framer
                .advance(client.input())
                .map_err(|e| Fault::Reject(e.status(), e.to_string()))?;
            self.pending = progress.consumed;
            self.body_bytes += progress.consumed as u64;
            if let Some(limit) = settings.config.max_body_bytes {
                if self.body_bytes > limit {
                    let detail = format!("request body over {limit} bytes");
                    return Err(Fault::Reject(413, detail));
                }
            }
        }
        let n = backend
            .send_input_of(client, self.pending)
            .map_err(Fault::Backend)?;
        self.pending -= n;
        moved |= n > 0;
        // The last body byte written is progress even when no byte moved in
        // this round: the caller looks again and sees the request complete.
        Ok(moved || self.is_complete())
    }
}

impl Response {
    /// Reads what the backend sent (into a buffer lent by `buffers`). True
    /// when a byte came.
    pub fn read<B: Stream>(
        &mut self,
        backend: &mut Peer<B>,
        buffers: &mut BufferPool,
    ) -> Result<bool, Fault> {
        let read = backend
            .fill(buffers, BYTES_PER_WAKE)
            .map_err(Fault::Backend)?;
        self.started |= read > 0;
        Ok(read > 0)
    }

    /// Parses the response head from the backend's buffer and queues its
    /// rewritten form in `out`. The backend is named `addr` in errors.
    #[allow(clippy::too_many_arguments)]
    pub fn read_head<C: Stream, B: Stream>(
        &mut self,
        method: &str,
        asked: Asked,
        addr: SocketAddr,
        client: &mut Peer<C>,
        out: &mut Outbox,
        backend: &mut Peer<B>,
        settings: &Settings,
    ) -> Result<HeadRead, Fault> {
        // A relayed interim response (100 Continue) must leave now: the
        // client may be waiting for it before it sends the body.
        out.flush_to(client).map_err(Fault::Client)?;
        if backend.has_no_input() {
            if backend.read.eof {
                return Err(Fault::Backend(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "closed the connection before answering",
                )));
            }
            return Ok(HeadRead::Partial);
        }
        match self.parser.parse(backend.input(), method) {
            Err(e) => Err(Fault::Reject(
                502,
                format!("backend {addr} sent an invalid response: {e}"),
            )),
            Ok(HeadStatus::Partial) => {
                if backend.is_full() || backend.read.eof {
                    let detail = format!("backend {addr} sent an incomplete response head");
                    return Err(Fault::Reject(502, detail));
                }
                Ok(HeadRead::Partial)
            }
            Ok(HeadStatus::Complete { head, consumed }) => {
                backend.consume(consumed);
                self.bytes += consumed as u64;
                if head.is_interim() {
                    if asked.expects_continue || head.status != 100 {
                        write_response_head(&head, true, out.queue());
                    }
                    self.parser = ResponseParser::new(settings.limits);
                    return Ok(HeadRead::Interim);
                }
                if head.is_upgrade() && asked.upgrade {
                    write_response_head(&head, false, out.queue());
                    return Ok(HeadRead::Upgraded);
                }
                let keep_client = asked.keep_alive && head.framing != BodyFraming::UntilClose;
                write_response_head(&head, keep_client, out.queue());
                Ok(HeadRead::Final(ResponseBody {
                    status: head.status,
                    framer: BodyFramer::new(head.framing),
                    pending: 0,
                    bytes: 0,
                    keep_client,
                    keep_backend: head.keep_alive,
                }))
            }
        }
    }
}

impl ResponseBody {
    /// Streams the body from the backend's buffer to the client, behind
    /// the head still queued in `out`; counts what it frames in
    /// `response_bytes`.
    pub fn relay<C: Stream, B: Stream>(
        &mut self,
        client: &mut Peer<C>,
        out: &mut Outbox,
        backend: &mut Peer<B>,
        response_bytes: &mut u64,
    ) -> Result<BodyRelay, Fault> {
        if self.pending == 0 && !self.framer.is_complete() && !backend.has_no_input() {
            let progress = self.framer.advance(backend.input()).map_err(|e| {
                Fault::Backend(io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
            })?;
            self.pending = progress.consumed;
            *response_bytes += progress.consumed as u64;
            self.bytes += progress.consumed as u64;
        }
        if !out.is_empty() && self.pending > 0 {
            // A small body rides along with its head: one write, not two.
            let take = self
                .pending
                .min(COALESCE_BYTES.saturating_sub(out.pending()));
            out.queue().extend_from_slice(&backend.input()[..take]);
            backend.consume(take);
            self.pending -= take;
        }
        if !out.flush_to(client).map_err(Fault::Client)? {
            return Ok(BodyRelay::Idle);
        }
        let n = client
            .send_input_of(backend, self.pending)
            .map_err(Fault::Client)?;
        self.pending -= n;
        if self.pending == 0 && !self.framer.is_complete() && backend.finished() {
            // A body framed by the close ends here; one framed otherwise was
            // cut short, which the framer says.
            self.framer.finish_at_eof().map_err(|e| {
                Fault::Backend(io::Error::new(io::ErrorKind::UnexpectedEof, e.to_string()))
            })?;
        }
        if self.pending == 0 && self.framer.is_complete() {
            return Ok(BodyRelay::Complete);
        }
        Ok(if n > 0 {
            BodyRelay::Moved
        } else {
            BodyRelay::Idle
        })
    }
}
