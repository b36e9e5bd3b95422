//! Parsing request and response heads out of a connection's read buffer
//! with httparse, into owned heads that carry the facts a proxy acts on
//! (body framing, keep-alive, `Expect: 100-continue`, upgrades).
//!
//! A parser answers "complete, and this many bytes were the head", "need
//! more bytes" or "invalid, and why". It keeps one offset between calls
//! (how far it has already looked), never a copy of the bytes, and gives
//! up once the head outgrows its limit.

use super::error::HttpError;
use super::framing::{BodyFraming, request_framing, response_framing};
use super::headers::{Headers, list_elements, trim_whitespace};

/// Largest head accepted by default, in bytes (request line or status
/// line, fields and the empty line).
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Most header fields accepted in one head by default.
pub const MAX_HEADERS: usize = 100;
/// Hard ceiling on [`HeadLimits::max_headers`]: the parser's field slots
/// live on the stack.
pub const HEADER_SLOTS: usize = 256;

/// Limits a head parser enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadLimits {
    /// Largest head in bytes; a longer request head is refused with 431.
    pub max_head_bytes: usize,
    /// Most header fields; more is refused with 431. Capped at
    /// [`HEADER_SLOTS`].
    pub max_headers: usize,
    /// Largest `Content-Length` accepted on a request, in bytes; more is
    /// refused with 413.
    pub max_content_length: u64,
    /// Refuse an HTTP/1.1 request without `Host` (400), as RFC 9112 §3.2
    /// asks of a server. An origin server that names no hosts may accept
    /// one instead.
    pub require_host: bool,
}

impl Default for HeadLimits {
    fn default() -> Self {
        Self {
            max_head_bytes: MAX_HEAD_BYTES,
            max_headers: MAX_HEADERS,
            max_content_length: u64::MAX,
            require_host: true,
        }
    }
}

/// The protocol version of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// HTTP/1.0: connections close after each message unless
    /// `Connection: keep-alive` says otherwise.
    Http10,
    /// HTTP/1.1: connections stay open unless `Connection: close`.
    Http11,
}

/// The outcome of a parse attempt that did not fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadStatus<T> {
    /// A whole head: `consumed` bytes at the front of the buffer were the
    /// head; the body (or the next message) starts right after them.
    Complete {
        /// The parsed head.
        head: T,
        /// How many bytes of the buffer the head took.
        consumed: usize,
    },
    /// The head has not ended yet: read more bytes and call again.
    Partial,
}

/// A parsed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// The method, e.g. `GET`.
    pub method: String,
    /// The request target as sent, e.g. `/search?q=rust`.
    pub target: String,
    /// The protocol version.
    pub version: Version,
    /// The header fields.
    pub headers: Headers,
    /// Where the body ends.
    pub framing: BodyFraming,
    /// Whether the client wants the connection kept open afterwards.
    pub keep_alive: bool,
    /// HTTP/1.1 `Expect: 100-continue`: the client waits for a 100
    /// response before sending the body.
    pub expects_continue: bool,
    /// HTTP/1.1 `Connection: upgrade` together with an `Upgrade` field.
    pub upgrade_requested: bool,
    /// The tokens of the `Connection` fields, in lower case.
    pub connection_tokens: Vec<String>,
}

/// A parsed response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// The protocol version.
    pub version: Version,
    /// The status code, 100..=599.
    pub status: u16,
    /// The reason phrase as sent (may be empty).
    pub reason: String,
    /// The header fields.
    pub headers: Headers,
    /// Where the body ends (already accounts for the request method).
    pub framing: BodyFraming,
    /// Whether the backend lets the connection be reused afterwards. False
    /// whenever the body runs until close.
    pub keep_alive: bool,
    /// The tokens of the `Connection` fields, in lower case.
    pub connection_tokens: Vec<String>,
}

impl ResponseHead {
    /// A 1xx other than 101: the real response follows on the same
    /// connection, after this head.
    pub fn is_interim(&self) -> bool {
        (100..200).contains(&self.status) && self.status != 101
    }

    /// A 101 that switches to the protocol named by its `Upgrade` field.
    pub fn is_upgrade(&self) -> bool {
        self.status == 101 && self.headers.contains("upgrade")
    }
}

/// Reads request heads from the front of a buffer, one at a time.
///
/// Between calls the buffer must keep starting at the same message and
/// may only grow; after a `Complete` or an error the parser starts afresh,
/// so the next call expects the next message (pipelined requests: drop
/// `consumed` bytes, then call again).
#[derive(Debug, Clone)]
pub struct RequestParser {
    limits: HeadLimits,
    scan: LineScan,
}

