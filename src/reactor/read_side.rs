//! What edge-triggered readiness leaves known about a socket's read side,
//! and the read that follows from it.

use std::io::{self, Read};

use super::{Buffer, ReadStop, Readiness};

/// The read side of a non-blocking socket.
///
/// `readable` is set by a readiness event and cleared when a read finds the
/// receive queue empty; `hup` remembers that the peer's close was reported
/// (so reads go on to the end of stream, since no further edge will come);
/// `eof` is set once the end of stream was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadSide {
    /// The socket may have bytes to read.
    pub readable: bool,
    /// Readiness reported the peer's close.
    pub hup: bool,
    /// The end of stream was read.
    pub eof: bool,
}

impl ReadSide {
    /// A fresh socket, assumed readable until a read says otherwise.
    pub fn new() -> Self {
        Self {
            readable: true,
            hup: false,
            eof: false,
        }
    }

    /// A socket not to be read before its first readiness event (a
    /// connection still being made).
    pub fn waiting() -> Self {
        Self {
            readable: false,
            ..Self::new()
        }
    }

    /// Takes in a readiness event.
    pub fn note(&mut self, readiness: Readiness) {
        if readiness.readable || readiness.read_closed || readiness.error {
            self.readable = true;
            self.hup |= readiness.read_closed || readiness.error;
        }
    }

    /// True when a read now may bring bytes (or the end of stream).
    pub fn can_read(&self) -> bool {
        self.readable && !self.eof
    }

    /// Reads into `buf` while there is room, at most `budget` bytes.
    /// Returns the bytes read.
    pub fn fill<R: Read + ?Sized>(
        &mut self,
        buf: &mut Buffer,
        src: &mut R,
        budget: usize,
    ) -> io::Result<usize> {
        if !self.can_read() || buf.is_full() {
            return Ok(0);
        }
        let (n, stop) = if self.hup {
            buf.read_from(src, budget)?
        } else {
            buf.read_available(src, budget)?
        };
        match stop {
            ReadStop::WouldBlock => self.readable = false,
            ReadStop::Eof => self.eof = true,
            ReadStop::Full | ReadStop::Budget => {}
        }
        Ok(n)
    }
}

impl Default for ReadSide {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_read_waits_for_the_next_edge_unless_the_peer_closed() {
        let mut side = ReadSide::new();
        let mut buf = Buffer::with_capacity(16);
        let mut src: &[u8] = b"abc";
        assert_eq!(side.fill(&mut buf, &mut src, 100).unwrap(), 3);
        assert!(!side.readable, "a short read means the queue is empty");
        side.note(Readiness {
            read_closed: true,
            ..Readiness::default()
        });
        assert_eq!(side.fill(&mut buf, &mut src, 100).unwrap(), 0);
        assert!(side.eof, "after a reported close, reads go on to the end");
    }
}
