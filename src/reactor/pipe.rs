//! A two-way pipe between two non-blocking byte streams: one bounded
//! buffer per direction, reads stopped while the far side's buffer is full
//! (backpressure), a cap on the bytes read per wake-up, and each side's end
//! of stream passed on to the other once its buffer has drained.
//!
//! A direction holds its buffer only while bytes are in it: it takes one
//! from the worker's [`BufferPool`] to read and gives it back once drained,
//! so an idle pipe holds none. When the pool has none to lend, the
//! direction stops reading, as at a full buffer, and says so
//! ([`Pumped::starved`]) so that the caller waits on the pool's list.
//!
//! The streams are any [`Read`] + [`Write`] + [`HalfClose`], so that a TLS
//! stream can stand where a socket stands. The pipe holds no sockets: the
//! caller passes both on each call, the far one as `None` while it is still
//! being connected.

use std::io::{self, Read, Write};
use std::net::Shutdown;

use super::buffer_pool::{BufferPool, PooledBuffer};
use super::{ReadSide, Readiness, TcpStream, WriteStop, write_until_blocked};

/// A stream whose sending side can be closed on its own, leaving the
/// receiving side open (TCP's half close).
pub trait HalfClose {
    /// Sends end of stream to the peer; reading goes on.
    fn close_write(&mut self) -> io::Result<()>;
}

impl HalfClose for TcpStream {
    fn close_write(&mut self) -> io::Result<()> {
        match self.shutdown(Shutdown::Write) {
            // The peer reset the connection already: nothing left to close.
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
            other => other,
        }
    }
}

/// One direction of a pipe: bytes read from a source, waiting for a
/// destination.
#[derive(Debug)]
pub struct Flow {
    /// Bytes read and not yet written; `None` while there are none.
    buf: Option<PooledBuffer>,
    /// The source's read side.
    pub src: ReadSide,
    /// The destination may take bytes (set by readiness, cleared at `WouldBlock`).
    pub dst_writable: bool,
    /// End of stream was passed on to the destination.
    shut: bool,
    /// The last read was due but the pool had no buffer to lend.
    starved: bool,
}

impl Flow {
    /// A direction reading `src`, with no buffer until bytes come.
    pub fn new(src: ReadSide) -> Self {
        Self::carry_on(None, src, true)
    }

    /// A direction that carries on from a connection read so far by
    /// someone else: `buf` holds the bytes already read from the source and
    /// not yet sent, `src` the source's read side, `dst_writable` what is
    /// known of the destination (an HTTP connection that became a tunnel).
    pub fn carry_on(buf: Option<PooledBuffer>, src: ReadSide, dst_writable: bool) -> Self {
        Self {
            buf,
            src,
            dst_writable,
            shut: false,
            starved: false,
        }
    }

    /// Bytes read and not yet written.
    pub fn buffered(&self) -> usize {
        self.buf.as_ref().map_or(0, |buf| buf.len())
    }

    /// Gives the buffer back to `pool`, bytes and all (the pipe is closing).
    pub fn give_back(&mut self, pool: &mut BufferPool) {
        pool.give_slot(&mut self.buf);
    }

    /// Moves bytes until neither side can make progress or `budget` bytes
    /// were read, with a buffer from `pool` while bytes are in flight. With
    /// no destination yet, only reads (up to a full buffer). Returns the
    /// bytes read and whether work was left for lack of budget.
    pub fn run<S, D>(
        &mut self,
        src: &mut S,
        dst: Option<&mut D>,
        budget: usize,
        pool: &mut BufferPool,
    ) -> io::Result<(usize, bool)>
    where
        S: Read + ?Sized,
        D: Write + HalfClose + ?Sized,
    {
        let result = self.run_lent(src, dst, budget, pool);
        // Drained (or never filled): the buffer goes back at once, also
        // after an error.
        pool.release_if_empty(&mut self.buf);
        result
    }

