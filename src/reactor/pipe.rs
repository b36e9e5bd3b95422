//! A two-way pipe between two non-blocking byte streams: one bounded
//! buffer per direction, reads stopped while the far side's buffer is full
//! (backpressure), a cap on the bytes read per wake-up, and each side's end
//! of stream passed on to the other once its buffer has drained.
//!
//! The streams are any [`Read`] + [`Write`] + [`HalfClose`], so that a TLS
//! stream can stand where a socket stands. The pipe holds no sockets: the
//! caller passes both on each call, the far one as `None` while it is still
//! being connected.

use std::io::{self, Read, Write};
use std::net::Shutdown;

use super::{Buffer, ReadSide, Readiness, TcpStream, WriteStop, write_until_blocked};

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
    buf: Buffer,
    /// The source's read side.
    pub src: ReadSide,
    /// The destination may take bytes (set by readiness, cleared at `WouldBlock`).
    pub dst_writable: bool,
    /// End of stream was passed on to the destination.
    shut: bool,
}

impl Flow {
    /// A direction with a buffer of `capacity` bytes, reading `src`.
    pub fn new(capacity: usize, src: ReadSide) -> Self {
        Self {
            buf: Buffer::with_capacity(capacity),
            src,
            dst_writable: true,
            shut: false,
        }
    }

    /// A direction that carries on from a connection read so far by
    /// someone else: `buf` holds the bytes already read from the source and
    /// not yet sent, `src` the source's read side, `dst_writable` what is
    /// known of the destination (an HTTP connection that became a tunnel).
    pub fn carry_on(buf: Buffer, src: ReadSide, dst_writable: bool) -> Self {
        Self {
            buf,
            src,
            dst_writable,
            shut: false,
        }
    }

