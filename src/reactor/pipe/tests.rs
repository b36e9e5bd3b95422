//! The pipe's directions, buffers lent and backpressure, on in-memory streams.

use super::*;
use crate::reactor::buffer_pool::PoolLimits;
use mio::Token;
use std::collections::VecDeque;
use std::time::Instant;

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

/// A pool of up to `max` buffers of `bytes` each.
fn pool(bytes: usize, max: usize) -> BufferPool {
    BufferPool::new(PoolLimits::new(bytes, max), Instant::now()).unwrap()
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
    let mut pool = pool(64, 16);
    let mut pipe = Pipe::new();
    let mut near = stream(b"request", 100);
    let mut far = stream(b"answer", 100);
    pipe.far_connected(READABLE);
    let pumped = pipe
        .pump(&mut near, Some(&mut far), 1024, &mut pool)
        .unwrap();
    assert_eq!((pumped.up, pumped.down), (7, 6));
    assert_eq!(far.output, b"request");
    assert_eq!(near.output, b"answer");
    assert!(!pumped.done);
}

#[test]
fn the_near_side_is_buffered_until_the_far_side_connects() {
    let mut pool = pool(64, 16);
    let mut pipe = Pipe::new();
    let mut near = stream(b"early", 100);
    let pumped = pipe
        .pump(&mut near, None::<&mut Memory>, 1024, &mut pool)
        .unwrap();
    assert_eq!(pumped.up, 5);
    let mut far = stream(b"", 100);
    pipe.far_connected(Readiness::default());
    pipe.pump(&mut near, Some(&mut far), 1024, &mut pool)
        .unwrap();
    assert_eq!(far.output, b"early");
}

#[test]
fn a_full_buffer_stops_reading_until_the_far_side_takes_bytes() {
    let mut pool = pool(4, 16);
    let mut pipe = Pipe::new();
    let mut near = stream(b"0123456789", 100);
    let mut far = stream(b"", 0);
    pipe.far_connected(READABLE);
    let pumped = pipe
        .pump(&mut near, Some(&mut far), 1024, &mut pool)
        .unwrap();
    assert_eq!(pumped.up, 4, "reads stop at a full buffer");
    assert_eq!(near.input.len(), 6, "the rest waits in the source");
    far.room = 100;
    pipe.note_far(READABLE);
    pipe.pump(&mut near, Some(&mut far), 1024, &mut pool)
        .unwrap();
    assert_eq!(far.output, b"0123456789");
}

#[test]
fn a_carried_on_direction_sends_its_buffered_bytes_before_new_ones() {
    let mut pool = pool(16, 4);
    let mut buf = pool.take().unwrap();
    buf.push(b"first ");
    let mut flow = Flow::carry_on(Some(buf), ReadSide::new(), true);
    let mut src = stream(b"then", 0);
    let mut dst = stream(b"", 100);
    flow.run(&mut src, Some(&mut dst), 1024, &mut pool).unwrap();
    assert_eq!(pool.stats().in_use, 0, "drained, the buffer went back");
    assert_eq!(dst.output, b"first then");
}

#[test]
fn the_budget_caps_a_wake_up_and_says_so() {
    let mut pool = pool(4, 16);
    let mut pipe = Pipe::new();
    let mut near = stream(&[7; 100], 100);
    let mut far = stream(b"", 1000);
    pipe.far_connected(READABLE);
    let pumped = pipe.pump(&mut near, Some(&mut far), 10, &mut pool).unwrap();
    assert_eq!(pumped.up, 10);
    assert!(pumped.capped);
}

#[test]
fn end_of_stream_is_passed_on_after_the_buffer_drains_and_both_end_the_pipe() {
    let mut pool = pool(4, 16);
    let mut pipe = Pipe::new();
    let mut near = stream(b"bye!!", 100);
    near.ended = true;
    let mut far = stream(b"", 2);
    pipe.far_connected(READABLE);
    pipe.pump(&mut near, Some(&mut far), 1024, &mut pool)
        .unwrap();
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
    let pumped = pipe
        .pump(&mut near, Some(&mut far), 1024, &mut pool)
        .unwrap();
    assert_eq!(far.output, b"bye!!");
    assert!(far.write_closed && near.write_closed);
    assert!(pumped.done);
}

#[test]
fn an_idle_pipe_holds_no_buffer_and_a_busy_one_only_while_bytes_wait() {
    let mut pool = pool(64, 16);
    let mut pipe = Pipe::new();
    let mut near = stream(b"", 100);
    let mut far = stream(b"", 0);
    pipe.far_connected(READABLE);
    pipe.pump(&mut near, Some(&mut far), 1024, &mut pool)
        .unwrap();
    assert_eq!(pool.stats().in_use, 0, "nothing read, nothing held");
    near.input.extend(b"held back");
    pipe.note_near(READABLE);
    pipe.pump(&mut near, Some(&mut far), 1024, &mut pool)
        .unwrap();
    assert_eq!(pool.stats().in_use, 1, "the far side took nothing yet");
    assert_eq!(pipe.up.buffered(), 9);
    far.room = 100;
    pipe.note_far(READABLE);
    pipe.pump(&mut near, Some(&mut far), 1024, &mut pool)
        .unwrap();
    assert_eq!(far.output, b"held back");
    assert_eq!(pool.stats().in_use, 0, "drained, the buffer went back");
}

#[test]
fn an_exhausted_pool_stops_reading_without_losing_a_byte_until_a_buffer_returns() {
    let mut pool = pool(4, 1);
    let held = pool.take().unwrap();
    let mut pipe = Pipe::new();
    let mut near = stream(b"abcdefgh", 100);
    let mut far = stream(b"", 100);
    pipe.far_connected(READABLE);
    let pumped = pipe
        .pump(&mut near, Some(&mut far), 1024, &mut pool)
        .unwrap();
    assert!(pumped.starved && pumped.up == 0);
    assert_eq!(near.input.len(), 8, "the bytes wait in the source");
    pool.wait(Token(7));
    pool.give(held);
    let mut woken = Vec::new();
    pool.wake(|token| woken.push(token));
    assert_eq!(woken, [Token(7)]);
    let pumped = pipe
        .pump(&mut near, Some(&mut far), 1024, &mut pool)
        .unwrap();
    assert!(!pumped.starved);
    assert_eq!(far.output, b"abcdefgh");
    assert_eq!(pool.stats().in_use, 0);
}

#[test]
fn a_closing_pipe_gives_its_buffers_back_with_their_bytes() {
    let mut pool = pool(4, 4);
    let mut pipe = Pipe::new();
    let mut near = stream(b"stuck", 100);
    let mut far = stream(b"", 0);
    pipe.far_connected(READABLE);
    pipe.pump(&mut near, Some(&mut far), 1024, &mut pool)
        .unwrap();
    assert_eq!(pool.stats().in_use, 1);
    pipe.give_back(&mut pool);
    assert_eq!(pool.stats().in_use, 0);
    assert_eq!(pipe.up.buffered(), 0);
}
