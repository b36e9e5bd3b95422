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
use std::sync::atomic::Ordering;
use std::thread;
use std::time::Duration;

use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token, Waker};

use super::registry::ConnectionRegistry;
use super::response::Response;
use super::{Handler, Lifecycle, ServerLimits, connection};

const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);

/// How long to wait before accepting again after an error such as running
/// out of file descriptors, which a retry right away would only repeat.
const ACCEPT_RETRY_DELAY: Duration = Duration::from_millis(100);

/// How long to wait for threads after force-closing their connections.
const FORCED_CLOSE_WAIT: Duration = Duration::from_secs(1);

/// Longest a refusal of a connection over the limit may block.
const REFUSAL_WRITE_TIMEOUT: Duration = Duration::from_secs(1);

/// State every connection thread shares.
pub(crate) struct Shared<H> {
    pub handler: H,
    pub limits: ServerLimits,
    pub lifecycle: Arc<Lifecycle>,
    pub registry: ConnectionRegistry,
}

/// A bound server, ready to [`run`](Server::run).
pub struct Server<H: Handler> {
    poll: Poll,
    listener: TcpListener,
    local_addr: SocketAddr,
    shared: Arc<Shared<H>>,
    stopper: Stopper,
}

/// Stops a running (or not yet running) [`Server`] from any thread.
#[derive(Debug, Clone)]
pub struct Stopper {
    lifecycle: Arc<Lifecycle>,
    waker: Arc<Waker>,
}

impl Stopper {
    /// Asks the server to stop: it accepts no more connections, finishes
    /// the requests in flight (within the shutdown grace) and `run`
    /// returns.
    pub fn stop(&self) {
        self.lifecycle.stopping.store(true, Ordering::SeqCst);
        // A failed wake leaves the flag set; the next wake-up sees it.
        let _ = self.waker.wake();
    }
}

impl<H: Handler> Server<H> {
    /// Binds `listen`; `handler` answers every request.
    pub fn bind(listen: SocketAddr, limits: ServerLimits, handler: H) -> io::Result<Server<H>> {
        Server::from_listener(std::net::TcpListener::bind(listen)?, limits, handler)
    }

    /// Serves on an already bound listener (so that the caller can know the
    /// address before choosing `limits` or `handler`).
    pub fn from_listener(
        listener: std::net::TcpListener,
        limits: ServerLimits,
        handler: H,
    ) -> io::Result<Server<H>> {
        listener.set_nonblocking(true)?;
        let mut listener = TcpListener::from_std(listener);
        let local_addr = listener.local_addr()?;
        let poll = Poll::new()?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let lifecycle = Arc::new(Lifecycle::default());
        let shared = Arc::new(Shared {
            handler,
            registry: ConnectionRegistry::new(limits.max_connections),
            limits,
            lifecycle: lifecycle.clone(),
        });
        let stopper = Stopper { lifecycle, waker };
        Ok(Server {
            poll,
            listener,
            local_addr,
            shared,
            stopper,
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The handler.
    pub fn handler(&self) -> &H {
        &self.shared.handler
    }

    /// A handle that stops the server.
    pub fn stopper(&self) -> Stopper {
        self.stopper.clone()
    }

    /// Serves until stopped, then returns once in-flight requests are done
    /// (or the shutdown grace has passed and their connections are closed).
    pub fn run(mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(64);
        let mut timeout = None;
        while !self.shared.lifecycle.stopping.load(Ordering::SeqCst) {
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
                Ok((stream, peer)) => self.admit(stream.into(), peer),
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
    fn admit(&self, stream: TcpStream, peer: SocketAddr) {
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
            .name("http-connection".to_string())
            .spawn(move || {
                connection::serve(stream, peer, &registration.shared);
                drop(registration);
            });
        // On failure the closure, and with it the stream and the
        // registration, is dropped: the client sees the connection close.
        drop(spawned);
    }

    fn refuse(&self, mut stream: TcpStream, reason: &str) {
        let bytes =
            Response::error(503, reason).encode_head(&self.shared.limits.response_headers, true);
        let body = format!("{reason}\n");
        let _ = stream.set_write_timeout(Some(REFUSAL_WRITE_TIMEOUT));
        let _ = stream.write_all(&bytes);
        let _ = stream.write_all(body.as_bytes());
    }
}

/// Ends idle keep-alive reads, lets in-flight requests finish within the
/// shutdown grace, then closes whatever is left.
fn finish_in_flight<H>(shared: &Shared<H>) {
    let registry = &shared.registry;
    registry.shutdown_all(Shutdown::Read);
    if registry.wait_until_empty(shared.limits.shutdown_grace) {
        return;
    }
    shared.lifecycle.abandoned.store(true, Ordering::SeqCst);
    registry.shutdown_all(Shutdown::Both);
    registry.wait_until_empty(FORCED_CLOSE_WAIT);
}

/// Unregisters a connection when its thread ends, however it ends.
struct Registration<H> {
    shared: Arc<Shared<H>>,
    id: u64,
}

impl<H> Drop for Registration<H> {
    fn drop(&mut self) {
        self.shared.registry.unregister(self.id);
    }
}
