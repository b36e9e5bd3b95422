//! Why an HTTP/1.1 message was refused, which status that earns, and the
//! short plain-text response a proxy sends before closing.
//!
//! This file owns the error type shared by the head parsers and the body
//! framer; it does not decide *when* to answer, only *what* to answer.

use std::fmt;

/// A reason to refuse an HTTP/1.1 message. Every variant names one rule of
/// RFC 9112 or one of this crate's limits; [`HttpError::status`] tells the
/// status code owed to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// The head did not end within the size limit (bytes).
    HeadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The head has more header fields than the limit.
    TooManyHeaders {
        /// The limit in fields.
        limit: usize,
    },
    /// A header name holds a character outside `tchar`, or there is
    /// whitespace before the colon, or a line is folded (obs-fold).
    InvalidHeaderName,
    /// A header value holds a control character.
    InvalidHeaderValue,
    /// A line ends with a bare CR or another broken line ending.
    InvalidLineEnding,
    /// The request line has an invalid method or target.
    InvalidRequestLine,
    /// The status line is malformed.
    InvalidStatusLine,
    /// The protocol version is not HTTP/1.0 or HTTP/1.1.
    UnsupportedVersion,
    /// An HTTP/1.1 request without a `Host` field.
    MissingHost,
    /// A request with more than one `Host` field.
    RepeatedHost,
    /// Both `Transfer-Encoding` and `Content-Length` are present.
    ConflictingFraming,
    /// A `Content-Length` that is not a plain decimal number that fits u64.
    InvalidContentLength,
    /// Several `Content-Length` values that disagree.
    DifferingContentLengths,
    /// A request whose `Transfer-Encoding` does not end with `chunked`, or
    /// names `chunked` more than once.
    ChunkedNotLast,
    /// A transfer coding this crate does not know.
    UnknownTransferCoding(String),
    /// `Transfer-Encoding` in an HTTP/1.0 message, whose framing is then
    /// faulty by RFC 9112 §6.1.
    TransferEncodingInHttp10,
    /// The declared body is larger than allowed.
    ContentTooLarge {
        /// The declared length in bytes.
        length: u64,
        /// The limit in bytes.
        limit: u64,
    },
    /// A chunk-size that is empty, not hexadecimal, or overflows u64.
    InvalidChunkSize,
    /// A chunk extension with characters that are not allowed.
    InvalidChunkExtension,
    /// A chunk-size line or trailer line longer than its limit.
    ChunkLineTooLong,
    /// Chunk data not followed by CRLF, or a chunk line not ended by CRLF.
    MissingChunkLineEnd,
    /// A malformed trailer field line.
    InvalidTrailer,
    /// The trailer section is larger than its limit.
    TrailersTooLarge,
    /// The connection ended before the body did.
    IncompleteBody,
    /// A backend's response broke the rule inside: the client is owed 502.
    InvalidResponse(Box<HttpError>),
}

impl HttpError {
    /// The status code to send to the client for this error: 4xx/5xx for a
    /// bad request, always 502 for a bad response from a backend.
    pub fn status(&self) -> u16 {
        match self {
            Self::HeadTooLarge { .. } | Self::TooManyHeaders { .. } => 431,
            Self::UnsupportedVersion => 505,
            Self::UnknownTransferCoding(_) => 501,
            Self::ContentTooLarge { .. } => 413,
            Self::InvalidResponse(_) => 502,
            Self::InvalidHeaderName
            | Self::InvalidHeaderValue
            | Self::InvalidLineEnding
            | Self::InvalidRequestLine
            | Self::InvalidStatusLine
            | Self::MissingHost
            | Self::RepeatedHost
            | Self::ConflictingFraming
            | Self::InvalidContentLength
            | Self::DifferingContentLengths
            | Self::ChunkedNotLast
            | Self::TransferEncodingInHttp10
            | Self::InvalidChunkSize
            | Self::InvalidChunkExtension
            | Self::ChunkLineTooLong
            | Self::MissingChunkLineEnd
            | Self::InvalidTrailer
            | Self::TrailersTooLarge
            | Self::IncompleteBody => 400,
        }
    }

    /// Wraps an error found in a response so that it maps to 502.
    pub(crate) fn in_response(self) -> Self {
        match self {
            Self::InvalidResponse(_) => self,
            other => Self::InvalidResponse(Box::new(other)),
        }
    }

