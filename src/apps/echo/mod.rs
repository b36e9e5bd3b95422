//! Echo servers in four models (simple, sequential, threaded, evented) and a client.
//!
//! The classic socket exercise, kept whole and measured. Every model speaks
//! the same line protocol (see `docs/echo.md`): each line a client sends
//! comes back as it was; the line `fim` comes back too and then ends that
//! client's session. With raw framing bytes come back as they arrive.
//!
//! - [`line`](mod@line): the protocol without sockets (where a line ends, `fim`, the
//!   line limit), shared by every model and unit-tested on its own.
//! - [`session`]: one session on a blocking socket.
//! - [`blocking`]: the simple, sequential and threaded models, on a
//!   [`listener::StoppableListener`] that a signal can stop.
//! - [`evented`]: the fourth model, a [`crate::reactor::Service`].
//! - [`client`]: the line client; [`bench`](mod@bench): the load generator behind
//!   `stress/echo-models`, with its sans-IO parts in [`latency`].
//! - [`cli`]: `distloop echo server|client|bench`.
//!
//! This module imports the reactor (mechanism) and no service.

pub mod bench;
pub mod blocking;
pub mod cli;
pub mod client;
pub mod evented;
pub mod latency;
pub mod line;
pub mod listener;
pub mod session;

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::thread;
use std::time::Duration;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

pub use line::{Framer, Framing, MAX_LINE_BYTES};

/// The original's port.
pub const DEFAULT_PORT: u16 = 50007;
/// Where a server listens by default (`0.0.0.0:50007` is the original's `''`).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:50007";
/// Where the client connects by default (the original's `localhost`).
pub const DEFAULT_SERVER: &str = "localhost:50007";
/// A client silent this long is disconnected.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a closing server waits for the client to close too (see
/// the lingering close in `docs/echo.md`).
pub const CLOSE_LINGER: Duration = Duration::from_secs(2);
/// Client bytes discarded during a lingering close before closing anyway.
pub const CLOSE_LINGER_BYTES: usize = 64 * 1024;
/// How long a stopping server waits for open sessions to end.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// How a server serves its clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Model {
    /// One client, one message, then the server ends.
    Simple,
    /// One client at a time, each until `fim`.
    Sequential,
    /// A thread per client.
    Threaded,
    /// Every client on one event loop (the reactor).
    Evented,
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Model::Simple => "simple",
            Model::Sequential => "sequential",
            Model::Threaded => "threaded",
            Model::Evented => "evented",
        })
    }
}

/// A server's settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// How clients are served.
    pub model: Model,
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Lines (with `fim`) or raw bytes.
    pub framing: Framing,
    /// The longest line accepted, its `\n` included.
    pub max_line_bytes: usize,
    /// A client silent this long is disconnected.
    pub idle_timeout: Duration,
}

impl ServerConfig {
    /// Line framing, the default limits, on `listen`.
    pub fn new(model: Model, listen: SocketAddr) -> Self {
        Self {
            model,
            listen,
            framing: Framing::Lines,
            max_line_bytes: MAX_LINE_BYTES,
            idle_timeout: IDLE_TIMEOUT,
        }
    }
}

/// Raises this process's soft limit of open files to its hard limit, so
/// that thousands of clients fit; returns the limit now in force.
pub fn raise_open_files_limit() -> io::Result<u64> {
    rlimit::increase_nofile_limit(u64::MAX)
}

/// Runs a server of `config.model` until SIGINT or SIGTERM (the simple model
/// also ends after its one message); `on_listening` is called with the bound
/// address once connections are accepted.
pub fn serve(config: ServerConfig, on_listening: impl FnOnce(SocketAddr)) -> io::Result<()> {
    type BlockingModel = fn(&mut listener::StoppableListener, &ServerConfig) -> io::Result<()>;
    let serve_model: BlockingModel = match config.model {
        Model::Evented => return evented::serve(config, on_listening),
        Model::Simple => blocking::serve_simple,
        Model::Sequential => blocking::serve_sequential,
        Model::Threaded => blocking::serve_threaded,
    };
    let mut listener = listener::StoppableListener::bind(config.listen)?;
    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    let stopper = listener.stopper();
    let signal_handle = signals.handle();
    let watcher = thread::spawn(move || {
        if signals.forever().next().is_some() {
            stopper.stop();
        }
    });
    on_listening(listener.local_addr());
    let served = serve_model(&mut listener, &config);
    signal_handle.close();
    let _ = watcher.join();
    served
}