impl RequestParser {
    /// A parser enforcing `limits`.
    pub fn new(limits: HeadLimits) -> Self {
        Self {
            limits,
            scan: LineScan::default(),
        }
    }

    /// Tries to parse the request head at the front of `buf`.
    pub fn parse(&mut self, buf: &[u8]) -> Result<HeadStatus<RequestHead>, HttpError> {
        let limits = self.limits;
        let Some(view) = self.scan.next_view(buf, limits.max_head_bytes)? else {
            return Ok(HeadStatus::Partial);
        };
        let mut slots = [httparse::EMPTY_HEADER; HEADER_SLOTS];
        let mut request =
            httparse::Request::new(&mut slots[..limits.max_headers.min(HEADER_SLOTS)]);
        let outcome = request.parse(view);
        let settled = match self.scan.settle(outcome, buf.len(), &limits) {
            // "GET / HTTP/2.0" names a version we do not speak (505); a line
            // that names no HTTP version at all is just not a request line.
            Err(HttpError::UnsupportedVersion) if !names_http_version(view) => {
                Err(HttpError::InvalidRequestLine)
            }
            other => other,
        };
        let consumed = match settled? {
            Some(consumed) => consumed,
            None => return Ok(HeadStatus::Partial),
        };
        let version = version_of(request.version);
        let fields = request.headers.len();
        let headers = Headers::from_parsed(&view[..consumed], &request.headers[..fields]);
        let head = build_request(
            request.method.unwrap_or_default().to_owned(),
            request.path.unwrap_or_default().to_owned(),
            version,
            headers,
            &limits,
        )?;
        Ok(HeadStatus::Complete { head, consumed })
    }
}

/// Reads response heads from the front of a buffer, one at a time, with
/// the same buffer rules as [`RequestParser`].
#[derive(Debug, Clone)]
pub struct ResponseParser {
    limits: HeadLimits,
    scan: LineScan,
}

impl ResponseParser {
    /// A parser enforcing `limits` (`max_content_length` is not applied to
    /// responses).
    pub fn new(limits: HeadLimits) -> Self {
        Self {
            limits,
            scan: LineScan::default(),
        }
    }

    /// Tries to parse the head of the response to a request made with
    /// `request_method` (HEAD and CONNECT change the framing). Every error
    /// is an [`HttpError::InvalidResponse`], mapping to 502.
    pub fn parse(
        &mut self,
        buf: &[u8],
        request_method: &str,
    ) -> Result<HeadStatus<ResponseHead>, HttpError> {
        self.parse_inner(buf, request_method)
            .map_err(HttpError::in_response)
    }

    fn parse_inner(
        &mut self,
        buf: &[u8],
        request_method: &str,
    ) -> Result<HeadStatus<ResponseHead>, HttpError> {
        let limits = self.limits;
        let Some(view) = self.scan.next_view(buf, limits.max_head_bytes)? else {
            return Ok(HeadStatus::Partial);
        };
        let mut slots = [httparse::EMPTY_HEADER; HEADER_SLOTS];
        let mut response =
            httparse::Response::new(&mut slots[..limits.max_headers.min(HEADER_SLOTS)]);
        let outcome = response.parse(view);
        let consumed = match self.scan.settle(outcome, buf.len(), &limits)? {
            Some(consumed) => consumed,
            None => return Ok(HeadStatus::Partial),
        };
        let version = version_of(response.version);
        let status = response.code.unwrap_or_default();
        // httparse takes any three digits; RFC 9110 §15 calls the codes
        // outside 100..=599 invalid.
        if !(100..=599).contains(&status) {
            return Err(HttpError::InvalidStatusLine);
        }
        let fields = response.headers.len();
        let headers = Headers::from_parsed(&view[..consumed], &response.headers[..fields]);
        let framing = response_framing(version, status, request_method, &headers)?;
        let connection_tokens = connection_tokens(&headers);
        let keep_alive =
            wants_keep_alive(version, &connection_tokens) && framing != BodyFraming::UntilClose;
        let head = ResponseHead {
            version,
            status,
            reason: response.reason.unwrap_or_default().to_owned(),
            headers,
            framing,
            keep_alive,
            connection_tokens,
        };
        Ok(HeadStatus::Complete { head, consumed })
    }
}

/// Parses one request head from the front of `buf` with a fresh parser.
pub fn parse_request_head(
    buf: &[u8],
    limits: &HeadLimits,
) -> Result<HeadStatus<RequestHead>, HttpError> {
    RequestParser::new(*limits).parse(buf)
}

/// Parses one response head from the front of `buf` with a fresh parser.
pub fn parse_response_head(
    buf: &[u8],
    request_method: &str,
    limits: &HeadLimits,
) -> Result<HeadStatus<ResponseHead>, HttpError> {
    ResponseParser::new(*limits).parse(buf, request_method)
}

