//! Reading an HTTP/1.1 request head from bytes, without any I/O.
//!
//! [`parse_head`] looks at whatever bytes a connection has buffered and
//! answers "complete, with how many bytes the head used", "need more bytes"
//! or "invalid, and why". It owns the decisions that depend only on the
//! head: keep-alive, the body's framing and whether the client asked for
//! plain text. It reads no socket and knows nothing of routes.

use std::fmt;

use crate::limits::{MAX_HEAD_BYTES, MAX_HEADERS};

/// The request method, as far as this server cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    /// `GET`.
    Get,
    /// `HEAD`: answered like `GET`, without the body.
    Head,
    /// Anything else (answered 405).
    Other(String),
}

/// How the request's body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body.
    None,
    /// `Content-Length` bytes follow the head.
    Length(u64),
    /// A `Transfer-Encoding` body, which this server refuses (411).
    Chunked,
}

/// What a request head says, reduced to what the server needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// The method.
    pub method: Method,
    /// The request target as sent (path and maybe a query).
    pub target: String,
    /// Whether the connection stays open after the response.
    pub keep_alive: bool,
    /// Whether `Accept` lists `text/plain`.
    pub wants_text: bool,
    /// Whether the client waits for `100 Continue` before its body.
    pub expects_continue: bool,
    /// The body's framing.
    pub body: BodyFraming,
}

/// The result of looking at buffered bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadStatus {
    /// A whole head, which used the first `consumed` bytes of the buffer.
    Complete {
        /// The parsed head.
        head: RequestHead,
        /// Bytes of the buffer the head used (the body or the next request
        /// starts right after).
        consumed: usize,
    },
    /// The head is not complete yet: read more bytes.
    Partial,
}

/// Why a request head is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadError {
    /// Not valid HTTP/1.x syntax.
    Malformed(String),
    /// The head is longer than [`MAX_HEAD_BYTES`].
    TooLarge,
    /// More than [`MAX_HEADERS`] header fields.
    TooManyHeaders,
    /// A `Content-Length` that is not a number, or several that disagree.
    BadContentLength,
}

impl HeadError {
    /// The HTTP status that answers this error.
    pub fn status(&self) -> u16 {
        match self {
            HeadError::Malformed(_) | HeadError::BadContentLength => 400,
            HeadError::TooLarge | HeadError::TooManyHeaders => 431,
        }
    }
}

impl fmt::Display for HeadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeadError::Malformed(why) => write!(f, "malformed request head: {why}"),
            HeadError::TooLarge => {
                write!(f, "request head is longer than {MAX_HEAD_BYTES} bytes")
            }
            HeadError::TooManyHeaders => {
                write!(f, "request has more than {MAX_HEADERS} header fields")
            }
            HeadError::BadContentLength => write!(f, "invalid Content-Length"),
        }
    }
}

impl std::error::Error for HeadError {}

