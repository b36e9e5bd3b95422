//! One exchange (a request and its response) and the relay of its bytes:
//! the rewritten request head and the body from the client's buffer to the
//! backend, the response head (parsed and rewritten) and body from the
//! backend's buffer to the client. Bodies pass through as the framing core
//! counts them, never held whole. No socket is touched here but through a
//! [`Peer`], so the relay runs the same on bytes in memory.

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use super::peer::{Outbox, Peer, Stream};
use super::settings::{BYTES_PER_WAKE, Settings};
use crate::http::{
    BodyFramer, BodyFraming, HeadStatus, RequestHead, ResponseParser, Scheme, Version,
    write_request_head, write_response_head,
};
use crate::lb::backend_set::Pick;
use crate::lb::queue::Place;
use crate::reactor::buffer_pool::BufferPool;

/// Methods whose requests may be sent twice (RFC 9110 §9.2.2).
const IDEMPOTENT: [&str; 6] = ["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"];

/// Response bytes copied behind a head so that both go out in one write.
const COALESCE_BYTES: usize = 16 * 1024;

/// One request and its response.
#[derive(Debug)]
pub(super) struct Exchange {
    /// The request method, which decides whether the response has a body.
    pub method: String,
    /// What the request asked of the connection.
    pub asked: Asked,
    pub request: Request,
    pub response: Response,
    /// The backend connection carrying the exchange; `None` until one is given.
    pub link: Option<Link>,
    pub retry: Retry,
    /// A new backend connection closed before answering and the request
    /// went out once more: a second such close gets the 502.
    pub redispatched: bool,
    /// Backends whose connect failed for this request.
    pub tried: Vec<usize>,
    /// Whether it waits (or waited) in the queue for a backend under its cap.
    pub place: Place,
    /// Response head and body bytes read from the backend.
    pub response_bytes: u64,
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

impl Request {
    /// The whole body was written to the backend.
    pub fn is_complete(&self) -> bool {
        self.pending == 0 && self.framer.is_complete()
    }
}

/// How far the response has come.
#[derive(Debug)]
pub(super) enum Response {
    /// Reading the response head (after any interim 1xx); `started` once
    /// any byte of it arrived.
    Head {
        parser: ResponseParser,
        started: bool,
    },
    /// Relaying the body.
    Body(ResponseBody),
}

/// A final response's head is out; its body is on its way.
#[derive(Debug)]
pub(super) struct ResponseBody {
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

/// The backend connection an exchange is using.
#[derive(Debug)]
pub(super) struct Link {
    pub pick: Pick,
    pub addr: SocketAddr,
    pub connected: bool,
    /// It served an earlier request: a failure before any response byte
    /// may be the backend closing it just as it was reused.
    pub reused: bool,
    pub connect_started: Instant,
}

/// What one relay round did.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Relay {
    Idle,
    Moved,
    /// The response reached the client's socket in full.
    Complete,
    /// The backend switched protocols: the head is queued for the client.
    Upgraded,
}

/// What went wrong while relaying, and so what to do about it.
#[derive(Debug)]
pub(super) enum Fault {
    /// The client's socket failed: close it.
    Client(io::Error),
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
            response: Response::Head {
                parser: ResponseParser::new(settings.limits),
                started: false,
            },
            link: None,
            retry,
            redispatched: false,
            tried: Vec::new(),
            place: Place::Outside,
            response_bytes: 0,
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

    /// Some byte of the response arrived.
    pub fn response_started(&self) -> bool {
        match &self.response {
            Response::Head { started, .. } => *started,
            Response::Body(_) => true,
        }
    }

    /// "backend ADDR " for error details, when a backend is linked.
    pub fn backend_name(&self) -> String {
        let addr = self.link.as_ref().map(|l| l.addr);
        addr.map_or_else(String::new, |a| format!("backend {a} "))
    }

    /// The request target, read back from the rewritten head's request line.
    pub fn target(&self) -> &[u8] {
        self.request
            .head
            .split(|&b| b == b' ')
            .nth(1)
            .unwrap_or_default()
    }

