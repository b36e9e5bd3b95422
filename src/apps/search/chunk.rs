//! Exact chunking, sans-IO: a stream of bytes in (pushed in pieces of any
//! size), chunks out, without ever holding the whole stream.
//!
//! Each chunk has an *owned* range, and the owned ranges tile the stream:
//! every byte is owned by exactly one chunk, and a match counts only in the
//! chunk that owns its first byte. Around the owned range a chunk carries
//! context: up to [`CONTEXT_BYTES`] before it (the character the whole-word
//! check looks at) and, after it, enough text for any match that starts in
//! the owned range to end inside the chunk, plus one character. That tail
//! is measured in the units a keyword is measured in (a character, or a
//! whole whitespace run), so a phrase separated by a long run of newlines
//! is still found. Cuts fall only where a character starts, so no
//! character is split between chunks.
//!
//! Memory: the chunk size plus the tail, which is the longest keyword plus
//! at most the whitespace runs it crosses.

use std::ops::Range;

/// Chunk size when none is given: 4 MiB of owned text.
pub const DEFAULT_CHUNK_BYTES: usize = 4 * 1024 * 1024;
/// Bytes of context kept before an owned range: the longest UTF-8
/// character, all the whole-word check needs.
pub const CONTEXT_BYTES: usize = 4;

/// One chunk of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Offset in the stream of `bytes[0]`.
    pub offset: u64,
    /// Context, owned text, then the tail.
    pub bytes: Vec<u8>,
    /// The owned range, within `bytes`.
    pub owned: Range<usize>,
}

/// Splits a byte stream into overlapping chunks with owned ranges.
#[derive(Debug)]
pub struct Chunker {
    chunk_bytes: usize,
    keyword_units: usize,
    buf: Vec<u8>,
    /// Where the unconsumed part of `buf` starts.
    start: usize,
    /// Context bytes at `buf[start..]` before the next owned range.
    context: usize,
    /// Stream offset of `buf[start]`.
    offset: u64,
}

impl Chunker {
    /// A chunker owning about `chunk_bytes` per chunk (at least 1) for
    /// keywords at most `longest_keyword_chars` long (see
    /// [`super::Counter::longest_keyword_chars`]).
    pub fn new(chunk_bytes: usize, longest_keyword_chars: usize) -> Chunker {
        Chunker {
            chunk_bytes: chunk_bytes.max(1),
            keyword_units: longest_keyword_chars.max(1),
            buf: Vec::new(),
            start: 0,
            context: 0,
            offset: 0,
        }
    }

    /// Bytes held, waiting for more input.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Takes more of the stream; appends the chunks it completes to `out`.
    pub fn push(&mut self, data: &[u8], out: &mut Vec<Chunk>) {
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(data);
        while let Some(chunk) = self.next_chunk(false) {
            out.push(chunk);
        }
    }

    /// Ends the stream; appends the last chunks to `out`.
    pub fn finish(mut self, out: &mut Vec<Chunk>) {
        while let Some(chunk) = self.next_chunk(true) {
            out.push(chunk);
        }
    }

    fn next_chunk(&mut self, eof: bool) -> Option<Chunk> {
        let held = &self.buf[self.start..];
        if held.len() <= self.context {
            return None;
        }
        let owned_start = self.context;
        let target = owned_start + self.chunk_bytes;
        let (owned_end, end) = if target >= held.len() {
            if !eof {
                return None;
            }
            (held.len(), held.len())
        } else {
            let owned_end = cut_at(held, owned_start, target, eof)?;
            let end = tail_end(held, owned_end, self.keyword_units, eof)?;
            (owned_end, end)
        };
        let chunk = Chunk {
            offset: self.offset,
            bytes: held[..end].to_vec(),
            owned: owned_start..owned_end,
        };
        let context = owned_end.min(CONTEXT_BYTES);
        let consumed = owned_end - context;
        self.start += consumed;
        self.offset += consumed as u64;
        self.context = context;
        Some(chunk)
    }
}

fn is_continuation(b: u8) -> bool {
    b & 0xC0 == 0x80
}

/// Where to end an owned range that starts at `from` and should end near
/// `target`: the last character start at or before `target`, or if the
/// range would be empty, the first one after `from` (a character is at most
/// four bytes, so a longer run of continuation bytes is invalid and may be
/// cut anywhere). `None` if more bytes are needed to know.
fn cut_at(held: &[u8], from: usize, target: usize, eof: bool) -> Option<usize> {
    if let Some(back) = (from + 1..=target)
        .rev()
        .find(|&i| !is_continuation(held[i]))
    {
        return Some(back);
    }
    let limit = from + 4;
    for i in target + 1..=limit {
        if i >= held.len() {
            return eof.then_some(held.len());
        }
        if !is_continuation(held[i]) {
            return Some(i);
        }
    }
    Some(limit)
}

/// The length in bytes of the character (or single invalid byte) at
/// `held[at]`; `None` if it may continue past the bytes held.
fn unit_char(held: &[u8], at: usize, eof: bool) -> Option<(usize, Option<char>)> {
    let lead = held[at];
    let len = match lead {
        0x00..=0x7F => return Some((1, Some(lead as char))),
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => return Some((1, None)),
    };
    if at + len > held.len() {
        if !eof && held[at + 1..].iter().all(|&b| is_continuation(b)) {
            return None;
        }
        return Some((1, None));
    }
    match std::str::from_utf8(&held[at..at + len]) {
        Ok(s) => Some((len, s.chars().next())),
        Err(_) => Some((1, None)),
    }
}

/// The end of the tail after `owned_end`: `units` keyword units (a
/// character, or a whole whitespace run) and one more character. `None` if
/// more bytes are needed.
fn tail_end(held: &[u8], owned_end: usize, units: usize, eof: bool) -> Option<usize> {
    let mut at = owned_end;
    for _ in 0..units {
        if at >= held.len() {
            return eof.then_some(held.len());
        }
        let (len, c) = unit_char(held, at, eof)?;
        at += len;
        if c.is_some_and(char::is_whitespace) {
            loop {
                if at >= held.len() {
                    return eof.then_some(held.len());
                }
                let (len, c) = unit_char(held, at, eof)?;
                if !c.is_some_and(char::is_whitespace) {
                    break;
                }
                at += len;
            }
        }
    }
    if at >= held.len() {
        return eof.then_some(held.len());
    }
    let (len, _) = unit_char(held, at, eof)?;
    Some(at + len)
}

#[cfg(test)]
#[path = "chunk_tests.rs"]
mod tests;
