//! An HTTP/1.1 response and its bytes on the wire.
//!
//! Owns the status line, the headers every response carries
//! (`Content-Type`, `Content-Length`, `X-Backend`, `Connection`) and the
//! rule that a HEAD answer has the GET answer's headers but no body. Writes
//! to no socket.

/// A response before encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The `Content-Type` value.
    pub content_type: &'static str,
    /// Headers beyond the ones every response carries.
    pub extra_headers: Vec<(&'static str, String)>,
    /// The body (sent for GET, only measured for HEAD).
    pub body: Vec<u8>,
}

/// Plain text, UTF-8.
pub const TEXT_PLAIN: &str = "text/plain; charset=utf-8";

/// HTML, UTF-8.
pub const TEXT_HTML: &str = "text/html; charset=utf-8";

impl Response {
    /// A plain-text response.
    pub fn text(status: u16, body: impl Into<String>) -> Response {
        Response {
            status,
            content_type: TEXT_PLAIN,
            extra_headers: Vec::new(),
            body: body.into().into_bytes(),
        }
    }

    /// An HTML response.
    pub fn html(status: u16, body: impl Into<String>) -> Response {
        Response {
            status,
            content_type: TEXT_HTML,
            extra_headers: Vec::new(),
            body: body.into().into_bytes(),
        }
    }

    /// An error answer: the one-line `reason` as plain text.
    pub fn error(status: u16, reason: &str) -> Response {
        Response::text(status, format!("{reason}\n"))
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Response {
        self.extra_headers.push((name, value.into()));
        self
    }

    /// The bytes to send: status line, headers and, unless `head_only`, the
    /// body. `Content-Length` is the body's length either way.
    pub fn encode(&self, backend_name: &str, head_only: bool, close: bool) -> Vec<u8> {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nX-Backend: {}\r\nConnection: {}\r\n",
            self.status,
            reason_phrase(self.status),
            self.content_type,
            self.body.len(),
            backend_name,
            if close { "close" } else { "keep-alive" },
        );
        for (name, value) in &self.extra_headers {
            head.push_str(name);
            head.push_str(": ");
            head.push_str(value);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        if !head_only {
            bytes.extend_from_slice(&self.body);
        }
        bytes
    }
}

/// The reason phrase of the statuses this server sends.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_of(bytes: &[u8]) -> String {
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[test]
    fn encoded_response_carries_length_backend_and_connection() {
        let bytes = Response::text(200, "ok\n").encode("b1", false, false);
        assert_eq!(
            text_of(&bytes),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Length: 3\r\nX-Backend: b1\r\nConnection: keep-alive\r\n\r\nok\n"
        );
    }

    #[test]
    fn head_only_keeps_the_length_but_drops_the_body() {
        let bytes = Response::html(200, "<p>hi</p>").encode("b1", true, true);
        let text = text_of(&bytes);
        assert!(text.contains("Content-Length: 9\r\n"));
        assert!(text.contains("Connection: close\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
    }

    #[test]
    fn extra_headers_follow_the_standard_ones() {
        let bytes = Response::error(405, "use GET")
            .with_header("Allow", "GET, HEAD")
            .encode("b", false, true);
        let text = text_of(&bytes);
        assert!(text.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"));
        assert!(text.contains("\r\nAllow: GET, HEAD\r\n\r\nuse GET\n"));
    }
}
