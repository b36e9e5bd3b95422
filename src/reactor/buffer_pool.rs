//! A bounded pool of I/O buffers shared by the connections of one worker.
//!
//! An idle kept-alive connection needs no buffer: it has no byte in flight.
//! So a connection takes a [`PooledBuffer`] when bytes arrive and gives it
//! back as soon as it is empty again; ten thousand idle clients then cost
//! their sockets and a few words each, not two buffers each. The pool hands
//! out at most [`PoolLimits::max_buffers`] at once (past that, the caller
//! stops reading, as for a full buffer), keeps the buffers given back for the
//! next burst, and drops the ones it holds well above recent need: it
//! remembers the peak number of buffers in use, halves that memory every
//! [`PoolLimits::half_life`], and [`BufferPool::trim`] keeps only what the
//! remembered peak could use again.
//!
//! Each buffer lives in pages mapped for it alone ([`Buffer::mapped`]), so a
//! trim hands the dropped buffers' memory back to the system at once: left
//! to the allocator, glibc would keep them (it returns chunks freed inside
//! its heap only at the heap's top, and maps a chunk on its own only above
//! a threshold it raises past any size it once unmapped).
//!
//! A connection refused a buffer stops reading and joins the pool's waiting
//! list by its token ([`BufferPool::wait`]); the service asks
//! [`BufferPool::wake`] after giving buffers back and calls each token it
//! gets again, oldest first, as many as could take a buffer now.
//!
//! One pool belongs to one worker: single-threaded, no locks. Time is passed
//! in; the pool reads no clock and owns no socket.

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::time::{Duration, Instant};

use super::Buffer;
use mio::Token;

/// Buffers a pool keeps on hand even when the recent peak fell to nothing,
/// so that a lone request does not allocate and free one every time.
pub const DEFAULT_SPARE_BUFFERS: usize = 4;
/// How long the pool's memory of its peak need takes to halve.
pub const DEFAULT_HALF_LIFE: Duration = Duration::from_secs(10);
/// Decay steps applied at most per [`BufferPool::trim`]: after this many
/// halvings any remembered peak is gone, so a long pause costs no more.
const MAX_DECAY_STEPS: u32 = usize::BITS;

/// The pool's size and how quickly it forgets a burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolLimits {
    /// Capacity of every buffer, in bytes.
    pub buffer_bytes: usize,
    /// The most buffers handed out at once.
    pub max_buffers: usize,
    /// Idle buffers kept after the need fell (the floor of a trim).
    pub spare_buffers: usize,
    /// The remembered peak need halves every `half_life`.
    pub half_life: Duration,
}

impl PoolLimits {
    /// Limits with the default spare count and half-life.
    pub fn new(buffer_bytes: usize, max_buffers: usize) -> Self {
        Self {
            buffer_bytes,
            max_buffers,
            spare_buffers: DEFAULT_SPARE_BUFFERS,
            half_life: DEFAULT_HALF_LIFE,
        }
    }
}

/// Why the pool could not be built or could not hand out a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolError {
    /// Every buffer the pool may hand out is in use; wait for one to come back.
    Exhausted {
        /// The bound that was reached.
        max_buffers: usize,
    },
    /// A limit was zero where at least one is needed.
    ZeroLimit {
        /// Which limit.
        limit: &'static str,
    },
}

impl fmt::Display for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PoolError::Exhausted { max_buffers } => {
                write!(f, "all {max_buffers} buffers of the pool are in use")
            }
            PoolError::ZeroLimit { limit } => write!(f, "the buffer pool's {limit} must be > 0"),
        }
    }
}

impl std::error::Error for PoolError {}

/// A buffer lent by a [`BufferPool`]; it derefs to [`Buffer`].
///
/// Only a pool makes one, so [`BufferPool::give`] takes back only buffers of
/// the pool's size, and moving it out of a connection's slot is the only way
/// to pass it on: a buffer cannot be in two places.
#[derive(Debug)]
pub struct PooledBuffer {
    buffer: Buffer,
    /// The pool's size generation when it was made (see [`BufferPool::resize`]).
    epoch: u32,
}

impl Deref for PooledBuffer {
    type Target = Buffer;
    fn deref(&self) -> &Buffer {
        &self.buffer
    }
}

