//! The HTTP health check on the wire: the request sent and the verdict on the
//! bytes that came back.
//!
//! Sans-IO. Only the status line matters (2xx and 3xx pass, as HAProxy's
//! default `http-check expect`), so the verdict is given as soon as the first
//! line is in and the rest of the response is never read. An interim 1xx
//! response fails: the request sends no `Expect`, so a backend has no reason
//! to send one.

use std::fmt;
use std::net::SocketAddr;

/// The most response bytes read while waiting for the status line.
pub const MAX_STATUS_LINE_BYTES: usize = 1024;

/// What the bytes read so far say about an HTTP check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpVerdict {
    /// The status line is not complete yet.
    Partial,
    /// A 2xx or 3xx status.
    Pass(u16),
    /// Any other status.
    Fail(u16),
    /// The bytes are not an HTTP/1.x status line.
    Invalid,
}

/// Judges the response bytes read so far.
pub fn evaluate_response(bytes: &[u8]) -> HttpVerdict {
    let Some(end) = bytes.iter().position(|&b| b == b'\n') else {
        if bytes.len() >= MAX_STATUS_LINE_BYTES {
            return HttpVerdict::Invalid;
        }
        // A prefix that cannot become a status line fails early.
        let seen = bytes.len().min(5);
        return if bytes[..seen] == b"HTTP/"[..seen] {
            HttpVerdict::Partial
        } else {
            HttpVerdict::Invalid
        };
    };
    let line = bytes[..end].strip_suffix(b"\r").unwrap_or(&bytes[..end]);
    let Ok(line) = std::str::from_utf8(line) else {
        return HttpVerdict::Invalid;
    };
    let mut parts = line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    let code = parts.next().unwrap_or("");
    if !matches!(version, "HTTP/1.0" | "HTTP/1.1") || code.len() != 3 {
        return HttpVerdict::Invalid;
    }
    match code.parse::<u16>() {
        Ok(status @ 100..=999) if (200..400).contains(&status) => HttpVerdict::Pass(status),
        Ok(status @ 100..=999) => HttpVerdict::Fail(status),
        _ => HttpVerdict::Invalid,
    }
}

/// The check request for `path` on the backend at `host`.
pub fn check_request(path: &str, host: SocketAddr) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: distloop-health-check\r\n\
         Accept: */*\r\nConnection: close\r\n\r\n"
    )
    .into_bytes()
}

/// Why one health check failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckFailure {
    /// The connection could not be made.
    Connect(String),
    /// The backend did not finish in time.
    Timeout,
    /// The connection broke while sending or reading.
    Io(String),
    /// The backend closed before sending a status line.
    Closed,
    /// The answer was malformed (not HTTP, or an overlong agent line).
    Invalid,
    /// The response status was not 2xx or 3xx.
    Status(u16),
}

impl fmt::Display for CheckFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckFailure::Connect(e) => write!(f, "connect failed: {e}"),
            CheckFailure::Timeout => f.write_str("timed out"),
            CheckFailure::Io(e) => write!(f, "connection broke: {e}"),
            CheckFailure::Closed => f.write_str("closed before answering"),
            CheckFailure::Invalid => f.write_str("answer is malformed or too long"),
            CheckFailure::Status(status) => write!(f, "answered status {status}"),
        }
    }
}

impl std::error::Error for CheckFailure {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_and_redirect_statuses_pass() {
        assert_eq!(
            evaluate_response(b"HTTP/1.1 200 OK\r\n"),
            HttpVerdict::Pass(200)
        );
        assert_eq!(
            evaluate_response(b"HTTP/1.0 204 \r\n"),
            HttpVerdict::Pass(204)
        );
        assert_eq!(
            evaluate_response(b"HTTP/1.1 302 Found\r\nLocation: /x\r\n\r\n"),
            HttpVerdict::Pass(302)
        );
        assert_eq!(evaluate_response(b"HTTP/1.1 200\n"), HttpVerdict::Pass(200));
    }

    #[test]
    fn other_statuses_fail() {
        for (bytes, status) in [
            (&b"HTTP/1.1 500 Internal Server Error\r\n"[..], 500),
            (b"HTTP/1.1 404 Not Found\r\n", 404),
            (b"HTTP/1.1 503 x\r\n", 503),
            (b"HTTP/1.1 100 Continue\r\n", 100),
        ] {
            assert_eq!(evaluate_response(bytes), HttpVerdict::Fail(status));
        }
    }

    #[test]
    fn an_incomplete_status_line_needs_more_bytes() {
        assert_eq!(evaluate_response(b""), HttpVerdict::Partial);
        assert_eq!(evaluate_response(b"HT"), HttpVerdict::Partial);
        assert_eq!(evaluate_response(b"HTTP/1.1 200 O"), HttpVerdict::Partial);
    }

    #[test]
    fn bytes_that_are_not_http_are_invalid() {
        for bytes in [
            &b"SSH-2.0-OpenSSH\r\n"[..],
            b"hello",
            b"HTTP/2 200\r\n",
            b"HTTP/1.1 20 OK\r\n",
            b"HTTP/1.1 abc OK\r\n",
            b"HTTP/1.1 2000 OK\r\n",
            b"HTTP/1.1 \xff\xfe\r\n",
        ] {
            assert_eq!(evaluate_response(bytes), HttpVerdict::Invalid, "{bytes:?}");
        }
    }

    #[test]
    fn an_overlong_status_line_is_invalid() {
        let mut bytes = b"HTTP/1.1 200 ".to_vec();
        bytes.resize(MAX_STATUS_LINE_BYTES, b'x');
        assert_eq!(evaluate_response(&bytes), HttpVerdict::Invalid);
    }

    #[test]
    fn the_request_asks_to_close_and_names_the_host() {
        let request = check_request("/health?full=1", "127.0.0.1:8080".parse().unwrap());
        let text = String::from_utf8(request).unwrap();
        assert!(text.starts_with("GET /health?full=1 HTTP/1.1\r\n"));
        assert!(text.contains("\r\nHost: 127.0.0.1:8080\r\n"));
        assert!(text.contains("\r\nConnection: close\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
        let parsed = crate::http::parse_request_head(text.as_bytes(), &Default::default());
        assert!(parsed.is_ok(), "{parsed:?}");
    }
}
