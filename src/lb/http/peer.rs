//! One end of the proxy's byte flow: a stream (the client's or a backend's
//! connection), the bytes read from it and not yet used, and what readiness
//! left known about it. Every read and write the HTTP proxy does on a socket
//! goes through here, generic over the stream, so that the exchange state
//! machine runs the same on a socket and on bytes in memory.
//!
//! A peer holds a read buffer only while bytes read from it wait: it takes
//! one from the worker's [`BufferPool`] to read and gives it back once its
//! bytes are used ([`Peer::release`]), so a kept-alive connection between
//! requests holds none. When the pool has none to lend, the peer reads
//! nothing, as at a full buffer, and is marked `starved` for the caller to
//! put it on the pool's waiting list.

use std::io::{self, Read, Write};

use crate::reactor::buffer_pool::{BufferPool, PooledBuffer};
use crate::reactor::{HalfClose, ReadSide, Readiness, WriteStop, write_until_blocked};

/// Room the outbox takes at its first byte: a typical response head.
const OUTBOX_FIRST_BYTES: usize = 512;

/// A byte stream the proxy can read, write and half-close: a socket, or
/// anything else that stands where one stands.
pub(super) trait Stream: Read + Write + HalfClose {}

impl<S: Read + Write + HalfClose> Stream for S {}

/// A stream with its read buffer (while bytes wait) and readiness.
#[derive(Debug)]
pub(super) struct Peer<S> {
    pub stream: S,
    /// Bytes read and not yet parsed or forwarded; `None` while there are none.
    inbuf: Option<PooledBuffer>,
    pub read: ReadSide,
    /// The last write did not report `WouldBlock` (or readiness came since).
    pub writable: bool,
    /// A read was due but the pool had no buffer to lend; the caller takes
    /// the flag and puts the connection on the pool's waiting list.
    pub starved: bool,
    /// The most bytes it buffers: a backend connection's `--buffer-bytes`
    /// (its response head must fit), while the pool's buffers are sized for
    /// a client's largest request head.
    limit: usize,
}

impl<S: Stream> Peer<S> {
    /// A connected stream, readable and writable until told otherwise,
    /// buffering as much as a pooled buffer holds.
    pub fn connected(stream: S) -> Self {
        Self {
            stream,
            inbuf: None,
            read: ReadSide::new(),
            writable: true,
            starved: false,
            limit: usize::MAX,
        }
    }

    /// A stream whose connect is under way: nothing to do before its first
    /// event. It buffers at most `limit` bytes.
    pub fn connecting(stream: S, limit: usize) -> Self {
        Self {
            read: ReadSide::waiting(),
            writable: false,
            limit,
            ..Self::connected(stream)
        }
    }

    /// Takes in a readiness event.
    pub fn note(&mut self, readiness: Readiness) {
        self.read.note(readiness);
        if readiness.writable || readiness.write_closed || readiness.error {
            self.writable = true;
        }
    }

    /// Reads while there is room, at most `budget` bytes, into a buffer
    /// from `buffers` (taken only when a read is due). Returns the bytes read.
    pub fn fill(&mut self, buffers: &mut BufferPool, budget: usize) -> io::Result<usize> {
        if !self.read.can_read() || self.is_full() {
            return Ok(0);
        }
        let Ok(inbuf) = buffers.fill(&mut self.inbuf) else {
            self.starved = true;
            return Ok(0);
        };
        let room = self.limit.saturating_sub(inbuf.len());
        let read = self.read.fill(inbuf, &mut self.stream, budget.min(room));
        buffers.release_if_empty(&mut self.inbuf);
        read
    }

    /// The bytes read and not yet used, oldest first.
    pub fn input(&self) -> &[u8] {
        self.inbuf.as_ref().map_or(&[], |inbuf| inbuf.as_slice())
    }

    /// True when no read byte waits.
    pub fn has_no_input(&self) -> bool {
        self.inbuf.as_ref().is_none_or(|inbuf| inbuf.is_empty())
    }

    /// True when the read buffer holds all it can (or all it may).
    pub fn is_full(&self) -> bool {
        let held = |inbuf: &PooledBuffer| inbuf.is_full() || inbuf.len() >= self.limit;
        self.inbuf.as_ref().is_some_and(held)
    }

    /// Drops the first `n` read bytes (parsed, or copied elsewhere).
    pub fn consume(&mut self, n: usize) {
        if let Some(inbuf) = &mut self.inbuf {
            inbuf.consume(n);
        }
    }

    /// Drops every read byte.
    pub fn discard_input(&mut self) {
        if let Some(inbuf) = &mut self.inbuf {
            inbuf.clear();
        }
    }

    /// Gives the read buffer back to `buffers` when no byte waits in it.
    pub fn release(&mut self, buffers: &mut BufferPool) {
        buffers.release_if_empty(&mut self.inbuf);
    }

    /// Gives the read buffer back whatever it holds (the peer is closing).
    pub fn give_back(&mut self, buffers: &mut BufferPool) {
        buffers.give_slot(&mut self.inbuf);
    }

    /// Takes the read buffer (and the bytes in it) out of the peer.
    pub fn take_input(&mut self) -> Option<PooledBuffer> {
        self.inbuf.take()
    }

    /// True once the peer's end of stream was read and every byte before it used.
    pub fn finished(&self) -> bool {
        self.read.eof && self.has_no_input()
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

    /// Sends what the stream itself still holds (TLS records the socket did
    /// not take). True when nothing is left: only then may it be closed.
    pub fn flush(&mut self) -> io::Result<bool> {
        match self.stream.flush() {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Writes the first `limit` bytes read from `from` (another peer),
    /// consuming what was written. Returns the bytes written.
    pub fn send_input_of<T>(&mut self, from: &mut Peer<T>, limit: usize) -> io::Result<usize> {
        let Some(input) = from.inbuf.as_mut() else {
            return Ok(0);
        };
        if !self.writable || limit == 0 || input.is_empty() {
            return Ok(0);
        }
        let (n, stop) = input.write_prefix_to(&mut self.stream, limit)?;
        if stop == WriteStop::WouldBlock {
            self.writable = false;
        }
        Ok(n)
    }
}

/// Bytes the proxy itself writes to the client (response heads, small
/// bodies riding with them, error pages), sent before anything else.
///
/// Its vector is dropped once sent: a response head with a small body
/// riding along grows it to several kilobytes, which an idle kept-alive
/// connection would otherwise keep (and the next response allocates one
/// again at no measurable cost next to its syscalls).
#[derive(Debug, Default)]
pub(super) struct Outbox {
    bytes: Vec<u8>,
    written: usize,
}

impl Outbox {
    /// The buffer to append to.
    pub fn queue(&mut self) -> &mut Vec<u8> {
        if self.bytes.capacity() == 0 {
            // One allocation for a typical response head, not a few growing.
            self.bytes.reserve(OUTBOX_FIRST_BYTES);
        }
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
        self.bytes = Vec::new();
        self.written = 0;
        Ok(true)
    }
}
