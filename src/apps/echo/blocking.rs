//! The three blocking models, on `std::net` sockets: *simple* (one client,
//! one message, then the server ends), *sequential* (one client at a time,
//! each until `fim`) and *threaded* (a thread per client).
//!
//! Each accepts through a [`StoppableListener`] and serves sessions with
//! [`session::serve`]; they differ only in who runs the session and when.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::thread;

use super::ServerConfig;
use super::line::Framer;
use super::listener::StoppableListener;
use super::session::{self, SessionEnd, SessionError};
use crate::{debug, warn};

/// Sessions the threaded model serves at once; more are refused.
pub const MAX_THREADED_SESSIONS: usize = 10_000;
/// Stack of one session thread, in bytes: a session needs little (its
/// buffers are on the heap), and thousands of threads add up.
pub const SESSION_THREAD_STACK_BYTES: usize = 128 * 1024;

/// Accepts one client, echoes its first message, and returns.
pub fn serve_simple(listener: &mut StoppableListener, config: &ServerConfig) -> io::Result<()> {
    if let Some(stream) = listener.accept()? {
        run_session(stream, listener, config, true);
    }
    Ok(())
}

/// Serves one client at a time, each until `fim` or its close; the next
/// client waits in the listen backlog meanwhile.
pub fn serve_sequential(listener: &mut StoppableListener, config: &ServerConfig) -> io::Result<()> {
    while let Some(stream) = listener.accept()? {
        run_session(stream, listener, config, false);
    }
    Ok(())
}

/// Serves every client on its own thread until stopped, then waits (at
/// most the drain timeout) for the sessions to end.
pub fn serve_threaded(listener: &mut StoppableListener, config: &ServerConfig) -> io::Result<()> {
    while let Some(stream) = listener.accept()? {
        if listener.sessions().len() >= MAX_THREADED_SESSIONS {
            refuse(stream, "too many connections");
            continue;
        }
        let Some(guard) = listener.sessions().open(&stream) else {
            continue;
        };
        let config = config.clone();
        let spawned = thread::Builder::new()
            .name("echo-session".to_string())
            .stack_size(SESSION_THREAD_STACK_BYTES)
            .spawn(move || {
                serve_one(stream, &config, false);
                drop(guard);
            });
        if let Err(e) = spawned {
            // The closure, with the stream, was dropped: the client sees a close.
            warn!("echo: cannot start a session thread: {e}");
        }
    }
    if !listener.sessions().drain(super::DRAIN_TIMEOUT) {
        warn!("echo: sessions still open after the drain timeout were closed");
    }
    Ok(())
}

fn run_session(
    stream: TcpStream,
    listener: &StoppableListener,
    config: &ServerConfig,
    one_message: bool,
) {
    let Some(guard) = listener.sessions().open(&stream) else {
        return;
    };
    serve_one(stream, config, one_message);
    drop(guard);
}

fn serve_one(mut stream: TcpStream, config: &ServerConfig, one_message: bool) {
    let peer = stream
        .peer_addr()
        .map_or_else(|_| "?".to_string(), |a| a.to_string());
    if let Err(e) = stream.set_read_timeout(Some(config.idle_timeout)) {
        debug!("echo: {peer}: {e}");
        return;
    }
    let mut framer = Framer::with_max_line(config.framing, config.max_line_bytes);
    match session::serve(&mut stream, &mut framer, one_message) {
        Ok(SessionEnd::Fim) => debug!("echo: {peer} ended its session"),
        Ok(SessionEnd::PeerClosed) => debug!("echo: {peer} closed"),
        Err(e @ SessionError::Io(_)) => return debug!("echo: {peer}: {e}"),
        Err(e @ SessionError::Protocol(_)) => debug!("echo: {peer}: {e}"),
    }
    linger_close(stream);
}

/// Ends a connection without losing the last echo: a socket closed with
/// unread input sends a reset, which makes the client's kernel drop the
/// echoes it has not read yet. So shut the sending side, then discard the
/// client's input until it closes too (bounded in time and bytes).
fn linger_close(mut stream: TcpStream) {
    if stream.shutdown(Shutdown::Write).is_err()
        || stream.set_read_timeout(Some(super::CLOSE_LINGER)).is_err()
    {
        return;
    }
    let mut sink = [0u8; 4096];
    let mut left = super::CLOSE_LINGER_BYTES;
    while left > 0 {
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => return,
            Ok(n) => left = left.saturating_sub(n),
        }
    }
}

fn refuse(mut stream: TcpStream, reason: &str) {
    // A fresh socket's send buffer takes one short line without blocking.
    let _ = stream.set_nonblocking(true);
    let _ = stream.write_all(format!("error: {reason}\n").as_bytes());
}
