//! An accepted client connection, plain TCP or TLS, as one byte stream.
//!
//! The TCP and HTTP adapters read it, write it, half-close it and register
//! its socket like a `TcpStream`. Two things are new for them: on each
//! readiness event of the client they call [`ClientStream::flush_pending`]
//! (TLS records the socket could not take earlier), and before closing
//! after a final write they wait until [`ClientStream::has_pending_output`]
//! is false, or the end of the answer would be lost.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};

use super::TlsTermination;
use super::stream::{ShutdownWrite, TlsStream};
use crate::reactor::TcpStream;

/// A client connection of either kind.
#[derive(Debug)]
pub enum ClientStream {
    /// Bytes as they come.
    Plain(TcpStream),
    /// A TLS session over the socket (boxed: rustls' state is large).
    Tls(Box<TlsStream<TcpStream>>),
}

impl ClientStream {
    /// The stream for an accepted `socket`: TLS when `tls` is set. A
    /// session rustls cannot make is an error (the caller drops the client).
    pub fn accept(socket: TcpStream, tls: Option<&TlsTermination>) -> io::Result<Self> {
        Ok(match tls {
            None => ClientStream::Plain(socket),
            Some(tls) => {
                let session = tls.session().map_err(io::Error::other)?;
                ClientStream::Tls(Box::new(TlsStream::new(session, socket)))
            }
        })
    }

    /// True for a TLS session.
    pub fn is_tls(&self) -> bool {
        matches!(self, ClientStream::Tls(_))
    }

    /// True while a TLS handshake is under way.
    pub fn is_handshaking(&self) -> bool {
        match self {
            ClientStream::Plain(_) => false,
            ClientStream::Tls(tls) => tls.is_handshaking(),
        }
    }

    /// Sends TLS records waiting for the socket; `Ok(true)` when none are
    /// left. Always `Ok(true)` for a plain connection.
    pub fn flush_pending(&mut self) -> io::Result<bool> {
        match self {
            ClientStream::Plain(_) => Ok(true),
            ClientStream::Tls(tls) => tls.flush_pending(),
        }
    }

    /// True when written bytes still wait to reach the socket.
    pub fn has_pending_output(&self) -> bool {
        match self {
            ClientStream::Plain(_) => false,
            ClientStream::Tls(tls) => tls.has_pending_output(),
        }
    }

    /// The socket, for registering with the reactor and for addresses.
    pub fn socket(&self) -> &TcpStream {
        match self {
            ClientStream::Plain(socket) => socket,
            ClientStream::Tls(tls) => tls.socket(),
        }
    }

    /// The client's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.socket().peer_addr()
    }

    /// As `TcpStream::shutdown`; for TLS, the write side sends close_notify
    /// first (and the socket's write side closes once it is out).
    pub fn shutdown(&mut self, how: Shutdown) -> io::Result<()> {
        match (self, how) {
            (ClientStream::Plain(socket), how) => socket.shutdown(how),
            (ClientStream::Tls(tls), Shutdown::Write) => tls.shutdown_write(),
            (ClientStream::Tls(tls), Shutdown::Read) => tls.socket().shutdown(Shutdown::Read),
            (ClientStream::Tls(tls), Shutdown::Both) => {
                tls.shutdown_write()?;
                tls.socket().shutdown(Shutdown::Read)
            }
        }
    }
}

impl Read for ClientStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            ClientStream::Plain(socket) => socket.read(buf),
            ClientStream::Tls(tls) => tls.read(buf),
        }
    }
}

impl Write for ClientStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            ClientStream::Plain(socket) => socket.write(buf),
            ClientStream::Tls(tls) => tls.write(buf),
        }
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match self {
            ClientStream::Plain(socket) => socket.write_vectored(bufs),
            ClientStream::Tls(tls) => tls.write_vectored(bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            ClientStream::Plain(socket) => socket.flush(),
            ClientStream::Tls(tls) => tls.flush(),
        }
    }
}

impl ShutdownWrite for ClientStream {
    fn shutdown_write(&mut self) -> io::Result<()> {
        match self {
            ClientStream::Plain(socket) => socket.shutdown_write(),
            ClientStream::Tls(tls) => tls.shutdown_write(),
        }
    }
}
