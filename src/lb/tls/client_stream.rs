//! An accepted client connection, plain TCP or TLS, as one byte stream.
//!
//! The TCP and HTTP adapters read it, write it and half-close it
//! ([`HalfClose`]) like a `TcpStream`, after registering the socket. Two
//! things are new for them: on each readiness event of the client they call
//! [`ClientStream::flush_pending`] (TLS records the socket could not take
//! earlier), and before closing after a final write they wait until
//! [`ClientStream::has_pending_output`] is false (or `flush` no longer says
//! `WouldBlock`), or the end of the answer would be lost.

use std::io::{self, Read, Write};

use super::TlsTermination;
use super::stream::TlsStream;
use crate::reactor::{HalfClose, TcpStream};

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

impl HalfClose for ClientStream {
    fn close_write(&mut self) -> io::Result<()> {
        match self {
            ClientStream::Plain(socket) => socket.close_write(),
            ClientStream::Tls(tls) => tls.close_write(),
        }
    }
}