    /// Writes the request head, then streams the body from the client's
    /// buffer (lent by `buffers`). True when something moved.
    pub fn relay_request<C: Stream, B: Stream>(
        &mut self,
        client: &mut Peer<C>,
        backend: &mut Peer<B>,
        settings: &Settings,
        buffers: &mut BufferPool,
    ) -> Result<bool, Fault> {
        let request = &mut self.request;
        if request.head_written < request.head.len() {
            request.head_written += backend
                .send(&request.head[request.head_written..])
                .map_err(Fault::Backend)?;
        }
        if request.head_written < request.head.len() || request.is_complete() {
            return Ok(false);
        }
        let mut moved = false;
        if request.pending == 0 {
            if client.has_no_input() {
                moved |= client
                    .fill(buffers, BYTES_PER_WAKE)
                    .map_err(Fault::Client)?
                    > 0;
            }
            if client.has_no_input() {
                if client.read.eof {
                    return Err(Fault::Client(io::ErrorKind::UnexpectedEof.into()));
                }
                return Ok(moved);
            }
            let progress = request
                .framer
                .advance(client.input())
                .map_err(|e| Fault::Reject(e.status(), e.to_string()))?;
            request.pending = progress.consumed;
            request.body_bytes += progress.consumed as u64;
            if let Some(limit) = settings.config.max_body_bytes {
                if request.body_bytes > limit {
                    let detail = format!("request body over {limit} bytes");
                    return Err(Fault::Reject(413, detail));
                }
            }
        }
        let n = backend
            .send_input_of(client, request.pending)
            .map_err(Fault::Backend)?;
        request.pending -= n;
        moved |= n > 0;
        // The last body byte written is progress even when no byte moved in
        // this round: the caller looks again and sees the request complete.
        Ok(moved || request.is_complete())
    }

    /// Reads the response head (into a buffer lent by `buffers`) and
    /// streams the body to the client.
    pub fn relay_response<C: Stream, B: Stream>(
        &mut self,
        client: &mut Peer<C>,
        out: &mut Outbox,
        backend: &mut Peer<B>,
        settings: &Settings,
        buffers: &mut BufferPool,
    ) -> Result<Relay, Fault> {
        let read = backend
            .fill(buffers, BYTES_PER_WAKE)
            .map_err(Fault::Backend)?;
        let mut moved = read > 0;
        if let Response::Head { parser, started } = &mut self.response {
            *started |= moved;
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
                return Ok(if moved { Relay::Moved } else { Relay::Idle });
            }
            match parser.parse(backend.input(), &self.method) {
                Err(e) => {
                    let detail = format!("{}sent an invalid response: {e}", self.backend_name());
                    return Err(Fault::Reject(502, detail));
                }
                Ok(HeadStatus::Partial) => {
                    if backend.is_full() || backend.read.eof {
                        let who = self.backend_name();
                        let detail = format!("{who}sent an incomplete response head");
                        return Err(Fault::Reject(502, detail));
                    }
                    return Ok(if moved { Relay::Moved } else { Relay::Idle });
                }
                Ok(HeadStatus::Complete { head, consumed }) => {
                    backend.consume(consumed);
                    self.response_bytes += consumed as u64;
                    if head.is_interim() {
                        if self.asked.expects_continue || head.status != 100 {
                            write_response_head(&head, true, out.queue());
                        }
                        *parser = ResponseParser::new(settings.limits);
                        return Ok(Relay::Moved);
                    }
                    if head.is_upgrade() && self.asked.upgrade {
                        write_response_head(&head, false, out.queue());
                        return Ok(Relay::Upgraded);
                    }
                    let keep_client =
                        self.asked.keep_alive && head.framing != BodyFraming::UntilClose;
                    write_response_head(&head, keep_client, out.queue());
                    self.response = Response::Body(ResponseBody {
                        status: head.status,
                        framer: BodyFramer::new(head.framing),
                        pending: 0,
                        bytes: 0,
                        keep_client,
                        keep_backend: head.keep_alive,
                    });
                    moved = true;
                }
            }
        }
        let Response::Body(body) = &mut self.response else {
            return Ok(Relay::Idle);
        };
        if body.pending == 0 && !body.framer.is_complete() && !backend.has_no_input() {
            let progress = body.framer.advance(backend.input()).map_err(|e| {
                Fault::Backend(io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
            })?;
            body.pending = progress.consumed;
            self.response_bytes += progress.consumed as u64;
            body.bytes += progress.consumed as u64;
        }
        if !out.is_empty() && body.pending > 0 {
            // A small body rides along with its head: one write, not two.
            let take = body
                .pending
                .min(COALESCE_BYTES.saturating_sub(out.pending()));
            out.queue().extend_from_slice(&backend.input()[..take]);
            backend.consume(take);
            body.pending -= take;
        }
        if !out.flush_to(client).map_err(Fault::Client)? {
            return Ok(if moved { Relay::Moved } else { Relay::Idle });
        }
        let n = client
            .send_input_of(backend, body.pending)
            .map_err(Fault::Client)?;
        body.pending -= n;
        moved |= n > 0;
        if body.pending == 0 && !body.framer.is_complete() && backend.finished() {
            body.framer.finish_at_eof().map_err(|e| {
                Fault::Backend(io::Error::new(io::ErrorKind::UnexpectedEof, e.to_string()))
            })?;
        }
        if body.pending == 0 && body.framer.is_complete() {
            return Ok(Relay::Complete);
        }
        Ok(if moved { Relay::Moved } else { Relay::Idle })
    }
}