impl DerefMut for PooledBuffer {
    fn deref_mut(&mut self) -> &mut Buffer {
        &mut self.buffer
    }
}

/// What a pool holds and has done, for statistics pages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Buffers handed out now.
    pub in_use: usize,
    /// Buffers held for reuse.
    pub idle: usize,
    /// The remembered (decaying) peak of buffers in use.
    pub recent_peak: usize,
    /// Buffers allocated since the start.
    pub allocated: u64,
    /// Buffers dropped by trims since the start.
    pub released: u64,
    /// Takes refused because every buffer was in use.
    pub refused: u64,
    /// Connections waiting for a buffer now.
    pub waiting: usize,
}

/// Buffers of one size for the connections of one worker.
#[derive(Debug)]
pub struct BufferPool {
    limits: PoolLimits,
    idle: Vec<PooledBuffer>,
    in_use: usize,
    recent_peak: usize,
    last_decay: Instant,
    allocated: u64,
    released: u64,
    refused: u64,
    /// Bumped when the buffer size changes: buffers of an older epoch are
    /// not counted (nor kept) when they come back.
    epoch: u32,
    /// Tokens of connections refused a buffer, oldest first, each once.
    waiting: VecDeque<Token>,
    waiting_set: HashSet<Token>,
}

impl BufferPool {
    /// An empty pool; `now` starts its decay clock.
    pub fn new(limits: PoolLimits, now: Instant) -> Result<Self, PoolError> {
        let zero = [
            (limits.buffer_bytes == 0, "buffer size"),
            (limits.max_buffers == 0, "buffer count"),
            (limits.half_life.is_zero(), "half-life"),
        ];
        if let Some((_, limit)) = zero.into_iter().find(|(is_zero, _)| *is_zero) {
            return Err(PoolError::ZeroLimit { limit });
        }
        Ok(Self {
            limits,
            idle: Vec::new(),
            in_use: 0,
            recent_peak: 0,
            last_decay: now,
            allocated: 0,
            released: 0,
            refused: 0,
            epoch: 0,
            waiting: VecDeque::new(),
            waiting_set: HashSet::new(),
        })
    }

    /// Switches to new limits (a reloaded configuration). A new buffer size
    /// drops the idle buffers and starts a new count: the buffers out now
    /// are dropped when they come back. The waiting list is kept.
    pub fn resize(&mut self, limits: PoolLimits, now: Instant) -> Result<(), PoolError> {
        let mut fresh = Self::new(limits, now)?;
        if limits.buffer_bytes == self.limits.buffer_bytes {
            self.limits = limits;
            return Ok(());
        }
        fresh.epoch = self.epoch.wrapping_add(1);
        fresh.allocated = self.allocated;
        fresh.released = self.released + self.idle.len() as u64;
        fresh.refused = self.refused;
        fresh.waiting = std::mem::take(&mut self.waiting);
        fresh.waiting_set = std::mem::take(&mut self.waiting_set);
        *self = fresh;
        Ok(())
    }

    /// The limits the pool was built with.
    pub fn limits(&self) -> PoolLimits {
        self.limits
    }

    /// An empty buffer: a reused one when the pool holds one, else a new one
    /// while fewer than `max_buffers` are out.
    pub fn take(&mut self) -> Result<PooledBuffer, PoolError> {
        let buffer = match self.idle.pop() {
            Some(buffer) => buffer,
            None if self.in_use < self.limits.max_buffers => {
                self.allocated += 1;
                let bytes = self.limits.buffer_bytes;
                PooledBuffer {
                    // Should the system refuse a mapping, the heap will do.
                    buffer: Buffer::mapped(bytes).unwrap_or_else(|_| Buffer::with_capacity(bytes)),
                    epoch: self.epoch,
                }
            }
            None => {
                self.refused += 1;
                return Err(PoolError::Exhausted {
                    max_buffers: self.limits.max_buffers,
                });
            }
        };
        self.in_use += 1;
        self.recent_peak = self.recent_peak.max(self.in_use);
        Ok(buffer)
    }

