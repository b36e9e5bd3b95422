//! What the status port says: the agent-check line for balancers, and the
//! JSON page for an HTTP `GET /`. Plain data in, bytes out; the server reads
//! the socket and samples the load.
//!
//! The agent line is `up W% L\n` (docs/lb-protocols.md): `up` keeps the
//! server in rotation, `W%` (W = max(1, 100 - L)) is the dynamic weight that
//! HAProxy's `agent-check` applies, and the bare number L, the server's CPU
//! load in percent, is what `distloop lb --strategy least-load` follows.

use serde_json::json;

use crate::http::{HeadLimits, HeadStatus, HttpError, RequestParser, error_response};

/// Largest HTTP request head read on the status port, in bytes.
pub const MAX_STATUS_HEAD_BYTES: usize = 8 * 1024;

/// A server's state at one moment, as the status port reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusSnapshot {
    /// The server's name.
    pub name: String,
    /// This process's CPU use over the last sampling interval, in percent
    /// of one core, capped at 100.
    pub load: u8,
    /// The whole machine's CPU use over the same interval, in percent.
    pub machine_load: f32,
    /// Requests (lines) answered so far.
    pub requests: u64,
    /// Calculator connections open now.
    pub connections: u64,
    /// The `--burn` percentage.
    pub burn: u8,
}

/// The agent-check line for a load in percent: `up W% L\n`.
///
/// ```
/// use distloop::apps::calc::status::agent_line;
/// assert_eq!(agent_line(0), "up 100% 0\n");
/// assert_eq!(agent_line(80), "up 20% 80\n");
/// assert_eq!(agent_line(100), "up 1% 100\n");
/// ```
pub fn agent_line(load: u8) -> String {
    let load = load.min(100);
    let weight = (100 - load).max(1);
    format!("up {weight}% {load}\n")
}

/// The JSON body of `GET /`.
pub fn status_json(snapshot: &StatusSnapshot) -> String {
    json!({
        "name": snapshot.name,
        "load": snapshot.load,
        "machine_load": (f64::from(snapshot.machine_load) * 10.0).round() / 10.0,
        "requests": snapshot.requests,
        "connections": snapshot.connections,
        "burn": snapshot.burn,
        "agent": agent_line(snapshot.load).trim_end(),
    })
    .to_string()
}

/// What to do with the bytes an HTTP client sent to the status port so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpReply {
    /// The head is not whole yet: read more.
    NeedMore,
    /// Send this and close.
    Send(Vec<u8>),
}

/// Answers an HTTP request on the status port: `GET /` (or `HEAD /`) gets
/// the JSON status, any other path 404, any other method 405, a malformed
/// head its 4xx.
pub fn answer_http(buffered: &[u8], snapshot: &StatusSnapshot) -> HttpReply {
    let limits = HeadLimits {
        max_head_bytes: MAX_STATUS_HEAD_BYTES,
        ..HeadLimits::default()
    };
    let head = match RequestParser::new(limits).parse(buffered) {
        Ok(HeadStatus::Partial) => return HttpReply::NeedMore,
        Ok(HeadStatus::Complete { head, .. }) => head,
        Err(error) => return HttpReply::Send(http_error(&error)),
    };
    let path = head.target.split('?').next().unwrap_or("");
    let (status, content_type, body) = match (head.method.as_str(), path) {
        ("GET" | "HEAD", "/") => (200, "application/json", status_json(snapshot) + "\n"),
        ("GET" | "HEAD", _) => (404, "text/plain", "only / is served here\n".to_string()),
        _ => (405, "text/plain", "use GET /\n".to_string()),
    };
    let mut reply = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        crate::http::reason_phrase(status),
        body.len()
    )
    .into_bytes();
    if head.method != "HEAD" {
        reply.extend_from_slice(body.as_bytes());
    }
    HttpReply::Send(reply)
}

fn http_error(error: &HttpError) -> Vec<u8> {
    error_response(error.status(), &error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> StatusSnapshot {
        StatusSnapshot {
            name: "calc0".into(),
            load: 37,
            machine_load: 52.25,
            requests: 12,
            connections: 2,
            burn: 0,
        }
    }

    #[test]
    fn the_weight_falls_as_the_load_rises_but_stays_positive() {
        assert_eq!(agent_line(37), "up 63% 37\n");
        assert_eq!(agent_line(99), "up 1% 99\n");
        assert_eq!(agent_line(250), "up 1% 100\n", "loads cap at 100");
    }

    #[test]
    fn get_slash_answers_the_status_as_json() {
        let HttpReply::Send(reply) = answer_http(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", &snapshot())
        else {
            panic!("a whole head")
        };
        let text = String::from_utf8(reply).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
        let value: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(value["name"], "calc0");
        assert_eq!(value["load"], 37);
        assert_eq!(value["machine_load"], 52.3);
        assert_eq!(value["requests"], 12);
        assert_eq!(value["agent"], "up 63% 37");
    }

    #[test]
    fn partial_heads_wait_and_bad_requests_get_http_errors() {
        assert_eq!(
            answer_http(b"GET / HTTP/1.1\r\n", &snapshot()),
            HttpReply::NeedMore
        );
        let status_of = |bytes: &[u8]| match answer_http(bytes, &snapshot()) {
            HttpReply::Send(reply) => String::from_utf8_lossy(&reply)[9..12].to_string(),
            HttpReply::NeedMore => "more".into(),
        };
        assert_eq!(status_of(b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n"), "404");
        assert_eq!(status_of(b"POST / HTTP/1.1\r\nHost: x\r\n\r\n"), "405");
        assert_eq!(status_of(b"GET / HTTP/1.1\r\nbad header\r\n\r\n"), "400");
        let huge = format!(
            "GET / HTTP/1.1\r\nX: {}\r\n",
            "a".repeat(MAX_STATUS_HEAD_BYTES)
        );
        assert_eq!(status_of(huge.as_bytes()), "431");
    }
}
