//! The blocking models' listener, and the graceful stop they share.
//!
//! [`StoppableListener::accept`] blocks like `TcpListener::accept` but
//! returns `None` once a [`Stopper`] was used, from any thread (the signal
//! thread). Open sessions are tracked in [`OpenSessions`] so that a stop can
//! shut down their read halves: a session blocked in `read` then sees the end
//! of stream, echoes what it has and ends.

use std::collections::HashMap;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token, Waker};

use crate::reactor::{self, ListenOptions, TcpListener};

const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);

/// How long to wait before accepting again after an error such as running
/// out of file descriptors, which a retry right away would only repeat.
pub const ACCEPT_RETRY_DELAY: Duration = Duration::from_millis(100);

/// Sessions still open; a stop shuts their reads down.
#[derive(Debug, Default)]
pub struct OpenSessions {
    state: Mutex<Sessions>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct Sessions {
    stopping: bool,
    next_id: u64,
    streams: HashMap<u64, TcpStream>,
}

impl OpenSessions {
    fn lock(&self) -> MutexGuard<'_, Sessions> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Tracks `stream`; `None` when the server is stopping (or the socket
    /// cannot be cloned), and the caller should close it.
    pub fn open(self: &Arc<Self>, stream: &TcpStream) -> Option<SessionGuard> {
        let mut state = self.lock();
        if state.stopping {
            return None;
        }
        let clone = stream.try_clone().ok()?;
        let id = state.next_id;
        state.next_id += 1;
        state.streams.insert(id, clone);
        Some(SessionGuard {
            sessions: Arc::clone(self),
            id,
        })
    }

    /// How many sessions are open.
    pub fn len(&self) -> usize {
        self.lock().streams.len()
    }

    /// True when no session is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn stop(&self) {
        let mut state = self.lock();
        state.stopping = true;
        for stream in state.streams.values() {
            // The peer may be gone already; then there is nothing to stop.
            let _ = stream.shutdown(Shutdown::Read);
        }
    }

    /// Waits until every session ended, at most `timeout`; then closes both
    /// halves of whatever is left. True when all ended in time.
    pub fn drain(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        while !state.streams.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                for stream in state.streams.values() {
                    let _ = stream.shutdown(Shutdown::Both);
                }
                return false;
            }
            state = self
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }
}

/// Untracks its session when dropped, however the session ended.
#[derive(Debug)]
pub struct SessionGuard {
    sessions: Arc<OpenSessions>,
    id: u64,
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.sessions.lock().streams.remove(&self.id);
        self.sessions.changed.notify_all();
    }
}

/// Stops a [`StoppableListener`] and its sessions from any thread.
#[derive(Debug, Clone)]
pub struct Stopper {
    stopping: Arc<AtomicBool>,
    waker: Arc<Waker>,
    sessions: Arc<OpenSessions>,
}

impl Stopper {
    /// No more accepts; open sessions see the end of their input.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.sessions.stop();
        // A failed wake leaves the flag set; the next accept sees it.
        let _ = self.waker.wake();
    }
}

/// A listener whose blocking accept a [`Stopper`] can interrupt.
#[derive(Debug)]
pub struct StoppableListener {
    poll: Poll,
    events: Events,
    listener: TcpListener,
    local_addr: SocketAddr,
    stopping: Arc<AtomicBool>,
    waker: Arc<Waker>,
    sessions: Arc<OpenSessions>,
}

impl StoppableListener {
    /// Binds `addr` (SO_REUSEADDR, the reactor's backlog).
    pub fn bind(addr: SocketAddr) -> io::Result<Self> {
        let mut listener = reactor::listen(addr, ListenOptions::default())?;
        let poll = Poll::new()?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        Ok(Self {
            local_addr: listener.local_addr()?,
            poll,
            events: Events::with_capacity(8),
            listener,
            stopping: Arc::new(AtomicBool::new(false)),
            waker,
            sessions: Arc::new(OpenSessions::default()),
        })
    }

    /// The bound address (the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The open sessions, to track each accepted client's socket.
    pub fn sessions(&self) -> &Arc<OpenSessions> {
        &self.sessions
    }

    /// A handle that stops this listener and its sessions.
    pub fn stopper(&self) -> Stopper {
        Stopper {
            stopping: Arc::clone(&self.stopping),
            waker: Arc::clone(&self.waker),
            sessions: Arc::clone(&self.sessions),
        }
    }

    /// Waits for the next client, as a blocking stream; `None` once stopped.
    pub fn accept(&mut self) -> io::Result<Option<TcpStream>> {
        loop {
            if self.stopping.load(Ordering::SeqCst) {
                self.close_backlog();
                return Ok(None);
            }
            let timeout = match self.listener.accept() {
                Ok((stream, _)) => {
                    let stream: TcpStream = stream.into();
                    // Accepted sockets need not inherit the listener's mode.
                    stream.set_nonblocking(false)?;
                    let _ = stream.set_nodelay(true);
                    return Ok(Some(stream));
                }
                Err(e) => match e.kind() {
                    io::ErrorKind::WouldBlock => None,
                    io::ErrorKind::Interrupted
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::ConnectionReset => continue,
                    _ => Some(ACCEPT_RETRY_DELAY),
                },
            };
            match self.poll.poll(&mut self.events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

impl StoppableListener {
    /// Accepts and closes every client still waiting in the listen backlog,
    /// so that each sees an end of stream; closing the listener with them
    /// queued would reset their connections instead.
    fn close_backlog(&mut self) {
        while let Ok((stream, _)) = self.listener.accept() {
            let stream: TcpStream = stream.into();
            // The peer may have gone already; dropping the stream closes it.
            let _ = stream.shutdown(Shutdown::Write);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::thread;

    #[test]
    fn a_stop_from_another_thread_ends_a_blocked_accept_and_session_reads() {
        let mut listener = StoppableListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr();
        let _client = TcpStream::connect(addr).unwrap();
        let mut served = listener.accept().unwrap().expect("a client");
        let guard = listener.sessions().open(&served).expect("not stopping");
        let stopper = listener.stopper();
        let stop = thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            stopper.stop();
        });
        assert!(listener.accept().unwrap().is_none());
        let mut byte = [0u8; 1];
        assert_eq!(served.read(&mut byte).unwrap(), 0, "the read half was shut");
        stop.join().unwrap();
        assert!(listener.sessions().open(&served).is_none());
        drop(guard);
        assert!(listener.sessions().drain(Duration::from_secs(1)));
    }

    #[test]
    fn a_stop_closes_clients_still_in_the_backlog_without_a_reset() {
        let mut listener = StoppableListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let mut waiting = TcpStream::connect(listener.local_addr()).unwrap();
        waiting
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        listener.stopper().stop();
        assert!(listener.accept().unwrap().is_none());
        drop(listener);
        let mut rest = Vec::new();
        waiting
            .read_to_end(&mut rest)
            .expect("an end of stream, not a reset");
        assert!(rest.is_empty());
    }
}
