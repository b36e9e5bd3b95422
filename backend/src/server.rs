//! The listening socket, the accept loop and the graceful stop.
//!
//! [`Server::run`] waits on a mio poll for new connections and for the
//! [`Stopper`]'s wake-up, and gives each connection its own thread. When
//! stopped it closes the listener, ends idle reads, waits (bounded) for
//! in-flight requests and returns. Serving a connection is `connection`'s
//! business; this module only admits, counts and stops them.

use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token, Waker};

use crate::compute_permits::ComputePermits;
use crate::config::Config;
use crate::connection;
use crate::connection_registry::ConnectionRegistry;
use crate::limits::{MAX_CONNECTIONS, SHUTDOWN_GRACE, WRITE_TIMEOUT};
use crate::response::Response;

const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);

/// How long to wait before accepting again after an error such as running
/// out of file descriptors, which a retry right away would only repeat.
const ACCEPT_RETRY_DELAY: Duration = Duration::from_millis(100);

/// How long to wait for threads after force-closing their connections.
const FORCED_CLOSE_WAIT: Duration = Duration::from_secs(1);

/// State every connection thread shares.
#[derive(Debug)]
pub(crate) struct Shared {
    /// The `X-Backend` value.
    pub name: String,
    /// See [`Config::slowdown`].
    pub slowdown: f64,
    /// See [`Config::delay`].
    pub delay: Duration,
    /// Bounds concurrent π computations.
    pub permits: ComputePermits,
    /// Set by [`Stopper::stop`]: answer what is in flight, then close.
    pub stopping: AtomicBool,
    /// Set when the shutdown grace has passed: slow pages give up.
    pub abandoned: AtomicBool,
    /// Open connections.
    pub registry: ConnectionRegistry,
}

/// A bound Pi backend, ready to [`run`](Server::run).
#[derive(Debug)]
pub struct Server {
    poll: Poll,
    listener: TcpListener,
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    waker: Arc<Waker>,
}

/// Stops a running (or not yet running) [`Server`] from any thread.
#[derive(Debug, Clone)]
pub struct Stopper {
    shared: Arc<Shared>,
    waker: Arc<Waker>,
}

impl Stopper {
    /// Asks the server to stop: it accepts no more connections, finishes
    /// the requests in flight (for at most a few seconds) and `run` returns.
    pub fn stop(&self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // A failed wake leaves the flag set; the next poll wake-up sees it.
        let _ = self.waker.wake();
    }
}

impl Server {
    /// Validates `config` and binds its listen address.
    pub fn bind(config: Config) -> io::Result<Server> {
        config
            .validate()
            .map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error))?;
        let mut listener = TcpListener::bind(config.listen)?;
        let local_addr = listener.local_addr()?;
        let poll = Poll::new()?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let shared = Arc::new(Shared {
            name: config.name.unwrap_or_else(|| local_addr.to_string()),
            slowdown: config.slowdown,
            delay: config.delay,
            permits: ComputePermits::new(config.threads),
            stopping: AtomicBool::new(false),
            abandoned: AtomicBool::new(false),
            registry: ConnectionRegistry::new(MAX_CONNECTIONS),
        });
        Ok(Server {
            poll,
            listener,
            local_addr,
            shared,
            waker,
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The `X-Backend` name the server answers with.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// A handle that stops the server.
    pub fn stopper(&self) -> Stopper {
        Stopper {
            shared: self.shared.clone(),
            waker: self.waker.clone(),
        }
    }

    /// Serves until stopped, then returns once in-flight requests are done
    /// (or the shutdown grace has passed and their connections are closed).
    pub fn run(mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(64);
        let mut timeout = None;
        while !self.shared.stopping.load(Ordering::SeqCst) {
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(error),
            }
            // Whatever woke the poll (a connection, the waker, the retry
            // timeout), accepting until WouldBlock is correct and cheap.
            timeout = self.accept_pending();
        }
        let Server {
            listener, shared, ..
        } = self;
        drop(listener);
        finish_in_flight(&shared);
        Ok(())
    }

    /// Accepts every pending connection; a poll timeout when accepting has
    /// to be retried later.
    fn accept_pending(&mut self) -> Option<Duration> {
        loop {
            match self.listener.accept() {
                Ok((stream, _peer)) => self.admit(stream.into()),
                Err(error) => match error.kind() {
                    io::ErrorKind::WouldBlock => return None,
                    io::ErrorKind::Interrupted
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::ConnectionReset => {}
                    _ => return Some(ACCEPT_RETRY_DELAY),
                },
            }
        }
    }

    /// Gives `stream` a thread, or answers 503 when there is no room.
    fn admit(&self, stream: TcpStream) {
        // Accepted sockets do not inherit the listener's non-blocking mode on
        // Linux, but other systems differ: connection threads need blocking.
        if stream.set_nonblocking(false).is_err() {
            return;
        }
        let id = match self.shared.registry.register(&stream) {
            Ok(Some(id)) => id,
            Ok(None) => return self.refuse(stream, "too many connections"),
            Err(_) => return self.refuse(stream, "cannot track the connection"),
        };
        let registration = Registration {
            shared: self.shared.clone(),
            id,
        };
        let spawned = thread::Builder::new()
            .name("pi-connection".to_string())
            .spawn(move || {
                connection::serve(stream, &registration.shared);
                drop(registration);
            });
        // On failure the closure, and with it the stream and the
        // registration, is dropped: the client sees the connection close.
        drop(spawned);
    }

    fn refuse(&self, mut stream: TcpStream, reason: &str) {
        let bytes = Response::error(503, reason).encode(&self.shared.name, false, true);
        // A fresh socket's send buffer takes a short answer without blocking;
        // the timeout only guards against the unexpected.
        let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT.min(Duration::from_secs(1))));
        let _ = stream.write_all(&bytes);
    }
}

/// Ends idle keep-alive reads, lets in-flight requests finish within
/// [`SHUTDOWN_GRACE`], then closes whatever is left.
fn finish_in_flight(shared: &Shared) {
    let registry = &shared.registry;
    registry.shutdown_all(Shutdown::Read);
    if registry.wait_until_empty(SHUTDOWN_GRACE) {
        return;
    }
    shared.abandoned.store(true, Ordering::SeqCst);
    registry.shutdown_all(Shutdown::Both);
    registry.wait_until_empty(FORCED_CLOSE_WAIT);
}

/// Unregisters a connection when its thread ends, however it ends.
struct Registration {
    shared: Arc<Shared>,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.shared.registry.unregister(self.id);
    }
}
