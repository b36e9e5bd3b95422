//! Socket construction: listeners through socket2 (reuse flags, backlog) and
//! non-blocking connects. Every stream it hands out has TCP_NODELAY set.

use std::io;
use std::net::SocketAddr;

use mio::net::{TcpListener, TcpStream};
use socket2::{Domain, Protocol, Socket, Type};

/// Listen backlog used when none is given: large enough for bursts of connects.
pub const DEFAULT_BACKLOG: i32 = 1024;

/// How a listening socket is set up.
#[derive(Debug, Clone, Copy)]
pub struct ListenOptions {
    /// Pending-connection queue length handed to `listen(2)`.
    pub backlog: i32,
    /// Set SO_REUSEPORT so that several listeners (workers) share one port.
    pub reuse_port: bool,
}

impl Default for ListenOptions {
    fn default() -> Self {
        Self {
            backlog: DEFAULT_BACKLOG,
            reuse_port: false,
        }
    }
}

/// Binds a non-blocking listener with SO_REUSEADDR (and SO_REUSEPORT when asked).
pub fn listen(addr: SocketAddr, options: ListenOptions) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if options.reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(options.backlog)?;
    Ok(TcpListener::from_std(socket.into()))
}

/// Starts a non-blocking connect. The stream becomes writable when the
/// connect finishes; then [`finish_connect`] tells whether it succeeded.
pub fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Checks a stream whose non-blocking connect may have finished;
/// `writable` says whether the event that woke us reported it writable.
///
/// `Ok(true)`: connected. `Ok(false)`: still in progress (a spurious event).
/// `Err`: the connect failed (refused, unreachable, ...).
pub fn finish_connect(stream: &TcpStream, writable: bool) -> io::Result<bool> {
    if let Some(err) = stream.take_error()? {
        return Err(err);
    }
    // On Linux a connecting socket turns writable only once the handshake
    // ended, and SO_ERROR said it did not fail: asking for the peer's
    // address would only confirm it, at the cost of a system call.
    if writable && cfg!(target_os = "linux") {
        return Ok(true);
    }
    match stream.peer_addr() {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
        Err(e) if e.raw_os_error() == Some(libc_einprogress()) => Ok(false),
        Err(e) => Err(e),
    }
}

/// EINPROGRESS on Linux and the BSDs differ; ask std for the platform's value.
fn libc_einprogress() -> i32 {
    #[cfg(target_os = "linux")]
    {
        115
    }
    #[cfg(not(target_os = "linux"))]
    {
        36
    }
}

/// Sets TCP_NODELAY on an accepted stream: proxies forward small writes at once.
pub fn prepare_accepted(stream: &TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)
}
