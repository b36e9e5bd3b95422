//! The one blocking HTTP/1.1 server of the project: a thread per
//! connection, every size and wait bounded, a graceful stop. The Pi
//! backend and the search apps serve through it; a service only writes a
//! [`Handler`].
//!
//! How a request travels: [`Server::run`] accepts a connection and gives it
//! a thread (`connection`), which reads a head with the crate's
//! [`RequestParser`](crate::RequestParser) (bounded in bytes and time),
//! hands the handler a [`Request`] whose [`RequestBody`] reads the body on
//! demand (Content-Length or chunked, bounded), writes the handler's
//! [`Response`] and reads past whatever body the handler left unread, so
//! the connection stays usable. Errors in the head are answered with their
//! status and the connection closes; a stopping server closes idle
//! connections, lets requests in flight finish within
//! [`ServerLimits::shutdown_grace`] and then closes the rest.
//!
//! This module knows no route and no page; it never imports a service.
//!
//! ```no_run
//! use distloop_http::blocking::{Handler, Request, Response, Server, ServerLimits};
//!
//! struct Hello;
//! impl Handler for Hello {
//!     fn handle(&self, request: &mut Request<'_>) -> Response {
//!         Response::text(200, format!("hello from {}\n", request.head.target))
//!     }
//! }
//!
//! let server = Server::bind("127.0.0.1:0".parse().unwrap(), ServerLimits::default(), Hello)?;
//! println!("listening on {}", server.local_addr());
//! let stopper = server.stopper();
//! let running = std::thread::spawn(move || server.run());
//! stopper.stop();
//! running.join().unwrap()?;
//! # Ok::<(), std::io::Error>(())
//! ```

mod body;
mod connection;
mod registry;
mod response;
mod server;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub use body::{BodyError, RequestBody};
pub use response::{Response, ResponseBody, StreamBody, TEXT_HTML, TEXT_PLAIN};
pub use server::{Server, Stopper};

use crate::RequestHead;

/// Answers requests; called from many connection threads at once.
pub trait Handler: Send + Sync + 'static {
    /// Answers one request. The body is still on the wire: read it through
    /// `request.body`; whatever is left unread the server reads and drops.
    fn handle(&self, request: &mut Request<'_>) -> Response;
}

/// One request as a handler sees it.
pub struct Request<'a> {
    /// The parsed head.
    pub head: RequestHead,
    /// The client's address.
    pub peer: SocketAddr,
    /// The body, read on demand.
    pub body: RequestBody<'a>,
    lifecycle: &'a Arc<Lifecycle>,
}

impl Request<'_> {
    /// The path of the target, without the query.
    pub fn path(&self) -> &str {
        let target = self.head.target.as_str();
        target.split_once('?').map_or(target, |(path, _)| path)
    }

    /// The query of the target (after `?`), or "".
    pub fn query(&self) -> &str {
        self.head.target.split_once('?').map_or("", |(_, q)| q)
    }

    /// The value of header `name` as text, if present and UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head
            .headers
            .get(name)
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Whether the server is stopping: long answers should end soon.
    pub fn is_stopping(&self) -> bool {
        self.lifecycle.stopping.load(Ordering::SeqCst)
    }

    /// A handle that tells later (from a streamed body, say) whether the
    /// server is stopping.
    pub fn stop_watch(&self) -> StopWatch {
        StopWatch {
            lifecycle: self.lifecycle.clone(),
        }
    }

    /// Whether the shutdown grace has passed: work still running should
    /// give up now.
    pub fn abandoned(&self) -> &AtomicBool {
        &self.lifecycle.abandoned
    }
}

/// Tells whether the server is stopping; cheap to clone and send.
#[derive(Debug, Clone)]
pub struct StopWatch {
    lifecycle: Arc<Lifecycle>,
}

impl StopWatch {
    /// Whether the server is stopping.
    pub fn is_stopping(&self) -> bool {
        self.lifecycle.stopping.load(Ordering::SeqCst)
    }
}

/// Every bound of the server, with its unit.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    /// Most connections served at once; the next gets 503 and is closed.
    pub max_connections: usize,
    /// Largest request head in bytes (431 beyond).
    pub max_head_bytes: usize,
    /// Most header fields in a request (431 beyond).
    pub max_headers: usize,
    /// Largest request body in bytes (413 beyond).
    pub max_body_bytes: u64,
    /// How long a kept-alive connection may wait for its next request.
    pub keep_alive_idle: Duration,
    /// How long a client may take to send a whole head once started.
    pub head_read_timeout: Duration,
    /// How long one read of a request body may wait for bytes.
    pub body_read_timeout: Duration,
    /// How long one write to a client may block.
    pub write_timeout: Duration,
    /// How long a stopping server waits for requests in flight.
    pub shutdown_grace: Duration,
    /// After an error answer, how long unread request bytes are drained.
    pub linger_timeout: Duration,
    /// After an error answer, the most bytes drained before closing.
    pub linger_max_bytes: usize,
    /// Headers added to every response, error answers included.
    pub response_headers: Vec<(String, String)>,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            max_connections: 4096,
            max_head_bytes: 16 * 1024,
            max_headers: 64,
            max_body_bytes: 1024 * 1024,
            keep_alive_idle: Duration::from_secs(30),
            head_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(5),
            linger_timeout: Duration::from_secs(2),
            linger_max_bytes: 256 * 1024,
            response_headers: Vec::new(),
        }
    }
}

/// The server's stop flags, shared with every connection.
#[derive(Debug, Default)]
pub(crate) struct Lifecycle {
    /// Set by [`Stopper::stop`]: answer what is in flight, then close.
    pub stopping: AtomicBool,
    /// Set when the shutdown grace has passed.
    pub abandoned: AtomicBool,
}