    /// Moves bytes until neither side can make progress or `budget` bytes
    /// were read. With no destination yet, only reads (up to a full
    /// buffer). Returns the bytes read and whether work was left for lack of
    /// budget.
    pub fn run<S, D>(
        &mut self,
        src: &mut S,
        mut dst: Option<&mut D>,
        budget: usize,
    ) -> io::Result<(usize, bool)>
    where
        S: Read + ?Sized,
        D: Write + HalfClose + ?Sized,
    {
        let mut moved = 0;
        loop {
            if let Some(dst) = dst.as_deref_mut() {
                if self.dst_writable && !self.buf.is_empty() {
                    let (written, stop) = write_until_blocked(dst, self.buf.as_slice())?;
                    self.buf.consume(written);
                    if stop == WriteStop::WouldBlock {
                        self.dst_writable = false;
                    }
                }
            }
            if !self.src.can_read() || self.buf.is_full() || moved >= budget {
                break;
            }
            let n = self.src.fill(&mut self.buf, src, budget - moved)?;
            moved += n;
            if n == 0 {
                break;
            }
        }
        if let Some(dst) = dst {
            if self.src.eof && self.buf.is_empty() && !self.shut {
                // Half close: the source is done sending; the other way stays open.
                dst.close_write()?;
                self.shut = true;
            }
        }
        let capped = moved >= budget && self.src.can_read();
        Ok((moved, capped))
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

impl Pipe {
    /// A pipe with `capacity` bytes of buffer per direction. The near side is
    /// read at once; the far side once its first readiness comes.
    pub fn new(capacity: usize) -> Self {
        Self {
            up: Flow::new(capacity, ReadSide::new()),
            down: Flow::new(capacity, ReadSide::waiting()),
        }
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

    /// Moves bytes both ways, reading at most `budget` bytes per direction.
    /// `far` is `None` while it is being connected: the near side is then
    /// read into its buffer and nothing else moves.
    pub fn pump<N, F>(
        &mut self,
        near: &mut N,
        far: Option<&mut F>,
        budget: usize,
    ) -> io::Result<Pumped>
    where
        N: Read + Write + HalfClose + ?Sized,
        F: Read + Write + HalfClose + ?Sized,
    {
        let Some(far) = far else {
            let (up, capped) = self.up.run(near, None::<&mut F>, budget)?;
            return Ok(Pumped {
                up,
                down: 0,
                capped,
                done: false,
            });
        };
        let (up, up_capped) = self.up.run(near, Some(&mut *far), budget)?;
        let (down, down_capped) = self.down.run(far, Some(near), budget)?;
        Ok(Pumped {
            up,
            down,
            capped: up_capped || down_capped,
            done: self.up.finished() && self.down.finished(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// An in-memory stream: reads come from `input` (then `WouldBlock`, or
    /// end of stream once `ended`), writes take up to `room` bytes.
    #[derive(Default)]
    struct Memory {
        input: VecDeque<u8>,
        ended: bool,
        output: Vec<u8>,
        room: usize,
        write_closed: bool,
    }

    impl Read for Memory {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.input.is_empty() {
                return if self.ended {
                    Ok(0)
                } else {
                    Err(io::ErrorKind::WouldBlock.into())
                };
            }
            let n = buf.len().min(self.input.len());
            for (slot, byte) in buf.iter_mut().zip(self.input.drain(..n)) {
                *slot = byte;
            }
            Ok(n)
        }
    }

    impl Write for Memory {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = buf.len().min(self.room);
            self.room -= n;
            self.output.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl HalfClose for Memory {
        fn close_write(&mut self) -> io::Result<()> {
            self.write_closed = true;
            Ok(())
        }
    }

    fn stream(input: &[u8], room: usize) -> Memory {
        Memory {
            input: input.iter().copied().collect(),
            room,
            ..Memory::default()
        }
    }

    const READABLE: Readiness = Readiness {
        readable: true,
        writable: true,
        read_closed: false,
        write_closed: false,
        error: false,
    };

    #[test]
    fn bytes_cross_both_ways() {
        let mut pipe = Pipe::new(64);
        let mut near = stream(b"request", 100);
        let mut far = stream(b"answer", 100);
        pipe.far_connected(READABLE);
        let pumped = pipe.pump(&mut near, Some(&mut far), 1024).unwrap();
        assert_eq!((pumped.up, pumped.down), (7, 6));
        assert_eq!(far.output, b"request");
        assert_eq!(near.output, b"answer");
        assert!(!pumped.done);
    }

    #[test]
    fn the_near_side_is_buffered_until_the_far_side_connects() {
        let mut pipe = Pipe::new(64);
        let mut near = stream(b"early", 100);
        let pumped = pipe.pump(&mut near, None::<&mut Memory>, 1024).unwrap();
        assert_eq!(pumped.up, 5);
        let mut far = stream(b"", 100);
        pipe.far_connected(Readiness::default());
        pipe.pump(&mut near, Some(&mut far), 1024).unwrap();
        assert_eq!(far.output, b"early");
    }

    #[test]
    fn a_full_buffer_stops_reading_until_the_far_side_takes_bytes() {
        let mut pipe = Pipe::new(4);
        let mut near = stream(b"0123456789", 100);
        let mut far = stream(b"", 0);
        pipe.far_connected(READABLE);
        let pumped = pipe.pump(&mut near, Some(&mut far), 1024).unwrap();
        assert_eq!(pumped.up, 4, "reads stop at a full buffer");
        assert_eq!(near.input.len(), 6, "the rest waits in the source");
        far.room = 100;
        pipe.note_far(READABLE);
        pipe.pump(&mut near, Some(&mut far), 1024).unwrap();
        assert_eq!(far.output, b"0123456789");
    }

    #[test]
    fn a_carried_on_direction_sends_its_buffered_bytes_before_new_ones() {
        let mut buf = Buffer::with_capacity(16);
        buf.push(b"first ");
        let mut flow = Flow::carry_on(buf, ReadSide::new(), true);
        let mut src = stream(b"then", 0);
        let mut dst = stream(b"", 100);
        flow.run(&mut src, Some(&mut dst), 1024).unwrap();
        assert_eq!(dst.output, b"first then");
    }

    #[test]
    fn the_budget_caps_a_wake_up_and_says_so() {
        let mut pipe = Pipe::new(4);
        let mut near = stream(&[7; 100], 100);
        let mut far = stream(b"", 1000);
        pipe.far_connected(READABLE);
        let pumped = pipe.pump(&mut near, Some(&mut far), 10).unwrap();
        assert_eq!(pumped.up, 10);
        assert!(pumped.capped);
    }

    #[test]
    fn end_of_stream_is_passed_on_after_the_buffer_drains_and_both_end_the_pipe() {
        let mut pipe = Pipe::new(4);
        let mut near = stream(b"bye!!", 100);
        near.ended = true;
        let mut far = stream(b"", 2);
        pipe.far_connected(READABLE);
        pipe.pump(&mut near, Some(&mut far), 1024).unwrap();
        assert!(!far.write_closed, "bytes still buffered");
        far.room = 100;
        far.ended = true;
        // A short read took the near side for drained; its close raises an edge.
        let closed = Readiness {
            read_closed: true,
            ..READABLE
        };
        pipe.note_near(closed);
        pipe.note_far(closed);
        let pumped = pipe.pump(&mut near, Some(&mut far), 1024).unwrap();
        assert_eq!(far.output, b"bye!!");
        assert!(far.write_closed && near.write_closed);
        assert!(pumped.done);
    }
}
