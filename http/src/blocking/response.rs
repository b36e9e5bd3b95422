//! What a handler answers, and its head on the wire.
//!
//! A response is whole ([`ResponseBody::Full`], sent with its
//! `Content-Length`) or streamed ([`ResponseBody::Stream`], written by the
//! handler's closure after the head, the connection closing after it: what
//! Server-Sent Events need). A HEAD answer has the GET answer's head and no
//! body. Writes to no socket itself.

use std::fmt;
use std::io::{self, Write};

use crate::reason_phrase;

/// Plain text, UTF-8.
pub const TEXT_PLAIN: &str = "text/plain; charset=utf-8";
/// HTML, UTF-8.
pub const TEXT_HTML: &str = "text/html; charset=utf-8";

/// Writes a streamed body to the client.
pub type StreamBody = Box<dyn FnOnce(&mut dyn Write) -> io::Result<()> + Send>;

/// A response body.
pub enum ResponseBody {
    /// All the bytes, sent with `Content-Length`.
    Full(Vec<u8>),
    /// Written after the head by the closure; the connection then closes.
    Stream(StreamBody),
}

impl fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResponseBody::Full(bytes) => write!(f, "Full({} bytes)", bytes.len()),
            ResponseBody::Stream(_) => write!(f, "Stream"),
        }
    }
}

/// A response before encoding.
#[derive(Debug)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The `Content-Type` value.
    pub content_type: String,
    /// Headers beyond `Content-Type`, `Content-Length` and `Connection`.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: ResponseBody,
    /// Close the connection after this response.
    pub close: bool,
}

impl Response {
    /// A whole response of `content_type`.
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            content_type: content_type.to_owned(),
            headers: Vec::new(),
            body: ResponseBody::Full(body.into()),
            close: false,
        }
    }

    /// A plain-text response.
    pub fn text(status: u16, body: impl Into<String>) -> Response {
        Response::new(status, TEXT_PLAIN, body.into())
    }

    /// An HTML response.
    pub fn html(status: u16, body: impl Into<String>) -> Response {
        Response::new(status, TEXT_HTML, body.into())
    }

    /// A JSON response of already encoded `json`.
    pub fn json(status: u16, json: impl Into<String>) -> Response {
        Response::new(status, "application/json", json.into())
    }

    /// An error answer: the one-line `reason` as plain text.
    pub fn error(status: u16, reason: &str) -> Response {
        Response::text(status, format!("{reason}\n"))
    }

    /// A streamed response: `write` writes the body after the head.
    pub fn stream(status: u16, content_type: &str, write: StreamBody) -> Response {
        Response {
            status,
            content_type: content_type.to_owned(),
            headers: Vec::new(),
            body: ResponseBody::Stream(write),
            close: true,
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Response {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// Closes the connection after this response.
    pub fn closing(mut self) -> Response {
        self.close = true;
        self
    }

    /// The head: status line, `Content-Type`, `Content-Length` (whole
    /// bodies), `always` headers, `Connection`, then the response's own.
    pub fn encode_head(&self, always: &[(String, String)], close: bool) -> Vec<u8> {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\n",
            self.status,
            reason_phrase(self.status),
            self.content_type
        );
        if let ResponseBody::Full(body) = &self.body {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        for (name, value) in always {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(if close {
            "Connection: close\r\n"
        } else {
            "Connection: keep-alive\r\n"
        });
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        head.into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_of(bytes: &[u8]) -> String {
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[test]
    fn a_whole_response_carries_length_and_connection() {
        let always = [("X-Backend".to_owned(), "b1".to_owned())];
        let head = Response::text(200, "ok\n").encode_head(&always, false);
        assert_eq!(
            text_of(&head),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Length: 3\r\nX-Backend: b1\r\nConnection: keep-alive\r\n\r\n"
        );
    }

    #[test]
    fn own_headers_follow_the_standard_ones() {
        let head = Response::error(405, "use GET")
            .with_header("Allow", "GET, HEAD")
            .encode_head(&[], true);
        let text = text_of(&head);
        assert!(text.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"));
        assert!(text.ends_with("Connection: close\r\nAllow: GET, HEAD\r\n\r\n"));
    }

    #[test]
    fn a_streamed_response_has_no_length_and_closes() {
        let response = Response::stream(200, "text/event-stream", Box::new(|_| Ok(())));
        assert!(response.close);
        let text = text_of(&response.encode_head(&[], true));
        assert!(!text.contains("Content-Length"));
    }
}
