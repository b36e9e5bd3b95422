//! A TLS session over a non-blocking byte stream, seen as a plain byte
//! stream: `Read` gives the client's decrypted bytes, `Write` takes bytes to
//! encrypt and send. Code that moves bytes between sockets works over it
//! unchanged, and never learns that TLS is there.
//!
//! rustls does the protocol (sans-IO: records in, records out); this file
//! only drives it: `read_tls` and `process_new_packets` when plaintext is
//! wanted, `write_tls` whenever records are waiting. The contract with the
//! edge-triggered loop: a read returns fewer bytes than asked only when the
//! socket had no more (or the stream ended), and returns `WouldBlock` only
//! when both rustls and the socket are empty; records that the socket could
//! not take stay queued (at most [`MAX_PENDING_TLS_BYTES`] or so) and go out
//! on the next [`TlsStream::flush_pending`], which the owner calls when the
//! socket turns writable.

use rustls::ServerConnection;
use std::io::{self, Read, Write};

use crate::reactor::HalfClose;

/// Encrypted bytes queued for the socket before writes of plaintext are
/// refused with `WouldBlock` (rustls' buffer limit): the memory bound of one
/// direction of a TLS session, on top of the adapter's own buffers.
pub const MAX_PENDING_TLS_BYTES: usize = 64 * 1024;

/// A server-side TLS session over `socket`.
pub struct TlsStream<S: Read + Write + HalfClose> {
    conn: ServerConnection,
    socket: S,
    /// The socket returned end of stream.
    socket_eof: bool,
    /// close_notify was queued, or a fatal alert: nothing more to say.
    said_goodbye: bool,
    /// close_notify is queued; the socket's write side closes once it is out.
    shut_pending: bool,
    /// Writing to the socket failed: queued records are dropped, and every
    /// further write fails.
    broken: Option<io::ErrorKind>,
}

impl<S: Read + Write + HalfClose> TlsStream<S> {
    /// A session that will answer the client's handshake on `socket`.
    pub fn new(mut conn: ServerConnection, socket: S) -> Self {
        conn.set_buffer_limit(Some(MAX_PENDING_TLS_BYTES));
        Self {
            conn,
            socket,
            socket_eof: false,
            said_goodbye: false,
            shut_pending: false,
            broken: None,
        }
    }

    /// The socket under the session.
    pub fn socket(&self) -> &S {
        &self.socket
    }

    /// The rustls session (negotiated version, ALPN, server name).
    pub fn connection(&self) -> &ServerConnection {
        &self.conn
    }

    /// True until the handshake is complete.
    pub fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// True when records (or a half close) wait for the socket to take them.
    pub fn has_pending_output(&self) -> bool {
        self.broken.is_none() && (self.conn.wants_write() || self.shut_pending)
    }

    /// Writes queued records to the socket. `Ok(true)` when nothing is left;
    /// `Ok(false)` when the socket would block with records still queued.
    pub fn flush_pending(&mut self) -> io::Result<bool> {
        if let Some(kind) = self.broken {
            return Err(kind.into());
        }
        while self.conn.wants_write() {
            match self.conn.write_tls(&mut self.socket) {
                Ok(0) => return Err(self.fail(io::ErrorKind::WriteZero.into())),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.fail(e)),
            }
        }
        if self.shut_pending {
            self.shut_pending = false;
            self.socket.close_write()?;
        }
        Ok(true)
    }

    fn fail(&mut self, e: io::Error) -> io::Error {
        self.broken = Some(e.kind());
        e
    }

    /// Reads records from the socket once and processes them.
    fn read_records(&mut self) -> io::Result<SocketRead> {
        let outcome = loop {
            let mut probe = ShortReadProbe {
                inner: &mut self.socket,
                short: false,
            };
            match self.conn.read_tls(&mut probe) {
                Ok(0) => {
                    self.socket_eof = true;
                    return Ok(SocketRead::Emptied);
                }
                Ok(_) if probe.short => break SocketRead::Emptied,
                Ok(_) => break SocketRead::MayHaveMore,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(SocketRead::Blocked),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        };
        if let Err(e) = self.conn.process_new_packets() {
            // rustls queued an alert that tells the client why: send it
            // before the caller closes the connection.
            self.said_goodbye = true;
            let _ = self.flush_pending();
            return Err(io::Error::new(io::ErrorKind::InvalidData, e));
        }
        // Handshake answers, new session tickets, key updates.
        self.flush_pending()?;
        Ok(outcome)
    }
}

