//! One end of the proxy's byte flow: a stream (the client's or a backend's
//! connection), the bytes read from it and not yet used, and what readiness
//! left known about it. Every read and write the HTTP proxy does on a socket
//! goes through here, generic over the stream, so that the exchange state
//! machine runs the same on a socket and on bytes in memory.

use std::io::{self, Read, Write};

use crate::reactor::{Buffer, HalfClose, ReadSide, Readiness, WriteStop, write_until_blocked};

/// A byte stream the proxy can read, write and half-close: a socket, or
/// anything else that stands where one stands.
pub(super) trait Stream: Read + Write + HalfClose {}

impl<S: Read + Write + HalfClose> Stream for S {}

/// A stream with its read buffer and readiness.
#[derive(Debug)]
pub(super) struct Peer<S> {
    pub stream: S,
    /// Bytes read and not yet parsed or forwarded.
    pub inbuf: Buffer,
    pub read: ReadSide,
    /// The last write did not report `WouldBlock` (or readiness came since).
    pub writable: bool,
}

impl<S: Stream> Peer<S> {
    /// A connected stream, readable and writable until told otherwise.
    pub fn connected(stream: S, buffer_bytes: usize) -> Self {
        Self {
            stream,
            inbuf: Buffer::with_capacity(buffer_bytes),
            read: ReadSide::new(),
            writable: true,
        }
    }

    /// A stream whose connect is under way: nothing to do before its first event.
    pub fn connecting(stream: S, buffer_bytes: usize) -> Self {
        Self {
            stream,
            inbuf: Buffer::with_capacity(buffer_bytes),
            read: ReadSide::waiting(),
            writable: false,
        }
    }

    /// Takes in a readiness event.
    pub fn note(&mut self, readiness: Readiness) {
        self.read.note(readiness);
        if readiness.writable || readiness.write_closed || readiness.error {
            self.writable = true;
        }
    }

    /// Reads while there is room, at most `budget` bytes. Returns the bytes read.
    pub fn fill(&mut self, budget: usize) -> io::Result<usize> {
        self.read.fill(&mut self.inbuf, &mut self.stream, budget)
    }

    /// True once the peer's end of stream was read and every byte before it used.
    pub fn finished(&self) -> bool {
        self.read.eof && self.inbuf.is_empty()
    }

    /// Writes `bytes` until done or the stream would block. Returns the
    /// bytes written.
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if !self.writable || bytes.is_empty() {
            return Ok(0);
        }
        let (written, stop) = write_until_blocked(&mut self.stream, bytes)?;
        if stop == WriteStop::WouldBlock {
            self.writable = false;
        }
        Ok(written)
    }

    /// Writes the first `limit` bytes of `from` (another peer's read
    /// buffer), consuming what was written. Returns the bytes written.
    pub fn send_prefix(&mut self, from: &mut Buffer, limit: usize) -> io::Result<usize> {
        if !self.writable || limit == 0 || from.is_empty() {
            return Ok(0);
        }
        let (n, stop) = from.write_prefix_to(&mut self.stream, limit)?;
        if stop == WriteStop::WouldBlock {
            self.writable = false;
        }
        Ok(n)
    }
}

/// Bytes the proxy itself writes to the client (response heads, small
/// bodies riding with them, error pages), sent before anything else.
#[derive(Debug, Default)]
pub(super) struct Outbox {
    bytes: Vec<u8>,
    written: usize,
}

impl Outbox {
    /// The buffer to append to.
    pub fn queue(&mut self) -> &mut Vec<u8> {
        &mut self.bytes
    }

    /// Bytes queued and not yet written.
    pub fn pending(&self) -> usize {
        self.bytes.len() - self.written
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Writes what is queued. True when nothing is left.
    pub fn flush_to<S: Stream>(&mut self, peer: &mut Peer<S>) -> io::Result<bool> {
        self.written += peer.send(&self.bytes[self.written..])?;
        if self.written < self.bytes.len() {
            return Ok(false);
        }
        self.bytes.clear();
        self.written = 0;
        Ok(true)
    }
}
