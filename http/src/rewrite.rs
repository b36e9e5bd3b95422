//! Writing a parsed head to the other side of a proxy: hop-by-hop fields
//! (RFC 9110 §7.6.1) are dropped and replaced by the proxy's own
//! `Connection`, and the request gains `X-Forwarded-For` and
//! `X-Forwarded-Proto`. Outgoing responses are HTTP/1.1; requests keep the
//! client's version, so an HTTP/1.0 client never meets chunked coding.
//!
//! `Transfer-Encoding` and `Content-Length` are always kept, even when
//! `Connection` names them: the body is forwarded exactly as received, so
//! dropping either would let the next hop frame it differently.

use std::io::Write;
use std::net::IpAddr;

use super::error::reason_phrase;
use super::framing::BodyFraming;
use super::head::{RequestHead, ResponseHead, Version};

/// The scheme the client used to reach the proxy, told to the backend in
/// `X-Forwarded-Proto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTP over TLS.
    Https,
}

impl Scheme {
    fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
        }
    }
}

/// Fields that only concern one connection, whatever `Connection` says.
const HOP_BY_HOP: [&str; 5] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "upgrade",
];
/// Fields a `Connection` token must never remove: framing and routing.
const NEVER_DROPPED: [&str; 3] = ["content-length", "transfer-encoding", "host"];

/// Appends the head to send to a backend for `head`, received from
/// `client_addr` over `scheme`: hop-by-hop fields dropped (`Upgrade` kept
/// when an upgrade is requested), `client_addr` appended to
/// `X-Forwarded-For`, `X-Forwarded-Proto` set, and `Connection:
/// keep-alive` (or `Connection: upgrade`) added.
pub fn write_request_head(
    head: &RequestHead,
    client_addr: IpAddr,
    scheme: Scheme,
    out: &mut Vec<u8>,
) {
    out.extend_from_slice(head.method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(head.target.as_bytes());
    // An HTTP/1.0 client's request goes on as HTTP/1.0, so that the backend
    // answers without chunked coding, which such a client cannot read.
    out.extend_from_slice(match head.version {
        Version::Http10 => b" HTTP/1.0\r\n",
        Version::Http11 => b" HTTP/1.1\r\n",
    });
    let mut forwarded_for: Vec<&[u8]> = Vec::new();
    for (name, value) in head.headers.iter() {
        if name.eq_ignore_ascii_case(b"x-forwarded-for") {
            forwarded_for.push(value);
        } else if !name.eq_ignore_ascii_case(b"x-forwarded-proto")
            && !is_hop_by_hop(name, &head.connection_tokens, head.upgrade_requested)
        {
            write_field(out, name, value);
        }
    }
    if !head.headers.contains("host") {
        // An HTTP/1.0 client may omit Host; HTTP/1.1 requires the field,
        // empty when the authority is unknown (RFC 9112 §3.2).
        out.extend_from_slice(b"Host: \r\n");
    }
    out.extend_from_slice(b"X-Forwarded-For: ");
    for prior in forwarded_for.iter().filter(|value| !value.is_empty()) {
        out.extend_from_slice(prior);
        out.extend_from_slice(b", ");
    }
    // Writing into a Vec cannot fail.
    let _ = write!(out, "{client_addr}\r\n");
    out.extend_from_slice(b"X-Forwarded-Proto: ");
    out.extend_from_slice(scheme.as_str().as_bytes());
    out.extend_from_slice(b"\r\n");
    if head.upgrade_requested {
        out.extend_from_slice(b"Connection: upgrade\r\n\r\n");
    } else {
        out.extend_from_slice(b"Connection: keep-alive\r\n\r\n");
    }
}

/// Appends the head to send to the client for the backend's `head`:
/// hop-by-hop fields dropped, then `Connection: keep-alive` when
/// `keep_client_alive` holds and the body does not run until close,
/// `Connection: close` otherwise. A 101 keeps its `Upgrade` and says
/// `Connection: upgrade`; an interim 1xx gets no `Connection` field.
pub fn write_response_head(head: &ResponseHead, keep_client_alive: bool, out: &mut Vec<u8>) {
    let reason = if head.reason.is_empty() {
        reason_phrase(head.status)
    } else {
        &head.reason
    };
    // Writing into a Vec cannot fail.
    let _ = write!(out, "HTTP/1.1 {} {reason}\r\n", head.status);
    let upgrading = head.is_upgrade();
    for (name, value) in head.headers.iter() {
        if !is_hop_by_hop(name, &head.connection_tokens, upgrading) {
            write_field(out, name, value);
        }
    }
    if upgrading {
        out.extend_from_slice(b"Connection: upgrade\r\n");
    } else if head.is_interim() {
    } else if keep_client_alive && head.framing != BodyFraming::UntilClose {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    } else {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

fn is_hop_by_hop(name: &[u8], connection_tokens: &[String], keep_upgrade: bool) -> bool {
    let is = |candidate: &str| name.eq_ignore_ascii_case(candidate.as_bytes());
    if (keep_upgrade && is("upgrade")) || NEVER_DROPPED.into_iter().any(is) {
        return false;
    }
    HOP_BY_HOP.into_iter().any(is) || connection_tokens.iter().any(|token| is(token))
}

fn write_field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}