    fn run_lent<S, D>(
        &mut self,
        src: &mut S,
        mut dst: Option<&mut D>,
        budget: usize,
        pool: &mut BufferPool,
    ) -> io::Result<(usize, bool)>
    where
        S: Read + ?Sized,
        D: Write + HalfClose + ?Sized,
    {
        let mut moved = 0;
        self.starved = false;
        loop {
            if let (Some(dst), Some(buf)) = (dst.as_deref_mut(), self.buf.as_mut()) {
                if self.dst_writable && !buf.is_empty() {
                    let (written, stop) = write_until_blocked(dst, buf.as_slice())?;
                    buf.consume(written);
                    if stop == WriteStop::WouldBlock {
                        self.dst_writable = false;
                    }
                }
            }
            let full = self.buf.as_ref().is_some_and(|buf| buf.is_full());
            if !self.src.can_read() || full || moved >= budget {
                break;
            }
            let Ok(buf) = pool.fill(&mut self.buf) else {
                // No buffer to lend: stop reading, as at a full buffer.
                self.starved = true;
                break;
            };
            let n = self.src.fill(buf, src, budget - moved)?;
            moved += n;
            if n == 0 {
                break;
            }
        }
        if let Some(dst) = dst {
            if self.src.eof && self.buffered() == 0 && !self.shut {
                // Half close: the source is done sending; the other way stays open.
                dst.close_write()?;
                self.shut = true;
            }
        }
        let capped = moved >= budget && self.src.can_read();
        Ok((moved, capped))
    }

    /// The last run stopped reading because the pool had no buffer.
    pub fn starved(&self) -> bool {
        self.starved
    }

    /// True once the source's end of stream was passed on.
    pub fn finished(&self) -> bool {
        self.shut
    }
}

/// What one [`Pipe::pump`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pumped {
    /// Bytes read from the near side.
    pub up: usize,
    /// Bytes read from the far side.
    pub down: usize,
    /// A side still has bytes to read but the budget ran out: call again
    /// (defer the token) rather than wait for readiness.
    pub capped: bool,
    /// Both ends of stream were passed on: the pipe is over.
    pub done: bool,
    /// A side had bytes to read but the pool had no buffer: put the
    /// connection on the pool's waiting list.
    pub starved: bool,
}

/// Both directions between a near stream (the one that came to us) and a
/// far stream (the one we connected to).
#[derive(Debug)]
pub struct Pipe {
    /// Near to far.
    pub up: Flow,
    /// Far to near.
    pub down: Flow,
}

impl Default for Pipe {
    fn default() -> Self {
        Self::new()
    }
}

impl Pipe {
    /// A pipe holding no buffer yet. The near side is read at once; the
    /// far side once its first readiness comes.
    pub fn new() -> Self {
        Self {
            up: Flow::new(ReadSide::new()),
            down: Flow::new(ReadSide::waiting()),
        }
    }

    /// Gives both directions' buffers back to `pool` (the pipe is closing).
    pub fn give_back(&mut self, pool: &mut BufferPool) {
        self.up.give_back(pool);
        self.down.give_back(pool);
    }

    /// Takes in a readiness event of the near stream.
    pub fn note_near(&mut self, readiness: Readiness) {
        self.up.src.note(readiness);
        if readiness.writable || readiness.write_closed || readiness.error {
            self.down.dst_writable = true;
        }
    }

    /// Takes in a readiness event of the far stream.
    pub fn note_far(&mut self, readiness: Readiness) {
        self.down.src.note(readiness);
        if readiness.writable || readiness.write_closed || readiness.error {
            self.up.dst_writable = true;
        }
    }

    /// The far stream finished connecting, on an event that may already say
    /// it sent bytes.
    pub fn far_connected(&mut self, readiness: Readiness) {
        self.up.dst_writable = true;
        self.down.src.note(readiness);
    }

    /// Moves bytes both ways, reading at most `budget` bytes per direction,
    /// with buffers from `pool`. `far` is `None` while it is being
    /// connected: the near side is then read into its buffer and nothing
    /// else moves.
    pub fn pump<N, F>(
        &mut self,
        near: &mut N,
        far: Option<&mut F>,
        budget: usize,
        pool: &mut BufferPool,
    ) -> io::Result<Pumped>
    where
        N: Read + Write + HalfClose + ?Sized,
        F: Read + Write + HalfClose + ?Sized,
    {
        let Some(far) = far else {
            let (up, capped) = self.up.run(near, None::<&mut F>, budget, pool)?;
            return Ok(Pumped {
                up,
                down: 0,
                capped,
                done: false,
                starved: self.up.starved(),
            });
        };
        let (up, up_capped) = self.up.run(near, Some(&mut *far), budget, pool)?;
        let (down, down_capped) = self.down.run(far, Some(near), budget, pool)?;
        Ok(Pumped {
            up,
            down,
            capped: up_capped || down_capped,
            done: self.up.finished() && self.down.finished(),
            starved: self.up.starved() || self.down.starved(),
        })
    }
}

#[cfg(test)]
mod tests;
