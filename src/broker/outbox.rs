//! A client's outbound queue: whole frames, bounded in bytes, written out
//! in large batches. Past the bound it either refuses the frame (the core
//! then disconnects the client, as NATS does) or drops the oldest frames
//! not yet started (as mosquitto does). A frame that is partly written is
//! never dropped, so the byte stream stays a sequence of whole frames.

use std::collections::VecDeque;
use std::io::{self, Write};

use crate::reactor::{WriteStop, write_until_blocked};

/// What to do with a subscriber that does not keep up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SlowConsumerPolicy {
    /// Send an error frame and close the connection.
    #[default]
    Disconnect,
    /// Drop the oldest queued messages to make room.
    DropOldest,
}

/// The result of [`Outbox::push`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// The frame is queued; `dropped` older frames made room for it.
    Queued {
        /// Frames dropped to make room (always 0 under `Disconnect`).
        dropped: usize,
    },
    /// The frame does not fit and the policy is `Disconnect`.
    Overflow,
}

/// Bounded FIFO of whole frames.
#[derive(Debug)]
pub struct Outbox {
    bytes: Vec<u8>,
    start: usize,
    /// Lengths of the queued frames, oldest first; the first may be partly written.
    frames: VecDeque<usize>,
    /// Bytes of the first frame already written.
    head_written: usize,
    limit: usize,
    policy: SlowConsumerPolicy,
    /// Times the queue was written out to empty: a queue whose count has
    /// not moved for a while while it holds bytes is stalled.
    emptied: u64,
    /// Bytes written out since the queue was made.
    written: u64,
}

impl Outbox {
    /// An empty queue holding at most `limit` bytes.
    pub fn new(limit: usize, policy: SlowConsumerPolicy) -> Self {
        Self {
            bytes: Vec::new(),
            start: 0,
            frames: VecDeque::new(),
            head_written: 0,
            limit,
            policy,
            emptied: 0,
            written: 0,
        }
    }

    /// Bytes waiting to be written.
    pub fn len(&self) -> usize {
        self.bytes.len() - self.start
    }

    /// How many times the queue was written out to empty so far.
    pub fn times_emptied(&self) -> u64 {
        self.emptied
    }

    /// Bytes written out since the queue was made.
    pub fn bytes_written(&self) -> u64 {
        self.written
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Frames waiting (including a partly written one).
    pub fn frame_count(&self) -> usize {
        self.frames.len()
    }

    /// Queues one whole frame, applying the policy when it does not fit.
    pub fn push(&mut self, frame: &[u8]) -> Pushed {
        let mut dropped = 0;
        if self.len() + frame.len() > self.limit {
            if self.policy == SlowConsumerPolicy::Disconnect {
                return Pushed::Overflow;
            }
            dropped = self.drop_oldest(self.len() + frame.len() - self.limit);
            if self.len() + frame.len() > self.limit {
                // Only a partly written frame is left and the new one still
                // does not fit beside it: the new one is the oldest to drop.
                return Pushed::Queued {
                    dropped: dropped + 1,
                };
            }
        }
        self.push_unbounded(frame);
        Pushed::Queued { dropped }
    }

    /// Queues a frame past the bound (the error frame sent before closing).
    pub fn push_unbounded(&mut self, frame: &[u8]) {
        if self.start > 0 && self.start >= self.bytes.len() / 2 {
            self.bytes.drain(..self.start);
            self.start = 0;
        }
        self.bytes.extend_from_slice(frame);
        self.frames.push_back(frame.len());
    }

    /// Drops frames that have not started, oldest first, until `need` bytes
    /// are freed or none is left. Returns how many were dropped.
    fn drop_oldest(&mut self, need: usize) -> usize {
        let keep_head = usize::from(self.head_written > 0);
        let mut freed = 0;
        let mut count = 0;
        while freed < need && self.frames.len() > keep_head {
            freed += self
                .frames
                .remove(keep_head)
                .expect("a frame past the head");
            count += 1;
        }
        if count > 0 {
            let from = self.start
                + if keep_head == 1 {
                    self.frames[0] - self.head_written
                } else {
                    0
                };
            self.bytes.drain(from..from + freed);
        }
        count
    }

    /// Drops every frame that has not started (before an error frame and a close).
    pub fn clear_unstarted(&mut self) {
        self.drop_oldest(usize::MAX);
    }

    /// The bytes to write next.
    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[self.start..]
    }

