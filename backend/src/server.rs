//! Binding a backend: its settings turned into the shared blocking
//! server's limits (with `X-Backend` on every response) and handler.
//! Accepting, connection threads and the graceful stop are the shared
//! server's (`distloop_http::blocking`).

use std::io;
use std::net::{SocketAddr, TcpListener};

use distloop_http::blocking::{self, ServerLimits};

use crate::compute_permits::ComputePermits;
use crate::config::Config;
use crate::handler::PiHandler;
use crate::limits::{
    KEEP_ALIVE_IDLE_TIMEOUT, LINGER_MAX_BYTES, LINGER_TIMEOUT, MAX_BODY_BYTES, MAX_CONNECTIONS,
    MAX_HEAD_BYTES, MAX_HEADERS, REQUEST_READ_TIMEOUT, SHUTDOWN_GRACE, WRITE_TIMEOUT,
};

pub use distloop_http::blocking::Stopper;

/// A bound Pi backend, ready to [`run`](Server::run).
pub struct Server {
    inner: blocking::Server<PiHandler>,
    name: String,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Server({} on {})", self.name, self.inner.local_addr())
    }
}

impl Server {
    /// Validates `config` and binds its listen address.
    pub fn bind(config: Config) -> io::Result<Server> {
        config
            .validate()
            .map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error))?;
        let listener = TcpListener::bind(config.listen)?;
        let local_addr = listener.local_addr()?;
        let name = config.name.unwrap_or_else(|| local_addr.to_string());
        let limits = ServerLimits {
            max_connections: MAX_CONNECTIONS,
            max_head_bytes: MAX_HEAD_BYTES,
            max_headers: MAX_HEADERS,
            max_body_bytes: MAX_BODY_BYTES,
            keep_alive_idle: KEEP_ALIVE_IDLE_TIMEOUT,
            head_read_timeout: REQUEST_READ_TIMEOUT,
            body_read_timeout: REQUEST_READ_TIMEOUT,
            write_timeout: WRITE_TIMEOUT,
            shutdown_grace: SHUTDOWN_GRACE,
            linger_timeout: LINGER_TIMEOUT,
            linger_max_bytes: LINGER_MAX_BYTES,
            response_headers: vec![("X-Backend".to_owned(), name.clone())],
        };
        let handler = PiHandler {
            slowdown: config.slowdown,
            delay: config.delay,
            permits: ComputePermits::new(config.threads),
        };
        let inner = blocking::Server::from_listener(listener, limits, handler)?;
        Ok(Server { inner, name })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr()
    }

    /// The `X-Backend` name the server answers with.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A handle that stops the server.
    pub fn stopper(&self) -> Stopper {
        self.inner.stopper()
    }

    /// Serves until stopped, then returns once in-flight requests are done
    /// (or the shutdown grace has passed and their connections are closed).
    pub fn run(self) -> io::Result<()> {
        self.inner.run()
    }
}
