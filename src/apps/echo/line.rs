//! The echo protocol without sockets: where a line ends, whether it is the
//! `fim` that ends a session, and how much of the buffered input may be
//! echoed now.
//!
//! Every server model (simple, sequential, threaded, evented) keeps its
//! received bytes in a buffer and asks a [`Framer`] what to do with them; the
//! framer never reads, writes or allocates. In [`Framing::Lines`] each line
//! (its `\n` included) is echoed whole; the line `fim` (or `fim\r`) is echoed
//! and then ends the session. In [`Framing::Raw`] bytes are echoed as they
//! come, for benchmarks; `fim` means nothing there.

use std::fmt;

/// The longest line accepted, its `\n` included, in bytes.
pub const MAX_LINE_BYTES: usize = 8 * 1024;

/// The line that ends a session (without its line ending).
pub const END_OF_SESSION: &[u8] = b"fim";

/// How received bytes are cut into echoes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Line by line; `fim` ends the session.
    Lines,
    /// Bytes as they come; only the peer's close ends the session.
    Raw,
}

/// What to do next with the buffered input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Echo the first `len` buffered bytes and drop them from the input.
    Echo(usize),
    /// The first `len` bytes are the line `fim`: echo them, drop them, and
    /// end the session.
    End(usize),
    /// A whole line is buffered but the output has no room for it yet:
    /// write what is queued first.
    NeedRoom,
    /// Nothing to echo with what is buffered: read more.
    NeedMore,
}

/// Input the protocol refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FramingError {
    /// No `\n` within the first `limit` bytes of a line.
    LineTooLong {
        /// The longest line accepted, its `\n` included.
        limit: usize,
    },
}

impl fmt::Display for FramingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FramingError::LineTooLong { limit } => {
                write!(f, "line longer than {limit} bytes")
            }
        }
    }
}

impl std::error::Error for FramingError {}

/// Cuts one connection's input into echoes.
///
/// The caller keeps the received bytes; after [`Step::Echo`] or [`Step::End`]
/// it must drop exactly the `len` bytes named before asking again.
#[derive(Debug, Clone)]
pub struct Framer {
    framing: Framing,
    max_line_bytes: usize,
    /// How many leading buffered bytes are known to hold no `\n`, so that a
    /// line arriving in many small reads is scanned once, not once per read.
    scanned: usize,
}

impl Framer {
    /// A framer for `framing` with lines of at most [`MAX_LINE_BYTES`].
    pub fn new(framing: Framing) -> Self {
        Self::with_max_line(framing, MAX_LINE_BYTES)
    }

    /// A framer that refuses lines longer than `max_line_bytes` (`\n` included).
    pub fn with_max_line(framing: Framing, max_line_bytes: usize) -> Self {
        assert!(
            max_line_bytes > END_OF_SESSION.len() + 1,
            "room for `fim\\n`"
        );
        Self {
            framing,
            max_line_bytes,
            scanned: 0,
        }
    }

    /// The longest line accepted, its `\n` included.
    pub fn max_line_bytes(&self) -> usize {
        self.max_line_bytes
    }

    /// Decides what to do with `buffered` (every received byte not yet
    /// echoed, oldest first). `room` is how many bytes the output takes now;
    /// `eof` says the peer closed its side, so a last line without `\n`
    /// counts as a line.
    pub fn next(&mut self, buffered: &[u8], room: usize, eof: bool) -> Result<Step, FramingError> {
        if buffered.is_empty() {
            return Ok(Step::NeedMore);
        }
        match self.framing {
            Framing::Raw if room == 0 => Ok(Step::NeedRoom),
            Framing::Raw => Ok(Step::Echo(buffered.len().min(room))),
            Framing::Lines => self.next_line(buffered, room, eof),
        }
    }

    fn next_line(&mut self, buffered: &[u8], room: usize, eof: bool) -> Result<Step, FramingError> {
        let start = self.scanned.min(buffered.len());
        let len = match buffered[start..].iter().position(|&b| b == b'\n') {
            Some(at) => start + at + 1,
            None if buffered.len() >= self.max_line_bytes => {
                return Err(FramingError::LineTooLong {
                    limit: self.max_line_bytes,
                });
            }
            None if eof => buffered.len(),
            None => {
                self.scanned = buffered.len();
                return Ok(Step::NeedMore);
            }
        };
        if len > self.max_line_bytes {
            return Err(FramingError::LineTooLong {
                limit: self.max_line_bytes,
            });
        }
        if len > room {
            // The line's end is known; the next call finds it again quickly.
            self.scanned = len - 1;
            return Ok(Step::NeedRoom);
        }
        self.scanned = 0;
        if is_end_of_session(&buffered[..len]) {
            Ok(Step::End(len))
        } else {
            Ok(Step::Echo(len))
        }
    }
}