/// Decides when running httparse is worth it. A head can only end on a
/// line feed, so httparse runs only when a new one arrived, and only over
/// the bytes up to the last one: a trickling client then costs one parse
/// per line, not one per byte, and the answer depends only on the bytes,
/// never on how they were split into reads.
#[derive(Debug, Clone, Default)]
struct LineScan {
    /// Length of the prefix already parsed (ends on a line feed), or 0.
    parsed_up_to: usize,
}

impl LineScan {
    /// The prefix of `buf` to hand to httparse, or `None` when no new line
    /// ended since the last call.
    fn next_view<'b>(
        &mut self,
        buf: &'b [u8],
        limit: usize,
    ) -> Result<Option<&'b [u8]>, HttpError> {
        let view = &buf[..buf.len().min(limit)];
        if self.parsed_up_to > view.len() {
            // The caller broke the contract (the buffer shrank); start over.
            self.parsed_up_to = 0;
        }
        let newest = &view[self.parsed_up_to..];
        match newest.iter().rposition(|&byte| byte == b'\n') {
            Some(at) => Ok(Some(&view[..self.parsed_up_to + at + 1])),
            None if buf.len() >= limit => {
                self.parsed_up_to = 0;
                Err(HttpError::HeadTooLarge { limit })
            }
            None => Ok(None),
        }
    }

    /// Turns httparse's answer into "head of n bytes" or "need more",
    /// remembering how far it looked.
    fn settle(
        &mut self,
        outcome: httparse::Result<usize>,
        buffered: usize,
        limits: &HeadLimits,
    ) -> Result<Option<usize>, HttpError> {
        match outcome {
            Ok(httparse::Status::Complete(consumed)) => {
                self.parsed_up_to = 0;
                Ok(Some(consumed))
            }
            Ok(httparse::Status::Partial) if buffered >= limits.max_head_bytes => {
                self.parsed_up_to = 0;
                Err(HttpError::HeadTooLarge {
                    limit: limits.max_head_bytes,
                })
            }
            Ok(httparse::Status::Partial) => {
                // No line feed lies past the parsed prefix, so the next
                // search can start at the end of what is buffered.
                self.parsed_up_to = buffered.min(limits.max_head_bytes);
                Ok(None)
            }
            Err(error) => {
                self.parsed_up_to = 0;
                Err(HttpError::from_httparse(error, limits.max_headers))
            }
        }
    }
}

/// Whether the request line's third word starts like a protocol version.
fn names_http_version(view: &[u8]) -> bool {
    let line = view.split(|&b| b == b'\n').next().unwrap_or_default();
    line.split(|&b| b == b' ')
        .filter(|word| !word.is_empty())
        .nth(2)
        .is_some_and(|word| word.starts_with(b"HTTP/"))
}

fn version_of(minor: Option<u8>) -> Version {
    if minor == Some(0) {
        Version::Http10
    } else {
        Version::Http11
    }
}

fn build_request(
    method: String,
    target: String,
    version: Version,
    headers: Headers,
    limits: &HeadLimits,
) -> Result<RequestHead, HttpError> {
    match headers.get_all("host").count() {
        0 if version == Version::Http11 && limits.require_host => {
            return Err(HttpError::MissingHost);
        }
        0 | 1 => {}
        _ => return Err(HttpError::RepeatedHost),
    }
    let framing = request_framing(version, &headers, limits.max_content_length)?;
    let connection_tokens = connection_tokens(&headers);
    let keep_alive = wants_keep_alive(version, &connection_tokens);
    let is_http11 = version == Version::Http11;
    let expects_continue = is_http11
        && headers
            .get_all("expect")
            .any(|value| trim_whitespace(value).eq_ignore_ascii_case(b"100-continue"));
    let upgrade_requested = is_http11
        && connection_tokens.iter().any(|token| token == "upgrade")
        && headers
            .get_all("upgrade")
            .any(|value| !trim_whitespace(value).is_empty());
    Ok(RequestHead {
        method,
        target,
        version,
        headers,
        framing,
        keep_alive,
        expects_continue,
        upgrade_requested,
        connection_tokens,
    })
}

fn connection_tokens(headers: &Headers) -> Vec<String> {
    headers
        .get_all("connection")
        .flat_map(list_elements)
        .map(|token| String::from_utf8_lossy(token).to_ascii_lowercase())
        .collect()
}

fn wants_keep_alive(version: Version, tokens: &[String]) -> bool {
    let has = |wanted: &str| tokens.iter().any(|token| token == wanted);
    match version {
        Version::Http11 => !has("close"),
        Version::Http10 => has("keep-alive") && !has("close"),
    }
}