/// Parses the request head at the start of `buffer`.
///
/// Bytes after the head (a body, pipelined requests) are left alone; only
/// the first [`MAX_HEAD_BYTES`] bytes are ever examined.
pub fn parse_head(buffer: &[u8]) -> Result<HeadStatus, HeadError> {
    let window = &buffer[..buffer.len().min(MAX_HEAD_BYTES)];
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut fields);
    let consumed = match request.parse(window) {
        Ok(httparse::Status::Complete(consumed)) => consumed,
        Ok(httparse::Status::Partial) if buffer.len() >= MAX_HEAD_BYTES => {
            return Err(HeadError::TooLarge);
        }
        Ok(httparse::Status::Partial) => return Ok(HeadStatus::Partial),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooManyHeaders),
        Err(e) => return Err(HeadError::Malformed(e.to_string())),
    };
    let method = match request.method.unwrap_or_default() {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        other => Method::Other(other.to_string()),
    };
    let target = request.path.unwrap_or_default().to_string();
    let http_1_1 = request.version == Some(1);

    let mut wants_close = false;
    let mut wants_keep_alive = false;
    let mut wants_text = false;
    let mut expects_continue = false;
    let mut content_length: Option<u64> = None;
    let mut chunked = false;
    for field in request.headers.iter() {
        let value = String::from_utf8_lossy(field.value);
        let name = field.name;
        if name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                wants_close |= token.eq_ignore_ascii_case("close");
                wants_keep_alive |= token.eq_ignore_ascii_case("keep-alive");
            }
        } else if name.eq_ignore_ascii_case("accept") {
            wants_text |= accepts_text_plain(&value);
        } else if name.eq_ignore_ascii_case("expect") {
            expects_continue |= value.trim().eq_ignore_ascii_case("100-continue");
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = true;
        } else if name.eq_ignore_ascii_case("content-length") {
            let length = parse_content_length(&value)?;
            if content_length.is_some_and(|previous| previous != length) {
                return Err(HeadError::BadContentLength);
            }
            content_length = Some(length);
        }
    }
    let body = match (chunked, content_length) {
        // Both framings at once is how requests get smuggled: refuse it.
        (true, Some(_)) => return Err(HeadError::BadContentLength),
        (true, None) => BodyFraming::Chunked,
        (false, Some(0) | None) => BodyFraming::None,
        (false, Some(length)) => BodyFraming::Length(length),
    };
    let keep_alive = !wants_close && (http_1_1 || wants_keep_alive);
    Ok(HeadStatus::Complete {
        head: RequestHead {
            method,
            target,
            keep_alive,
            wants_text,
            expects_continue,
            body,
        },
        consumed,
    })
}

/// Whether an `Accept` value lists the media type `text/plain`.
fn accepts_text_plain(value: &str) -> bool {
    value.split(',').any(|range| {
        let media_type = range.split(';').next().unwrap_or_default().trim();
        media_type.eq_ignore_ascii_case("text/plain")
    })
}