impl<S: Read + Write + HalfClose> Read for TlsStream<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let mut n = 0;
        // A short socket read emptied the receive queue (the rule
        // `Buffer::read_available` follows too): reading again would only
        // cost a system call to learn `WouldBlock`. Known for this call
        // only: bytes may arrive after it, with a new readiness edge.
        let mut socket_empty = false;
        loop {
            match self.conn.reader().read(&mut buf[n..]) {
                // The client's close_notify: the end of its stream.
                Ok(0) => return Ok(n),
                Ok(k) => {
                    n += k;
                    if n == buf.len() {
                        return Ok(n);
                    }
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // The socket closed without close_notify: an end of stream
                // all the same (as most servers take it); what the client
                // sent before is delivered.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(n),
                Err(e) => return Err(e),
            }
            if self.socket_eof {
                return Ok(n);
            }
            let blocked = socket_empty
                || match self.read_records()? {
                    SocketRead::Blocked => true,
                    SocketRead::Emptied => {
                        socket_empty = true;
                        false
                    }
                    SocketRead::MayHaveMore => false,
                };
            if blocked {
                return if n > 0 {
                    Ok(n)
                } else {
                    Err(io::ErrorKind::WouldBlock.into())
                };
            }
        }
    }
}

impl<S: Read + Write + HalfClose> Write for TlsStream<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        // Twice at most: once more after the queue drained.
        for _ in 0..2 {
            let drained = self.flush_pending()?;
            let n = self.conn.writer().write(buf)?;
            if n > 0 {
                self.flush_pending()?;
                return Ok(n);
            }
            // rustls' buffer is full: of records the socket will not take
            // now, or of plaintext waiting for the handshake to end. Either
            // way the socket's next readiness moves it on.
            if !drained || self.conn.is_handshaking() {
                break;
            }
        }
        Err(io::ErrorKind::WouldBlock.into())
    }

    /// Sends the queued records; `WouldBlock` when the socket did not take
    /// them all (the next writable readiness goes on).
    fn flush(&mut self) -> io::Result<()> {
        if self.flush_pending()? {
            Ok(())
        } else {
            Err(io::ErrorKind::WouldBlock.into())
        }
    }
}

impl<S: Read + Write + HalfClose> HalfClose for TlsStream<S> {
    /// Sends close_notify, then closes the socket's write side once every
    /// queued record is out (see [`TlsStream::flush_pending`]).
    fn close_write(&mut self) -> io::Result<()> {
        if self.broken.is_some() {
            return Ok(());
        }
        self.conn.send_close_notify();
        self.said_goodbye = true;
        self.shut_pending = true;
        self.flush_pending().map(|_| ())
    }
}

impl<S: Read + Write + HalfClose> TlsStream<S> {
    /// Ends the session politely on drop: close_notify, if the socket takes
    /// it now (a close never waits).
    fn goodbye(&mut self) {
        if self.said_goodbye || self.broken.is_some() || self.conn.is_handshaking() {
            return;
        }
        self.said_goodbye = true;
        self.conn.send_close_notify();
        let _ = self.conn.write_tls(&mut self.socket);
    }
}

/// Closing the connection says close_notify first (see [`TlsStream::goodbye`]).
impl<S: Read + Write + HalfClose> Drop for TlsStream<S> {
    fn drop(&mut self) {
        self.goodbye();
    }
}

/// What one read of records from the socket found.
enum SocketRead {
    /// Nothing to read now.
    Blocked,
    /// Records, and the socket gave less than asked: it is empty now (or
    /// at its end).
    Emptied,
    /// Records, as many as asked: there may be more.
    MayHaveMore,
}

/// A reader that notes whether the last read filled less than asked.
struct ShortReadProbe<'a, R> {
    inner: &'a mut R,
    short: bool,
}

impl<R: Read> Read for ShortReadProbe<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.short = n < buf.len();
        Ok(n)
    }
}

impl<S: Read + Write + HalfClose> std::fmt::Debug for TlsStream<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsStream")
            .field("handshaking", &self.conn.is_handshaking())
            .field("socket_eof", &self.socket_eof)
            .field("shut_pending", &self.shut_pending)
            .finish()
    }
}
