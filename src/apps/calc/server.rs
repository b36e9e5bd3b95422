//! The calculator server: two listeners (calculator and status), a thread
//! per connection, a load sampler, an optional burner, and a graceful stop.
//!
//! What each connection says is `connection`'s business; this module binds,
//! admits, counts and stops. On stop it closes both listeners, ends the
//! reads of open connections (a request being answered still gets its
//! answer) and waits for their threads at most [`SHUTDOWN_GRACE`].

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use super::connection::{serve_calculator, serve_status};
use super::load::{LoadGauge, start_burner, start_sampler};
use super::number::Notation;
use super::status::StatusSnapshot;

/// Connections served at once per port; more are closed at once.
pub const MAX_CONNECTIONS: usize = 4096;
/// How long a stop waits for connection threads to end.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// What a server is asked to be.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The calculator port's address.
    pub listen: SocketAddr,
    /// The status port's address.
    pub status: SocketAddr,
    /// The name in logs and in the status JSON (default: `calc@PORT`).
    pub name: Option<String>,
    /// How non-integer results are shown unless a request asks otherwise.
    pub notation: Notation,
    /// Percent of one core to keep busy (0 to 100).
    pub burn: u8,
}

/// State the connection threads share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub name: String,
    pub notation: Notation,
    pub burn: u8,
    pub stopping: AtomicBool,
    pub requests: AtomicU64,
    pub connections: AtomicU64,
    pub gauge: Arc<LoadGauge>,
    open: Mutex<HashMap<u64, TcpStream>>,
    next_id: AtomicU64,
}

impl Shared {
    pub fn snapshot(&self) -> StatusSnapshot {
        StatusSnapshot {
            name: self.name.clone(),
            load: self.gauge.load(),
            machine_load: self.gauge.machine_load(),
            requests: self.requests.load(Ordering::Relaxed),
            connections: self.connections.load(Ordering::Relaxed),
            burn: self.burn,
        }
    }

    /// Registers a connection so a stop can end its reads; `None` when full.
    fn register(&self, stream: &TcpStream) -> Option<u64> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if open.len() >= MAX_CONNECTIONS {
            return None;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        open.insert(id, stream.try_clone().ok()?);
        Some(id)
    }

    fn unregister(&self, id: u64) {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id);
    }
}

/// A bound calculator server, ready to [`run`](CalcServer::run).
#[derive(Debug)]
pub struct CalcServer {
    calculator: TcpListener,
    status: TcpListener,
    shared: Arc<Shared>,
}

/// Stops a running [`CalcServer`] from any thread.
#[derive(Debug, Clone)]
pub struct Stopper {
    shared: Arc<Shared>,
    wake: [SocketAddr; 2],
}

impl Stopper {
    /// Asks the server to stop; `run` returns soon after.
    pub fn stop(&self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // A blocking accept returns only for a connection: make one.
        for addr in self.wake {
            let _ = TcpStream::connect_timeout(&addr, Duration::from_secs(1));
        }
    }
}

impl CalcServer {
    /// Binds both ports.
    pub fn bind(config: ServerConfig) -> io::Result<CalcServer> {
        let calculator = TcpListener::bind(config.listen)?;
        let status = TcpListener::bind(config.status)?;
        let port = calculator.local_addr()?.port();
        let shared = Arc::new(Shared {
            name: config.name.unwrap_or_else(|| format!("calc@{port}")),
            notation: config.notation,
            burn: config.burn.min(100),
            stopping: AtomicBool::new(false),
            requests: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            gauge: Arc::new(LoadGauge::default()),
            open: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
        });
        Ok(CalcServer {
            calculator,
            status,
            shared,
        })
    }

    /// The calculator port's address.
    pub fn calculator_addr(&self) -> SocketAddr {
        self.calculator.local_addr().expect("a bound listener")
    }

    /// The status port's address.
    pub fn status_addr(&self) -> SocketAddr {
        self.status.local_addr().expect("a bound listener")
    }

    /// The server's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// A handle that stops the server.
    pub fn stopper(&self) -> Stopper {
        Stopper {
            shared: self.shared.clone(),
            wake: [
                reachable(self.calculator_addr()),
                reachable(self.status_addr()),
            ],
        }
    }

    /// Serves until stopped.
    pub fn run(self) -> io::Result<()> {
        let stopper = self.stopper();
        let stop_background = Arc::new(AtomicBool::new(false));
        let sampler = start_sampler(self.shared.gauge.clone(), stop_background.clone());
        let burner = start_burner(self.shared.burn, stop_background.clone());
        let status_shared = self.shared.clone();
        let status = self.status;
        let status_thread =
            thread::spawn(move || accept_loop(&status, &status_shared, serve_status));
        let outcome = accept_loop(&self.calculator, &self.shared, serve_calculator);
        // Also when the calculator listener failed: the status loop must end too.
        stopper.stop();
        let status_outcome = status_thread.join().unwrap_or(Ok(()));
        self.shared.stopping.store(true, Ordering::SeqCst);
        end_open_connections(&self.shared);
        stop_background.store(true, Ordering::Relaxed);
        let _ = sampler.join();
        if let Some(burner) = burner {
            let _ = burner.join();
        }
        outcome.and(status_outcome)
    }
}

/// Accepts until the stop flag is set, a thread per connection.
fn accept_loop(
    listener: &TcpListener,
    shared: &Arc<Shared>,
    serve: fn(TcpStream, SocketAddr, &Shared),
) -> io::Result<()> {
    while !shared.stopping.load(Ordering::SeqCst) {
        let (stream, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(error) if is_transient(&error) => {
                crate::warn!("accept failed: {error}");
                // Out of descriptors, say: retrying at once would only fail again.
                thread::sleep(Duration::from_millis(100));
                continue;
            }
            Err(error) => return Err(error),
        };
        if shared.stopping.load(Ordering::SeqCst) {
            break;
        }
        let Some(id) = shared.register(&stream) else {
            crate::warn!("{peer}: over {MAX_CONNECTIONS} connections, closed");
            continue;
        };
        let shared = shared.clone();
        let spawned = thread::Builder::new().spawn(move || {
            serve(stream, peer, &shared);
            shared.unregister(id);
        });
        if let Err(error) = spawned {
            crate::warn!("{peer}: cannot start a thread: {error}");
        }
    }
    Ok(())
}

fn is_transient(error: &io::Error) -> bool {
    !matches!(
        error.kind(),
        io::ErrorKind::InvalidInput | io::ErrorKind::NotConnected
    )
}

/// Ends the reads of every open connection, then waits for their threads.
fn end_open_connections(shared: &Shared) {
    for stream in shared
        .open
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .values()
    {
        let _ = stream.shutdown(Shutdown::Read);
    }
    let deadline = Instant::now() + SHUTDOWN_GRACE;
    while Instant::now() < deadline {
        if shared
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty()
        {
            return;
        }
        thread::sleep(Duration::from_millis(20));
    }
    crate::warn!("connections still open after {SHUTDOWN_GRACE:?}; closing them");
    for stream in shared
        .open
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .values()
    {
        let _ = stream.shutdown(Shutdown::Both);
    }
}

/// An address a local connect reaches: the loopback one for a wildcard bind.
fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        ip if ip.is_unspecified() => SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port()),
        _ => addr,
    }
}
