//! A client connection of the HTTP proxy and the exchange (one request and
//! its response) in flight on it.

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use crate::http::{BodyFramer, RequestParser, ResponseParser};
use crate::lb::pool::Pick;
use crate::lb::tls::ClientStream;
use crate::reactor::{Buffer, ReadSide, TimerId};

/// Where a client connection stands.
#[derive(Debug)]
pub(super) enum Phase {
    /// Waiting for (the rest of) the next request head.
    ReadingHead,
    /// A request is being forwarded and its response relayed.
    Forwarding(Box<Exchange>),
    /// After a 101: bytes piped both ways with the upstream.
    Tunnel {
        upstream: usize,
        /// The client's end of stream was passed to the upstream.
        up_shut: bool,
        /// The upstream's end of stream was passed to the client.
        down_shut: bool,
    },
    /// Sending what is left in `out`, then closing. With `drain` (after an
    /// error, when the client may still be sending), half-close first and
    /// discard input until the client closes too.
    Closing { shut: bool, drain: bool },
}

/// How far the response has come.
#[derive(Debug)]
pub(super) enum Response {
    /// Reading the response head (after any interim 1xx).
    Head(ResponseParser),
    /// Relaying the body; `pending` bytes at the front of the upstream's
    /// buffer are counted as body and not yet written to the client.
    Body { framer: BodyFramer, pending: usize },
    /// All of it reached the client's socket.
    Done,
}

/// One request and its response.
#[derive(Debug)]
pub(super) struct Exchange {
    /// The request method, which decides whether the response has a body.
    pub method: String,
    /// The client keeps the connection after this exchange.
    pub keep_client: bool,
    /// The backend may keep the connection after this exchange.
    pub keep_backend: bool,
    pub upgrade: bool,
    pub expects_continue: bool,
    /// The rewritten request head, kept until the response starts so that a
    /// retry can send it again.
    pub head: Vec<u8>,
    pub head_written: usize,
    /// Idempotent and without a body: safe to send again.
    pub retryable: bool,
    pub retried: bool,
    /// Backends whose connect failed for this request.
    pub tried: Vec<usize>,
    pub pick: Option<Pick>,
    pub upstream: Option<usize>,
    pub connect_started: Instant,
    pub request: BodyFramer,
    /// Body bytes at the front of the client's buffer counted but not yet written.
    pub request_pending: usize,
    pub request_bytes: u64,
    pub request_done: bool,
    pub response: Response,
    /// Some byte of the response arrived.
    pub response_started: bool,
    /// The final response's status, once its head arrived.
    pub status: u16,
    /// Response head and body bytes read from the backend for this exchange.
    pub response_bytes: u64,
    /// Body bytes of the response relayed to the client.
    pub body_bytes: u64,
    /// The request line, kept for the access log (only when it is on).
    pub request_line: Option<String>,
    /// When the request head was complete.
    pub started: Instant,
    pub last_backend_activity: Instant,
}

/// A client connection.
#[derive(Debug)]
pub(super) struct Client {
    pub io: ClientIo,
    pub addr: SocketAddr,
    pub phase: Phase,
    pub parser: RequestParser,
    pub last_active: Instant,
    /// When the first byte of the current request head arrived.
    pub head_started: Option<Instant>,
    /// The armed deadline timer and when it fires.
    pub timer: Option<(TimerId, Instant)>,
    /// Requests served on this connection.
    pub served: u64,
    /// The buffer the next rewritten request head is written into, kept
    /// between exchanges so that a kept-alive client allocates it once.
    pub spare_head: Vec<u8>,
    /// The configuration generation its parser and read buffer were made for.
    pub generation: u64,
}

/// The socket side of a client connection, apart from its phase so that
/// both can be borrowed at once.
#[derive(Debug)]
pub(super) struct ClientIo {
    pub socket: ClientStream,
    /// Bytes from the client: request heads are parsed here and bodies
    /// stream from here to the upstream.
    pub inbuf: Buffer,
    /// Response heads and error pages for the client (bodies go straight
    /// from the upstream's buffer).
    pub out: Vec<u8>,
    pub out_written: usize,
    pub read: ReadSide,
    pub writable: bool,
}

impl ClientIo {
    /// Reads while there is room. Returns the bytes read.
    pub fn fill(&mut self, budget: usize) -> io::Result<usize> {
        self.read.fill(&mut self.inbuf, &mut self.socket, budget)
    }

    /// Writes what is queued in `out`. True when nothing is left.
    pub fn flush_out(&mut self) -> io::Result<bool> {
        while self.out_written < self.out.len() {
            if !self.writable {
                return Ok(false);
            }
            match io::Write::write(&mut self.socket, &self.out[self.out_written..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.out_written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.writable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.out.clear();
        self.out_written = 0;
        // TLS records of earlier writes must reach the socket before the
        // connection counts as written out (and may be closed).
        if !self.socket.flush_pending()? {
            self.writable = false;
            return Ok(false);
        }
        Ok(true)
    }
}
