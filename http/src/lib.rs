//! The sans-IO HTTP/1.1 framing core (RFC 9112) shared by the balancer's
//! reverse proxy, the Pi backend and the apps' web pages: functions over
//! byte slices and small state machines, with no sockets, clocks or
//! threads. Beside it, [`blocking`]: the one blocking, threaded server
//! built on it, which the Pi backend and the apps serve through.
//!
//! It is its own crate so that the Pi backend (which `distloop cluster`
//! runs) and `distloop` can both use it while the crate graph stays one-way:
//! `distloop` depends on `pi-backend`, and both depend on this crate, which
//! depends on neither. `distloop` re-exports it as `distloop::http`.
//!
//! A proxy uses it in three steps per message:
//! 1. [`RequestParser::parse`] (or [`ResponseParser::parse`]) on the bytes
//!    buffered so far, until it answers [`HeadStatus::Complete`];
//! 2. [`write_request_head`] (or [`write_response_head`]) to write the
//!    head for the other side, hop-by-hop fields replaced;
//! 3. a [`BodyFramer`] built from the head's [`BodyFraming`], fed the bytes
//!    after the head, to know how many to forward as they are.
//!
//! Errors are [`HttpError`]s whose [`HttpError::status`] is the status to
//! answer with [`error_response`].
//!
//! ```
//! use distloop_http::{
//!     BodyFramer, HeadLimits, HeadStatus, RequestParser, Scheme, write_request_head,
//! };
//!
//! let buffered = b"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET /";
//! let mut parser = RequestParser::new(HeadLimits::default());
//! let HeadStatus::Complete { head, consumed } = parser.parse(buffered)? else {
//!     unreachable!("the head is whole")
//! };
//! let mut to_backend = Vec::new();
//! write_request_head(&head, "10.0.0.7".parse().unwrap(), Scheme::Http, &mut to_backend);
//! let mut body = BodyFramer::new(head.framing);
//! let progress = body.advance(&buffered[consumed..])?;
//! to_backend.extend_from_slice(&buffered[consumed..consumed + progress.consumed]);
//! assert!(progress.complete);
//! assert!(to_backend.ends_with(b"\r\n\r\nabc"));
//! # Ok::<(), distloop_http::HttpError>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs, rust_2018_idioms)]

pub mod blocking;
mod body;
mod chunked;
mod error;
mod framing;
mod head;
mod headers;
mod rewrite;

#[cfg(test)]
mod tests;

pub use body::{BodyFramer, BodyProgress, ChunkedDecoder};
pub use chunked::{MAX_CHUNK_LINE_BYTES, MAX_TRAILER_BYTES};
pub use error::{HttpError, error_response, reason_phrase};
pub use framing::BodyFraming;
pub use head::{
    HEADER_SLOTS, HeadLimits, HeadStatus, MAX_HEAD_BYTES, MAX_HEADERS, RequestHead, RequestParser,
    ResponseHead, ResponseParser, Version, parse_request_head, parse_response_head,
};
pub use headers::Headers;
pub use rewrite::{Scheme, write_request_head, write_response_head};
