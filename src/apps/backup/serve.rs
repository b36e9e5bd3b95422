//! The blocking accept loop the manager and the storage servers share: one
//! thread per connection up to [`MAX_CONNECTIONS`], a stop that wakes the
//! loop, and a bounded wait for connections in flight when stopping.

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use super::wire::{Connection, Reply, Request, parse_head, read_head, write_head};
use crate::warn;

/// Connections served at once; one more is answered "busy" and closed.
pub const MAX_CONNECTIONS: usize = 256;
/// How long a stop waits for connections in flight.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Stops one or more accept loops (and the threads that watch the flag).
#[derive(Debug, Clone, Default)]
pub struct Stopper {
    flag: Arc<AtomicBool>,
    wake: Arc<std::sync::Mutex<Vec<SocketAddr>>>,
}

impl Stopper {
    /// True once [`Stopper::stop`] ran.
    pub fn stopped(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// Sets the flag and wakes every accept loop watching it.
    pub fn stop(&self) {
        self.flag.store(true, Ordering::SeqCst);
        let addrs = self.wake.lock().map(|a| a.clone()).unwrap_or_default();
        for addr in addrs {
            let _ = TcpStream::connect_timeout(&addr, Duration::from_secs(1));
        }
    }

    /// Sleeps up to `period`, waking early on a stop; true when stopped.
    pub fn sleep(&self, period: Duration) -> bool {
        let deadline = Instant::now() + period;
        while !self.stopped() {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            thread::sleep((deadline - now).min(Duration::from_millis(50)));
        }
        true
    }

    /// Stops on SIGINT or SIGTERM.
    pub fn on_signals(&self) -> std::io::Result<()> {
        let mut signals = Signals::new([SIGINT, SIGTERM])?;
        let stopper = self.clone();
        thread::spawn(move || {
            if signals.forever().next().is_some() {
                stopper.stop();
            }
        });
        Ok(())
    }
}

/// Accepts until `stopper` stops, handing each connection to `handle` on its
/// own thread; then waits up to [`DRAIN_TIMEOUT`] for them to finish.
pub fn serve<F>(listener: TcpListener, stopper: &Stopper, handle: F)
where
    F: Fn(TcpStream, SocketAddr) + Send + Sync + 'static,
{
    if let (Ok(addr), Ok(mut wake)) = (listener.local_addr(), stopper.wake.lock()) {
        wake.push(addr);
    }
    let handle = Arc::new(handle);
    let active = Arc::new(AtomicUsize::new(0));
    for incoming in listener.incoming() {
        if stopper.stopped() {
            break;
        }
        let Ok(mut stream) = incoming else {
            // Out of descriptors or a connection reset before accept: go on.
            thread::sleep(Duration::from_millis(10));
            continue;
        };
        let Ok(peer) = stream.peer_addr() else {
            continue;
        };
        if active.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
            let busy = Reply::Error {
                error: format!("busy: {MAX_CONNECTIONS} connections already"),
            };
            let _ = write_head(&mut stream, &busy);
            continue;
        }
        active.fetch_add(1, Ordering::SeqCst);
        let handle = Arc::clone(&handle);
        let active = Arc::clone(&active);
        thread::spawn(move || {
            handle(stream, peer);
            active.fetch_sub(1, Ordering::SeqCst);
        });
    }
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    while active.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
}

/// Answers `error` on a connection that is about to be closed.
pub fn refuse(stream: &mut impl Write, error: impl std::fmt::Display) {
    let _ = write_head(
        stream,
        &Reply::Error {
            error: error.to_string(),
        },
    );
    let _ = stream.flush();
}

/// Wraps a new connection and reads its request. `None` when the peer
/// closed before sending one, or sent one that does not parse: that one is
/// answered with the error (and logged under `who`) before the close.
pub fn accept_request(
    stream: TcpStream,
    peer: SocketAddr,
    who: &str,
) -> Option<(Connection, Request)> {
    let mut connection = Connection::wrap(stream, peer.to_string()).ok()?;
    let request = read_head(&mut connection.reader).and_then(|head| match head {
        Some(head) => parse_head::<Request>(&head).map(Some),
        None => Ok(None),
    });
    match request {
        Ok(Some(request)) => Some((connection, request)),
        Ok(None) => None,
        Err(e) => {
            warn!("{who}: {peer}: {e}");
            refuse(&mut connection.writer, e);
            None
        }
    }
}
