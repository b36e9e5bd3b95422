//! A bounded byte buffer that moves data between non-blocking sockets.
//!
//! The buffer never grows: a full buffer is the signal to stop reading the
//! near side (backpressure). Reads go on until `WouldBlock`, end of stream, a
//! full buffer or the caller's budget; writes until the buffer is empty or the
//! peer pushes back. Partial writes simply leave the rest in place, so no byte
//! is lost or reordered.

use std::io::{self, Read, Write};
use std::ops::{Deref, DerefMut};

use memmap2::MmapMut;

use super::write_until_blocked;

/// Why [`Buffer::read_from`] stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadStop {
    /// The source has nothing more for now; wait for the next readiness event.
    WouldBlock,
    /// The source sent end of stream (the peer shut down its write side).
    Eof,
    /// The buffer is full; the source may still be readable.
    Full,
    /// The per-call budget was used up; the source may still be readable.
    Budget,
}

/// Why [`Buffer::write_to`] stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteStop {
    /// Every buffered byte was written.
    Empty,
    /// The destination cannot take more for now; wait for writable readiness.
    WouldBlock,
}

/// Where a buffer's bytes live.
#[derive(Debug)]
enum Storage {
    /// From the allocator, like any other value.
    Heap(Box<[u8]>),
    /// Pages mapped for this buffer alone, unmapped when it is dropped.
    Mapped(MmapMut),
}

impl Deref for Storage {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Storage::Heap(bytes) => bytes,
            Storage::Mapped(pages) => pages,
        }
    }
}

impl DerefMut for Storage {
    fn deref_mut(&mut self) -> &mut [u8] {
        match self {
            Storage::Heap(bytes) => bytes,
            Storage::Mapped(pages) => pages,
        }
    }
}

/// A fixed-capacity FIFO of bytes.
#[derive(Debug)]
pub struct Buffer {
    data: Storage,
    start: usize,
    end: usize,
}