/// A `Content-Length` value: decimal digits only.
fn parse_content_length(value: &str) -> Result<u64, HeadError> {
    let value = value.trim();
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HeadError::BadContentLength);
    }
    value.parse().map_err(|_| HeadError::BadContentLength)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(bytes: &[u8]) -> (RequestHead, usize) {
        match parse_head(bytes) {
            Ok(HeadStatus::Complete { head, consumed }) => (head, consumed),
            other => panic!("expected a complete head, got {other:?}"),
        }
    }

    #[test]
    fn simple_get_is_complete_and_kept_alive() {
        let bytes = b"GET /42 HTTP/1.1\r\nHost: x\r\n\r\n";
        let (head, consumed) = complete(bytes);
        assert_eq!(consumed, bytes.len());
        assert_eq!(head.method, Method::Get);
        assert_eq!(head.target, "/42");
        assert!(head.keep_alive);
        assert!(!head.wants_text);
        assert_eq!(head.body, BodyFraming::None);
    }

    #[test]
    fn a_head_cut_anywhere_is_partial_not_an_error() {
        let bytes = b"GET /42 HTTP/1.1\r\nHost: x\r\nAccept: text/plain\r\n\r\n";
        for end in 0..bytes.len() {
            assert_eq!(
                parse_head(&bytes[..end]),
                Ok(HeadStatus::Partial),
                "cut at {end}"
            );
        }
    }

    #[test]
    fn pipelined_requests_consume_only_the_first_head() {
        let first = b"GET /1 HTTP/1.1\r\n\r\n";
        let mut bytes = first.to_vec();
        bytes.extend_from_slice(b"GET /2 HTTP/1.1\r\n\r\n");
        let (head, consumed) = complete(&bytes);
        assert_eq!(head.target, "/1");
        assert_eq!(consumed, first.len());
        let (second, _) = complete(&bytes[consumed..]);
        assert_eq!(second.target, "/2");
    }

    #[test]
    fn http_1_0_closes_unless_it_asks_for_keep_alive() {
        assert!(!complete(b"GET / HTTP/1.0\r\n\r\n").0.keep_alive);
        assert!(
            complete(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
                .0
                .keep_alive
        );
    }

    #[test]
    fn connection_close_is_honoured_among_other_tokens() {
        let (head, _) = complete(b"GET / HTTP/1.1\r\nConnection: TE, close\r\n\r\n");
        assert!(!head.keep_alive);
    }

    #[test]
    fn accept_text_plain_is_found_in_a_list_with_parameters() {
        let (head, _) = complete(b"GET / HTTP/1.1\r\nAccept: text/html, TEXT/PLAIN;q=0.9\r\n\r\n");
        assert!(head.wants_text);
        let (head, _) = complete(b"GET / HTTP/1.1\r\nAccept: text/plainish, */*\r\n\r\n");
        assert!(!head.wants_text);
    }

    #[test]
    fn other_methods_are_kept_by_name() {
        let (head, _) = complete(b"DELETE /1 HTTP/1.1\r\n\r\n");
        assert_eq!(head.method, Method::Other("DELETE".to_string()));
        assert_eq!(complete(b"HEAD /1 HTTP/1.1\r\n\r\n").0.method, Method::Head);
    }

    #[test]
    fn content_length_frames_the_body() {
        let (head, _) =
            complete(b"POST / HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello");
        assert_eq!(head.body, BodyFraming::Length(5));
        assert!(head.expects_continue);
        let (head, _) = complete(b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(head.body, BodyFraming::None);
    }

    #[test]
    fn bad_or_conflicting_content_lengths_are_refused() {
        for bytes in [
            &b"POST / HTTP/1.1\r\nContent-Length: five\r\n\r\n"[..],
            b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        ] {
            let error = parse_head(bytes).unwrap_err();
            assert_eq!(error, HeadError::BadContentLength);
            assert_eq!(error.status(), 400);
        }
    }

    #[test]
    fn transfer_encoding_marks_a_chunked_body() {
        let (head, _) = complete(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(head.body, BodyFraming::Chunked);
    }

    #[test]
    fn garbage_and_unknown_versions_are_malformed() {
        for bytes in [
            &b"\x00\x01\x02 nonsense\r\n\r\n"[..],
            b"GET / HTTP/2.0\r\n\r\n",
            b"GET /\r\n\r\n",
            b"GET / HTTP/1.1\r\nBad Header\r\n\r\n",
        ] {
            let error = parse_head(bytes).unwrap_err();
            assert!(matches!(error, HeadError::Malformed(_)), "{error:?}");
            assert_eq!(error.status(), 400);
        }
    }

    #[test]
    fn a_head_longer_than_the_limit_is_too_large() {
        let mut bytes = b"GET / HTTP/1.1\r\nX-Filler: ".to_vec();
        bytes.resize(MAX_HEAD_BYTES + 10, b'a');
        let error = parse_head(&bytes).unwrap_err();
        assert_eq!(error, HeadError::TooLarge);
        assert_eq!(error.status(), 431);
    }

    #[test]
    fn a_complete_head_followed_by_many_bytes_is_still_found() {
        let mut bytes = b"GET /7 HTTP/1.1\r\n\r\n".to_vec();
        bytes.resize(MAX_HEAD_BYTES * 3, b'G');
        let (head, consumed) = complete(&bytes);
        assert_eq!(head.target, "/7");
        assert_eq!(consumed, 19);
    }

    #[test]
    fn too_many_header_fields_are_refused() {
        let mut bytes = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            bytes.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
        }
        bytes.extend_from_slice(b"\r\n");
        let error = parse_head(&bytes).unwrap_err();
        assert_eq!(error, HeadError::TooManyHeaders);
        assert_eq!(error.status(), 431);
    }
}