/// True when `line` (with or without its line ending) is `fim`.
pub fn is_end_of_session(line: &[u8]) -> bool {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    line == END_OF_SESSION
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `chunks` one by one as a server would, with unlimited room, and
    /// returns the echoed bytes and whether `fim` ended the session.
    fn run(framer: &mut Framer, chunks: &[&[u8]], eof: bool) -> (Vec<u8>, bool) {
        let mut buffered = Vec::new();
        let mut echoed = Vec::new();
        let last = chunks.len().saturating_sub(1);
        for (i, chunk) in chunks.iter().enumerate() {
            buffered.extend_from_slice(chunk);
            loop {
                match framer
                    .next(&buffered, usize::MAX, eof && i == last)
                    .unwrap()
                {
                    Step::Echo(len) => {
                        echoed.extend(buffered.drain(..len));
                    }
                    Step::End(len) => {
                        echoed.extend(buffered.drain(..len));
                        return (echoed, true);
                    }
                    Step::NeedMore => break,
                    Step::NeedRoom => unreachable!("room is unlimited"),
                }
            }
        }
        (echoed, false)
    }

    #[test]
    fn whole_lines_are_echoed_and_a_partial_line_waits() {
        let mut framer = Framer::new(Framing::Lines);
        let (echoed, ended) = run(&mut framer, &[b"hello\nwor", b"ld\npart"], false);
        assert_eq!(echoed, b"hello\nworld\n");
        assert!(!ended);
    }

    #[test]
    fn fim_is_echoed_and_ends_the_session_leaving_later_bytes() {
        let mut framer = Framer::new(Framing::Lines);
        let mut buffered = b"a\nfim\nafter\n".to_vec();
        assert_eq!(framer.next(&buffered, 100, false), Ok(Step::Echo(2)));
        buffered.drain(..2);
        assert_eq!(framer.next(&buffered, 100, false), Ok(Step::End(4)));
    }

    #[test]
    fn fim_with_a_carriage_return_also_ends_but_a_longer_word_does_not() {
        assert!(is_end_of_session(b"fim\r\n"));
        assert!(is_end_of_session(b"fim"));
        assert!(!is_end_of_session(b"fim!\n"));
        assert!(!is_end_of_session(b" fim\n"));
        assert!(!is_end_of_session(b"FIM\n"));
    }

    #[test]
    fn a_fim_split_across_reads_still_ends_the_session() {
        let mut framer = Framer::new(Framing::Lines);
        let (echoed, ended) = run(&mut framer, &[b"x\nf", b"i", b"m", b"\n"], false);
        assert_eq!(echoed, b"x\nfim\n");
        assert!(ended);
    }

    #[test]
    fn at_end_of_stream_a_last_line_without_newline_is_echoed() {
        let mut framer = Framer::new(Framing::Lines);
        let (echoed, ended) = run(&mut framer, &[b"one\ntwo"], true);
        assert_eq!(echoed, b"one\ntwo");
        assert!(!ended);
        let mut framer = Framer::new(Framing::Lines);
        assert_eq!(run(&mut framer, &[b"fim"], true), (b"fim".to_vec(), true));
    }

    #[test]
    fn a_line_waits_whole_for_room_in_the_output() {
        let mut framer = Framer::new(Framing::Lines);
        assert_eq!(framer.next(b"hello\n", 5, false), Ok(Step::NeedRoom));
        assert_eq!(framer.next(b"hello\n", 6, false), Ok(Step::Echo(6)));
    }

    #[test]
    fn raw_framing_echoes_what_fits_and_ignores_fim() {
        let mut framer = Framer::new(Framing::Raw);
        assert_eq!(framer.next(b"fim\nabc", 100, false), Ok(Step::Echo(7)));
        assert_eq!(framer.next(b"fim\nabc", 3, false), Ok(Step::Echo(3)));
        assert_eq!(framer.next(b"abc", 0, false), Ok(Step::NeedRoom));
        assert_eq!(framer.next(b"", 10, true), Ok(Step::NeedMore));
    }

    #[test]
    fn a_line_past_the_limit_is_refused_once_the_limit_is_buffered() {
        let mut framer = Framer::with_max_line(Framing::Lines, 8);
        assert_eq!(framer.next(b"1234567", 100, false), Ok(Step::NeedMore));
        assert_eq!(
            framer.next(b"12345678", 100, false),
            Err(FramingError::LineTooLong { limit: 8 })
        );
        // A line of exactly the limit, newline included, is fine.
        let mut framer = Framer::with_max_line(Framing::Lines, 8);
        assert_eq!(framer.next(b"1234567\n", 100, false), Ok(Step::Echo(8)));
        // A long line whose newline came in the same read is refused too.
        let mut framer = Framer::with_max_line(Framing::Lines, 8);
        assert_eq!(
            framer.next(b"123456789\n", 100, false),
            Err(FramingError::LineTooLong { limit: 8 })
        );
        assert_eq!(
            FramingError::LineTooLong { limit: 8 }.to_string(),
            "line longer than 8 bytes"
        );
    }

    /// What the protocol says a whole input produces, read plainly: every
    /// line up to and including the first `fim`, unless a line is too long.
    fn plain_reading(input: &[u8], limit: usize) -> (Vec<u8>, bool, bool) {
        let mut echoed = Vec::new();
        for line in input.split_inclusive(|&b| b == b'\n') {
            let whole = line.ends_with(b"\n");
            if line.len() > limit || (!whole && line.len() >= limit) {
                return (echoed, false, true);
            }
            echoed.extend_from_slice(line);
            if is_end_of_session(line) {
                return (echoed, true, false);
            }
        }
        (echoed, false, false)
    }

    #[test]
    fn framer_agrees_with_a_plain_reading_of_the_protocol_however_input_is_cut() {
        // A fixed pseudo-random sequence (xorshift) over an alphabet where
        // `fim`, line ends and over-long lines all come up often. The fuzz
        // target `echo_line` checks the same property on arbitrary input.
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        const LIMIT: usize = 12;
        for _ in 0..5_000 {
            let len = (next() % 60) as usize;
            let input: Vec<u8> = (0..len)
                .map(|_| b"fimx\n\r"[(next() % 6) as usize])
                .collect();
            let chunk = (next() % 7) as usize + 1;
            let mut framer = Framer::with_max_line(Framing::Lines, LIMIT);
            let (mut buffered, mut echoed) = (Vec::new(), Vec::new());
            let (mut ended, mut refused) = (false, false);
            let mut fed = 0;
            'feed: loop {
                let upto = (fed + chunk).min(input.len());
                buffered.extend_from_slice(&input[fed..upto]);
                fed = upto;
                let eof = fed == input.len();
                loop {
                    match framer.next(&buffered, LIMIT, eof) {
                        Ok(Step::Echo(n)) => echoed.extend(buffered.drain(..n)),
                        Ok(Step::End(n)) => {
                            echoed.extend(buffered.drain(..n));
                            ended = true;
                            break 'feed;
                        }
                        Ok(Step::NeedMore) => break,
                        Ok(Step::NeedRoom) => panic!("a line within the limit always fits"),
                        Err(_) => {
                            refused = true;
                            break 'feed;
                        }
                    }
                }
                if eof {
                    break;
                }
            }
            assert_eq!(
                (echoed, ended, refused),
                plain_reading(&input, LIMIT),
                "input {:?} in reads of {chunk}",
                String::from_utf8_lossy(&input)
            );
        }
    }

    #[test]
    fn a_long_line_in_many_reads_is_found_after_the_scanned_prefix() {
        let mut framer = Framer::new(Framing::Lines);
        let mut buffered = Vec::new();
        for _ in 0..100 {
            buffered.extend_from_slice(b"abcdefgh");
            assert_eq!(
                framer.next(&buffered, usize::MAX, false),
                Ok(Step::NeedMore)
            );
        }
        buffered.push(b'\n');
        assert_eq!(
            framer.next(&buffered, usize::MAX, false),
            Ok(Step::Echo(801))
        );
        // After the echo the scan starts over at the next line.
        assert_eq!(framer.next(b"x\n", usize::MAX, false), Ok(Step::Echo(2)));
    }
}