impl Buffer {
    /// A buffer that holds at most `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        assert!(capacity > 0, "a buffer needs room for at least one byte");
        Self::over(Storage::Heap(vec![0; capacity].into_boxed_slice()))
    }

    /// A buffer of `capacity` bytes in pages mapped for it alone: dropping
    /// it hands them back to the system at once, whatever the allocator's
    /// policy. For long-lived pooled buffers (a mapping costs a system call
    /// each way); pages are only backed once touched.
    pub fn mapped(capacity: usize) -> io::Result<Self> {
        assert!(capacity > 0, "a buffer needs room for at least one byte");
        Ok(Self::over(Storage::Mapped(MmapMut::map_anon(capacity)?)))
    }

    fn over(data: Storage) -> Self {
        Self {
            data,
            start: 0,
            end: 0,
        }
    }

    /// Bytes waiting to be written or parsed.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// True when nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// True when no more bytes fit.
    pub fn is_full(&self) -> bool {
        self.len() == self.data.len()
    }

    /// The most bytes this buffer holds.
    pub fn capacity(&self) -> usize {
        self.data.len()
    }

    /// Room left for new bytes.
    pub fn free(&self) -> usize {
        self.data.len() - self.len()
    }

    /// The buffered bytes, oldest first.
    pub fn as_slice(&self) -> &[u8] {
        &self.data[self.start..self.end]
    }

    /// Drops the first `n` buffered bytes (they were written or parsed).
    pub fn consume(&mut self, n: usize) {
        assert!(n <= self.len(), "consume past the end of the buffer");
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Drops everything buffered.
    pub fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
    }

    /// Copies as much of `bytes` as fits and returns how much that was.
    pub fn push(&mut self, bytes: &[u8]) -> usize {
        let n = bytes.len().min(self.free());
        self.make_room();
        self.data[self.end..self.end + n].copy_from_slice(&bytes[..n]);
        self.end += n;
        n
    }

    /// Moves the buffered bytes to the front so that all free room is at the tail.
    fn make_room(&mut self) {
        if self.start > 0 && self.end == self.data.len() {
            self.data.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
    }

    /// Reads from `src` until it would block, ends, the buffer fills or
    /// `budget` bytes were read. Returns the bytes read and why it stopped.
    pub fn read_from<R: Read + ?Sized>(
        &mut self,
        src: &mut R,
        budget: usize,
    ) -> io::Result<(usize, ReadStop)> {
        self.read_inner(src, budget, false)
    }

    /// Like [`Buffer::read_from`], but a short read (fewer bytes than there
    /// was room for) ends the call as [`ReadStop::WouldBlock`], saving the
    /// read that would only report `WouldBlock`. A short read means the
    /// socket's receive queue was empty, so bytes arriving later raise a new
    /// edge. Not for a socket that reported its peer's close (read-closed):
    /// that edge came already, so read on to the end of stream instead.
    pub fn read_available<R: Read + ?Sized>(
        &mut self,
        src: &mut R,
        budget: usize,
    ) -> io::Result<(usize, ReadStop)> {
        self.read_inner(src, budget, true)
    }

    fn read_inner<R: Read + ?Sized>(
        &mut self,
        src: &mut R,
        budget: usize,
        stop_when_short: bool,
    ) -> io::Result<(usize, ReadStop)> {
        let mut total = 0;
        loop {
            if self.is_full() {
                return Ok((total, ReadStop::Full));
            }
            if total >= budget {
                return Ok((total, ReadStop::Budget));
            }
            self.make_room();
            let room = (self.data.len() - self.end).min(budget - total);
            match src.read(&mut self.data[self.end..self.end + room]) {
                Ok(0) => return Ok((total, ReadStop::Eof)),
                Ok(n) => {
                    self.end += n;
                    total += n;
                    if stop_when_short && n < room {
                        return Ok((total, ReadStop::WouldBlock));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Ok((total, ReadStop::WouldBlock));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Writes buffered bytes to `dst` until it is empty or `dst` would block.
    /// Returns the bytes written and why it stopped.
    pub fn write_to<W: Write + ?Sized>(&mut self, dst: &mut W) -> io::Result<(usize, WriteStop)> {
        self.write_prefix_to(dst, usize::MAX)
    }

    /// Like [`Buffer::write_to`], but writes at most the first `limit` bytes:
    /// for streaming one message's body while the next message waits behind it.
    /// `WriteStop::Empty` then means the prefix was written.
    pub fn write_prefix_to<W: Write + ?Sized>(
        &mut self,
        dst: &mut W,
        limit: usize,
    ) -> io::Result<(usize, WriteStop)> {
        let end = self.len().min(limit);
        let (written, stop) = write_until_blocked(dst, &self.as_slice()[..end])?;
        self.consume(written);
        Ok((written, stop))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// A scripted peer: each step is delivered by one read or accepted by one write.
    enum Step {
        Data(Vec<u8>),
        Accept(usize),
        WouldBlock,
        Interrupted,
        Error,
    }

    struct ScriptedPeer {
        steps: VecDeque<Step>,
        written: Vec<u8>,
    }

    impl ScriptedPeer {
        fn new(steps: Vec<Step>) -> Self {
            Self {
                steps: steps.into(),
                written: Vec::new(),
            }
        }
    }

    impl Read for ScriptedPeer {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.steps.pop_front() {
                None => Ok(0),
                Some(Step::Data(mut data)) => {
                    let n = data.len().min(buf.len());
                    buf[..n].copy_from_slice(&data[..n]);
                    if n < data.len() {
                        self.steps.push_front(Step::Data(data.split_off(n)));
                    }
                    Ok(n)
                }
                Some(Step::WouldBlock) => Err(io::ErrorKind::WouldBlock.into()),
                Some(Step::Interrupted) => Err(io::ErrorKind::Interrupted.into()),
                Some(Step::Error) => Err(io::ErrorKind::ConnectionReset.into()),
                Some(Step::Accept(_)) => unreachable!("write step in a read"),
            }
        }
    }

    impl Write for ScriptedPeer {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            match self.steps.pop_front() {
                Some(Step::Accept(n)) => {
                    let n = n.min(buf.len());
                    self.written.extend_from_slice(&buf[..n]);
                    Ok(n)
                }
                Some(Step::WouldBlock) | None => Err(io::ErrorKind::WouldBlock.into()),
                Some(Step::Interrupted) => Err(io::ErrorKind::Interrupted.into()),
                Some(Step::Error) => Err(io::ErrorKind::BrokenPipe.into()),
                Some(Step::Data(_)) => unreachable!("read step in a write"),
            }
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn partial_writes_keep_the_rest_in_order() {
        let mut buf = Buffer::with_capacity(16);
        assert_eq!(buf.push(b"hello world"), 11);
        let mut peer = ScriptedPeer::new(vec![Step::Accept(3), Step::Accept(2), Step::WouldBlock]);
        assert_eq!(buf.write_to(&mut peer).unwrap(), (5, WriteStop::WouldBlock));
        assert_eq!(buf.as_slice(), b" world");
        let mut peer2 = ScriptedPeer::new(vec![Step::Interrupted, Step::Accept(100)]);
        assert_eq!(buf.write_to(&mut peer2).unwrap(), (6, WriteStop::Empty));
        assert_eq!([peer.written, peer2.written].concat(), b"hello world");
    }

    #[test]
    fn prefix_write_leaves_the_next_message_in_place() {
        let mut buf = Buffer::with_capacity(32);
        buf.push(b"body1NEXT");
        let mut peer = ScriptedPeer::new(vec![Step::Accept(3), Step::Accept(100)]);
        assert_eq!(
            buf.write_prefix_to(&mut peer, 5).unwrap(),
            (5, WriteStop::Empty)
        );
        assert_eq!(peer.written, b"body1");
        assert_eq!(buf.as_slice(), b"NEXT");
    }

    #[test]
    fn read_stops_at_would_block_and_keeps_what_arrived() {
        let mut buf = Buffer::with_capacity(64);
        let mut peer = ScriptedPeer::new(vec![
            Step::Data(b"abc".to_vec()),
            Step::Interrupted,
            Step::Data(b"def".to_vec()),
            Step::WouldBlock,
            Step::Data(b"never read".to_vec()),
        ]);
        assert_eq!(
            buf.read_from(&mut peer, usize::MAX).unwrap(),
            (6, ReadStop::WouldBlock)
        );
        assert_eq!(buf.as_slice(), b"abcdef");
    }

    #[test]
    fn read_available_stops_at_a_short_read_without_asking_again() {
        let mut buf = Buffer::with_capacity(64);
        let mut peer = ScriptedPeer::new(vec![
            Step::Data(b"abc".to_vec()),
            Step::Data(b"not yet".to_vec()),
        ]);
        assert_eq!(
            buf.read_available(&mut peer, usize::MAX).unwrap(),
            (3, ReadStop::WouldBlock)
        );
        assert_eq!(buf.as_slice(), b"abc");
        // A read that fills the room it was given goes on.
        let mut small = Buffer::with_capacity(4);
        let mut peer = ScriptedPeer::new(vec![Step::Data(b"wxyz".to_vec())]);
        assert_eq!(
            small.read_available(&mut peer, usize::MAX).unwrap(),
            (4, ReadStop::Full)
        );
    }

    #[test]
    fn read_reports_peer_close_after_the_last_bytes() {
        let mut buf = Buffer::with_capacity(64);
        let mut peer = ScriptedPeer::new(vec![Step::Data(b"bye".to_vec())]);
        assert_eq!(
            buf.read_from(&mut peer, usize::MAX).unwrap(),
            (3, ReadStop::Eof)
        );
        assert_eq!(buf.as_slice(), b"bye");
    }

    #[test]
    fn full_buffer_stops_reading_without_losing_the_unread_bytes() {
        let mut buf = Buffer::with_capacity(4);
        let mut peer = ScriptedPeer::new(vec![Step::Data(b"123456".to_vec())]);
        assert_eq!(
            buf.read_from(&mut peer, usize::MAX).unwrap(),
            (4, ReadStop::Full)
        );
        assert_eq!(buf.as_slice(), b"1234");
        buf.consume(2);
        assert_eq!(
            buf.read_from(&mut peer, usize::MAX).unwrap(),
            (2, ReadStop::Full)
        );
        assert_eq!(buf.as_slice(), b"3456");
    }

    #[test]
    fn budget_caps_one_read_call() {
        let mut buf = Buffer::with_capacity(64);
        let mut peer = ScriptedPeer::new(vec![Step::Data(vec![7; 40])]);
        assert_eq!(
            buf.read_from(&mut peer, 10).unwrap(),
            (10, ReadStop::Budget)
        );
        assert_eq!(buf.len(), 10);
    }

    #[test]
    fn reset_is_an_error_not_an_end_of_stream() {
        let mut buf = Buffer::with_capacity(8);
        let mut peer = ScriptedPeer::new(vec![Step::Data(b"x".to_vec()), Step::Error]);
        let err = buf.read_from(&mut peer, usize::MAX).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
        assert_eq!(buf.as_slice(), b"x", "bytes before the error are kept");
    }

    #[test]
    fn wraparound_compacts_instead_of_growing() {
        let mut buf = Buffer::with_capacity(8);
        assert_eq!(buf.push(b"abcdefgh"), 8);
        assert_eq!(buf.push(b"i"), 0, "a full buffer takes nothing");
        buf.consume(6);
        assert_eq!(buf.push(b"ijklmnop"), 6);
        assert_eq!(buf.as_slice(), b"ghijklmn");
        assert_eq!(buf.capacity(), 8);
    }

    #[test]
    fn half_close_over_real_sockets_delivers_everything_then_eof() {
        use std::net::{Shutdown, TcpListener, TcpStream};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        client.write_all(b"request").unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        let mut buf = Buffer::with_capacity(64);
        let mut stop = ReadStop::Budget;
        while stop != ReadStop::Eof {
            stop = buf.read_from(&mut server, usize::MAX).unwrap().1;
        }
        assert_eq!(buf.as_slice(), b"request");
        // The other direction still works after the client's half close.
        buf.clear();
        buf.push(b"response");
        buf.write_to(&mut server).unwrap();
        drop(server);
        let mut got = Vec::new();
        client.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"response");
    }
}
