//! One client's session on a blocking socket: read, ask the [`Framer`] what
//! to echo, write it, until `fim`, the peer's close, an error or a stop.
//!
//! Shared by the simple, sequential and threaded models; the evented model
//! drives the same framer from the reactor instead.

use std::fmt;
use std::io::{self, Read, Write};

use super::line::{Framer, FramingError, Step};

/// Bytes asked for by one `read` call.
pub const READ_CHUNK_BYTES: usize = 4 * 1024;

/// How a session ended without error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    /// The client sent `fim`.
    Fim,
    /// The client closed its side (or the server stopped reading it).
    PeerClosed,
}

/// Why a session ended early.
#[derive(Debug)]
pub enum SessionError {
    /// The socket failed (reset, timed out).
    Io(io::Error),
    /// The client broke the protocol; it was told why before the close.
    Protocol(FramingError),
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionError::Io(e) => write!(f, "connection failed: {e}"),
            SessionError::Protocol(e) => write!(f, "protocol error: {e}"),
        }
    }
}

impl std::error::Error for SessionError {}

impl From<io::Error> for SessionError {
    fn from(e: io::Error) -> Self {
        SessionError::Io(e)
    }
}

/// The line sent to a client that broke the protocol, before the close.
pub fn error_line(error: &FramingError) -> String {
    format!("error: {error}\n")
}

/// Serves one session on `stream` until it ends. With `one_message`, the
/// session ends after the first echo (the simple model).
pub fn serve<S: Read + Write>(
    stream: &mut S,
    framer: &mut Framer,
    one_message: bool,
) -> Result<SessionEnd, SessionError> {
    let mut input: Vec<u8> = Vec::with_capacity(READ_CHUNK_BYTES);
    let mut output: Vec<u8> = Vec::with_capacity(READ_CHUNK_BYTES);
    let mut chunk = [0u8; READ_CHUNK_BYTES];
    loop {
        let n = match stream.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        let eof = n == 0;
        input.extend_from_slice(&chunk[..n]);
        let mut consumed = 0;
        let mut ended = None;
        loop {
            match framer.next(&input[consumed..], usize::MAX, eof) {
                Ok(Step::Echo(len)) => {
                    output.extend_from_slice(&input[consumed..consumed + len]);
                    consumed += len;
                    if one_message {
                        ended = Some(SessionEnd::PeerClosed);
                        break;
                    }
                }
                Ok(Step::End(len)) => {
                    output.extend_from_slice(&input[consumed..consumed + len]);
                    consumed += len;
                    ended = Some(SessionEnd::Fim);
                    break;
                }
                Ok(Step::NeedMore | Step::NeedRoom) => break,
                Err(error) => {
                    output.extend_from_slice(error_line(&error).as_bytes());
                    stream.write_all(&output)?;
                    return Err(SessionError::Protocol(error));
                }
            }
        }
        input.drain(..consumed);
        if !output.is_empty() {
            stream.write_all(&output)?;
            output.clear();
        }
        if let Some(end) = ended {
            return Ok(end);
        }
        if eof {
            return Ok(SessionEnd::PeerClosed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::line::Framing;
    use super::*;

    /// A peer that hands out its input in fixed reads and keeps what is written.
    struct Peer {
        reads: Vec<Vec<u8>>,
        written: Vec<u8>,
    }

    impl Read for Peer {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.reads.is_empty() {
                return Ok(0);
            }
            let next = self.reads.remove(0);
            buf[..next.len()].copy_from_slice(&next);
            Ok(next.len())
        }
    }

    impl Write for Peer {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.written.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn peer(reads: &[&[u8]]) -> Peer {
        Peer {
            reads: reads.iter().map(|r| r.to_vec()).collect(),
            written: Vec::new(),
        }
    }

    #[test]
    fn lines_are_echoed_until_fim_and_nothing_after_it() {
        let mut p = peer(&[b"one\ntw", b"o\nfim\nthree\n"]);
        let end = serve(&mut p, &mut Framer::new(Framing::Lines), false).unwrap();
        assert_eq!(end, SessionEnd::Fim);
        assert_eq!(p.written, b"one\ntwo\nfim\n");
    }

    #[test]
    fn the_simple_model_echoes_one_message_only() {
        let mut p = peer(&[b"hello\nworld\n"]);
        serve(&mut p, &mut Framer::new(Framing::Lines), true).unwrap();
        assert_eq!(p.written, b"hello\n");
    }

    #[test]
    fn a_peer_close_mid_line_echoes_the_partial_line_and_ends() {
        let mut p = peer(&[b"a\npart"]);
        let end = serve(&mut p, &mut Framer::new(Framing::Lines), false).unwrap();
        assert_eq!(end, SessionEnd::PeerClosed);
        assert_eq!(p.written, b"a\npart");
    }

    #[test]
    fn a_too_long_line_gets_an_error_line_before_the_close() {
        let mut p = peer(&[b"ok\n", b"0123456789"]);
        let err = serve(&mut p, &mut Framer::with_max_line(Framing::Lines, 8), false).unwrap_err();
        assert!(matches!(err, SessionError::Protocol(_)));
        assert_eq!(p.written, b"ok\nerror: line longer than 8 bytes\n");
    }
}