    pub(crate) fn from_httparse(error: httparse::Error, max_headers: usize) -> Self {
        match error {
            httparse::Error::HeaderName => Self::InvalidHeaderName,
            httparse::Error::HeaderValue => Self::InvalidHeaderValue,
            httparse::Error::NewLine => Self::InvalidLineEnding,
            httparse::Error::Status => Self::InvalidStatusLine,
            httparse::Error::Token => Self::InvalidRequestLine,
            httparse::Error::TooManyHeaders => Self::TooManyHeaders { limit: max_headers },
            httparse::Error::Version => Self::UnsupportedVersion,
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::HeadTooLarge { limit } => {
                write!(f, "the message head is larger than {limit} bytes")
            }
            Self::TooManyHeaders { limit } => {
                write!(f, "the message has more than {limit} header fields")
            }
            Self::InvalidHeaderName => f.write_str(
                "a header name is invalid (bad character, space before the colon, or a folded line)",
            ),
            Self::InvalidHeaderValue => f.write_str("a header value holds a control character"),
            Self::InvalidLineEnding => f.write_str("a line does not end with CRLF"),
            Self::InvalidRequestLine => f.write_str("the request line has an invalid method or target"),
            Self::InvalidStatusLine => f.write_str("the status line is malformed"),
            Self::UnsupportedVersion => f.write_str("only HTTP/1.0 and HTTP/1.1 are supported"),
            Self::MissingHost => f.write_str("an HTTP/1.1 request must carry a Host header"),
            Self::RepeatedHost => f.write_str("the request carries more than one Host header"),
            Self::ConflictingFraming => {
                f.write_str("the message has both Transfer-Encoding and Content-Length")
            }
            Self::InvalidContentLength => f.write_str("Content-Length is not a valid length"),
            Self::DifferingContentLengths => {
                f.write_str("the message carries Content-Length values that differ")
            }
            Self::ChunkedNotLast => {
                f.write_str("Transfer-Encoding must end with chunked, named once")
            }
            Self::UnknownTransferCoding(coding) => {
                write!(f, "the transfer coding {coding:?} is not supported")
            }
            Self::TransferEncodingInHttp10 => {
                f.write_str("an HTTP/1.0 message must not use Transfer-Encoding")
            }
            Self::ContentTooLarge { length, limit } => write!(
                f,
                "the body of {length} bytes is larger than the limit of {limit} bytes"
            ),
            Self::InvalidChunkSize => f.write_str("a chunk size is not a valid hexadecimal number"),
            Self::InvalidChunkExtension => f.write_str("a chunk extension holds invalid characters"),
            Self::ChunkLineTooLong => f.write_str("a chunk or trailer line is too long"),
            Self::MissingChunkLineEnd => f.write_str("a chunk is not followed by CRLF"),
            Self::InvalidTrailer => f.write_str("a trailer field is malformed"),
            Self::TrailersTooLarge => f.write_str("the trailer section is too large"),
            Self::IncompleteBody => f.write_str("the connection closed before the body ended"),
            Self::InvalidResponse(inner) => write!(f, "the backend sent an invalid response: {inner}"),
        }
    }
}

impl std::error::Error for HttpError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::InvalidResponse(inner) => Some(inner.as_ref()),
            _ => None,
        }
    }
}

/// The standard reason phrase for `status`, or `"Unknown"` for codes this
/// crate never sends itself.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        417 => "Expectation Failed",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// A complete HTTP/1.1 response with a plain-text body a person can read
/// (`"502 Bad Gateway: <detail>"`), `Content-Length` and `Connection: close`.
/// `detail` is written into the body only, never into a header, so any
/// bytes in it are harmless to the framing.
pub fn error_response(status: u16, detail: &str) -> Vec<u8> {
    let reason = reason_phrase(status);
    let body = if detail.is_empty() {
        format!("{status} {reason}\n")
    } else {
        format!("{status} {reason}: {detail}\n")
    };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_kind_of_fault() {
        assert_eq!(HttpError::HeadTooLarge { limit: 1 }.status(), 431);
        assert_eq!(HttpError::TooManyHeaders { limit: 1 }.status(), 431);
        assert_eq!(HttpError::ConflictingFraming.status(), 400);
        assert_eq!(HttpError::UnknownTransferCoding("br".into()).status(), 501);
        assert_eq!(HttpError::UnsupportedVersion.status(), 505);
        let big = HttpError::ContentTooLarge {
            length: 9,
            limit: 8,
        };
        assert_eq!(big.status(), 413);
        assert_eq!(HttpError::ConflictingFraming.in_response().status(), 502);
    }

    #[test]
    fn response_errors_are_wrapped_once() {
        let twice = HttpError::InvalidChunkSize.in_response().in_response();
        assert_eq!(
            twice,
            HttpError::InvalidResponse(Box::new(HttpError::InvalidChunkSize))
        );
        assert!(std::error::Error::source(&twice).is_some());
    }

    #[test]
    fn error_response_is_a_complete_closing_response() {
        for status in [400, 413, 431, 502, 503, 504] {
            let bytes = error_response(status, "backend 127.0.0.1:5001 refused the connection");
            let text = String::from_utf8(bytes).unwrap();
            let (head, body) = text.split_once("\r\n\r\n").unwrap();
            let reason = reason_phrase(status);
            assert_ne!(reason, "Unknown");
            assert!(head.starts_with(&format!("HTTP/1.1 {status} {reason}\r\n")));
            assert!(head.contains("\r\nConnection: close"));
            assert!(head.contains(&format!("\r\nContent-Length: {}", body.len())));
            assert!(body.contains("refused the connection"));
        }
    }

    #[test]
    fn error_response_detail_cannot_inject_headers() {
        let bytes = error_response(400, "x\r\n\r\nHTTP/1.1 200 OK");
        let text = String::from_utf8(bytes).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(!head.contains("200 OK"));
        assert_eq!(head.matches("\r\n").count(), 3);
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
    }
}