    /// Takes a buffer back; bytes still in it are dropped. It is kept for
    /// reuse (a later [`BufferPool::trim`] decides whether it stays).
    pub fn give(&mut self, mut buffer: PooledBuffer) {
        buffer.clear();
        // A buffer from another pool (of another size, of an epoch before a
        // resize, or one too many) is dropped rather than kept: the bound
        // holds whatever the caller did.
        let ours = buffer.epoch == self.epoch && buffer.capacity() == self.limits.buffer_bytes;
        if self.in_use == 0 || !ours {
            return;
        }
        self.in_use -= 1;
        self.idle.push(buffer);
    }

    /// The buffer in `slot`, taking one from the pool when the slot is empty.
    pub fn fill<'s>(
        &mut self,
        slot: &'s mut Option<PooledBuffer>,
    ) -> Result<&'s mut PooledBuffer, PoolError> {
        match slot {
            Some(buffer) => Ok(buffer),
            None => Ok(slot.insert(self.take()?)),
        }
    }

    /// Gives the buffer in `slot` back when it holds no byte; true when the
    /// slot is empty afterwards. Call it after a write drained a buffer or a
    /// parser consumed everything.
    pub fn release_if_empty(&mut self, slot: &mut Option<PooledBuffer>) -> bool {
        match slot.take_if(|buffer| buffer.is_empty()) {
            Some(buffer) => {
                self.give(buffer);
                true
            }
            None => slot.is_none(),
        }
    }

    /// Gives the buffer in `slot` back whatever it holds (its connection is
    /// closing); the slot is empty afterwards.
    pub fn give_slot(&mut self, slot: &mut Option<PooledBuffer>) {
        if let Some(buffer) = slot.take() {
            self.give(buffer);
        }
    }

    /// Puts the connection of `token` on the waiting list (once: a token
    /// already there keeps its place). Call it when a take was refused.
    pub fn wait(&mut self, token: Token) {
        if self.waiting_set.insert(token) {
            self.waiting.push_back(token);
        }
    }

    /// Takes off the waiting list, oldest first, as many connections as
    /// could take a buffer now, and hands each token to `call_again`. A
    /// connection that finds the buffers gone again simply waits again.
    pub fn wake(&mut self, mut call_again: impl FnMut(Token)) {
        let mut free = self.limits.max_buffers.saturating_sub(self.in_use);
        while free > 0 {
            let Some(token) = self.waiting.pop_front() else {
                break;
            };
            self.waiting_set.remove(&token);
            call_again(token);
            free -= 1;
        }
    }

    /// Forgets old peaks (halving the remembered one per half-life passed
    /// since the last decay) and drops the idle buffers above what it could
    /// still use, keeping at least `spare_buffers`. Returns how many buffers
    /// were dropped. Call it from a periodic timer.
    pub fn trim(&mut self, now: Instant) -> usize {
        let half_life = self.limits.half_life;
        let steps =
            now.saturating_duration_since(self.last_decay).as_nanos() / half_life.as_nanos();
        if steps >= u128::from(MAX_DECAY_STEPS) {
            self.recent_peak = 0;
            self.last_decay = now;
        } else if steps > 0 {
            // Fewer than MAX_DECAY_STEPS (64): the casts cannot truncate.
            self.recent_peak >>= steps as u32;
            self.last_decay += half_life * steps as u32;
        }
        self.recent_peak = self.recent_peak.max(self.in_use);
        let keep = (self.recent_peak - self.in_use).max(self.limits.spare_buffers);
        let dropped = self.idle.len().saturating_sub(keep);
        if dropped > 0 {
            self.idle.truncate(keep);
            // The idle list's own array shrinks too once mostly empty.
            if self.idle.capacity() > 4 * keep.max(1) {
                self.idle.shrink_to(keep);
            }
            self.released += dropped as u64;
        }
        dropped
    }

    /// What the pool holds and has done.
    pub fn stats(&self) -> PoolStats {
        PoolStats {
            in_use: self.in_use,
            idle: self.idle.len(),
            recent_peak: self.recent_peak,
            allocated: self.allocated,
            released: self.released,
            refused: self.refused,
            waiting: self.waiting.len(),
        }
    }

    /// Bytes of buffer memory the pool owns (in use and idle).
    pub fn bytes_held(&self) -> usize {
        (self.in_use + self.idle.len()) * self.limits.buffer_bytes
    }
}

#[cfg(test)]
mod tests;