    /// Marks `n` bytes as written.
    pub fn consume(&mut self, mut n: usize) {
        assert!(n <= self.len(), "consume past the end of the outbox");
        self.start += n;
        self.written += n as u64;
        while n > 0 {
            let head_left = self.frames[0] - self.head_written;
            if n >= head_left {
                n -= head_left;
                self.frames.pop_front();
                self.head_written = 0;
            } else {
                self.head_written += n;
                n = 0;
            }
        }
        if self.start == self.bytes.len() {
            self.bytes.clear();
            self.start = 0;
            self.emptied += 1;
        }
    }

    /// Writes until empty or `dst` would block. Returns true when empty.
    pub fn write_to<W: Write + ?Sized>(&mut self, dst: &mut W) -> io::Result<bool> {
        let (written, stop) = write_until_blocked(dst, self.as_slice())?;
        self.consume(written);
        Ok(stop == WriteStop::Empty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disconnect_policy_refuses_a_frame_past_the_bound() {
        let mut out = Outbox::new(10, SlowConsumerPolicy::Disconnect);
        assert_eq!(out.push(b"123456"), Pushed::Queued { dropped: 0 });
        assert_eq!(out.push(b"12345"), Pushed::Overflow);
        assert_eq!(out.as_slice(), b"123456");
    }

    #[test]
    fn drop_oldest_policy_keeps_the_newest_whole_frames() {
        let mut out = Outbox::new(10, SlowConsumerPolicy::DropOldest);
        out.push(b"aaa");
        out.push(b"bbb");
        out.push(b"ccc");
        assert_eq!(out.push(b"dddd"), Pushed::Queued { dropped: 1 });
        assert_eq!(out.as_slice(), b"bbbcccdddd");
    }

    #[test]
    fn a_partly_written_frame_is_never_dropped() {
        let mut out = Outbox::new(10, SlowConsumerPolicy::DropOldest);
        out.push(b"aaaa");
        out.push(b"bbbb");
        out.consume(2);
        assert_eq!(out.push(b"cccccc"), Pushed::Queued { dropped: 1 });
        assert_eq!(out.as_slice(), b"aacccccc");
        out.consume(3);
        assert_eq!(out.frame_count(), 1);
        assert_eq!(out.as_slice(), b"ccccc");
    }

    #[test]
    fn clearing_keeps_only_the_partly_written_frame() {
        let mut out = Outbox::new(100, SlowConsumerPolicy::Disconnect);
        out.push(b"aaaa");
        out.push(b"bbbb");
        out.consume(1);
        out.clear_unstarted();
        out.push_unbounded(b"ERR");
        assert_eq!(out.as_slice(), b"aaaERR");
    }

    #[test]
    fn writes_go_out_in_one_batch_and_stop_on_would_block() {
        struct Sink(Vec<u8>, usize);
        impl Write for Sink {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                if self.1 == 0 {
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                let n = buf.len().min(self.1);
                self.1 -= n;
                self.0.extend_from_slice(&buf[..n]);
                Ok(n)
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut out = Outbox::new(100, SlowConsumerPolicy::Disconnect);
        out.push(b"abc");
        out.push(b"def");
        let mut sink = Sink(Vec::new(), 4);
        assert!(!out.write_to(&mut sink).unwrap());
        assert_eq!(out.as_slice(), b"ef");
        sink.1 = 100;
        assert!(out.write_to(&mut sink).unwrap());
        assert_eq!(sink.0, b"abcdef");
    }
}
