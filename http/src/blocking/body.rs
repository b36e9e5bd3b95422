//! A request body read on demand from a blocking connection: the bytes
//! already buffered after the head first, then the socket, framed by
//! `Content-Length` or decoded from chunked, never more than the server's
//! limit, each read bounded in time. `Expect: 100-continue` is answered
//! the first time the body is actually needed from the socket.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::{BodyFraming, ChunkedDecoder, HttpError};

/// Bytes read from the socket per call when decoding a chunked body.
const READ_BYTES: usize = 64 * 1024;

/// Why a request body could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// The body is larger than the limit (bytes).
    TooLarge(u64),
    /// The client closed before the body ended.
    CutShort,
    /// No byte of the body came within the read timeout.
    TimedOut,
    /// The chunked framing is broken.
    Invalid(HttpError),
}

impl BodyError {
    /// The status to answer with.
    pub fn status(&self) -> u16 {
        match self {
            BodyError::TooLarge(_) => 413,
            BodyError::TimedOut => 408,
            BodyError::CutShort | BodyError::Invalid(_) => 400,
        }
    }

    /// The body error inside `error`, if it is one.
    pub fn of(error: &io::Error) -> Option<&BodyError> {
        error.get_ref().and_then(|inner| inner.downcast_ref())
    }
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyError::TooLarge(limit) => write!(f, "request body over {limit} bytes"),
            BodyError::CutShort => write!(f, "request body cut short"),
            BodyError::TimedOut => write!(f, "request body not received in time"),
            BodyError::Invalid(error) => write!(f, "bad request body: {error}"),
        }
    }
}

impl std::error::Error for BodyError {}

enum State {
    Length {
        left: u64,
    },
    Chunked {
        decoder: ChunkedDecoder,
        decoded: Vec<u8>,
        taken: usize,
        total: u64,
    },
    Failed(BodyError),
}

/// The body of one request; read it with [`Read`].
pub struct RequestBody<'a> {
    stream: &'a TcpStream,
    buffer: &'a mut Vec<u8>,
    state: State,
    declared: Option<u64>,
    send_continue: bool,
    max_bytes: u64,
    read_timeout: Duration,
}

impl<'a> RequestBody<'a> {
    pub(crate) fn new(
        stream: &'a TcpStream,
        buffer: &'a mut Vec<u8>,
        framing: BodyFraming,
        expects_continue: bool,
        max_bytes: u64,
        read_timeout: Duration,
    ) -> RequestBody<'a> {
        let (state, declared) = match framing {
            BodyFraming::ContentLength(n) => (State::Length { left: n }, Some(n)),
            BodyFraming::Chunked => (
                State::Chunked {
                    decoder: ChunkedDecoder::new(),
                    decoded: Vec::new(),
                    taken: 0,
                    total: 0,
                },
                None,
            ),
            BodyFraming::None | BodyFraming::UntilClose => (State::Length { left: 0 }, Some(0)),
        };
        RequestBody {
            stream,
            buffer,
            state,
            declared,
            send_continue: expects_continue,
            max_bytes,
            read_timeout,
        }
    }

    /// The `Content-Length`, if the body declared one.
    pub fn declared_length(&self) -> Option<u64> {
        self.declared
    }

    /// Whether the body was read to its end.
    pub fn is_complete(&self) -> bool {
        match &self.state {
            State::Length { left } => *left == 0,
            State::Chunked {
                decoder,
                decoded,
                taken,
                ..
            } => decoder.is_complete() && *taken == decoded.len(),
            State::Failed(_) => false,
        }
    }

    /// Reads the whole body into memory.
    pub fn read_all(&mut self) -> io::Result<Vec<u8>> {
        let mut all = Vec::new();
        self.read_to_end(&mut all)?;
        Ok(all)
    }

    /// Reads and drops the rest of the body.
    pub(crate) fn discard(&mut self) -> io::Result<()> {
        let mut scratch = [0u8; 16 * 1024];
        while self.read(&mut scratch)? > 0 {}
        Ok(())
    }

    fn fail(&mut self, error: BodyError) -> io::Error {
        self.state = State::Failed(error.clone());
        io::Error::other(error)
    }

    /// One read from the socket into `into`, with the timeout; 0 is EOF.
    fn read_socket(&mut self, into: &mut [u8]) -> io::Result<usize> {
        if self.send_continue {
            self.send_continue = false;
            let mut stream = self.stream;
            stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        self.stream.set_read_timeout(Some(self.read_timeout))?;
        let mut stream = self.stream;
        loop {
            match stream.read(into) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(self.fail(BodyError::TimedOut));
                }
                other => return other,
            }
        }
    }
}

impl Read for RequestBody<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        match &mut self.state {
            State::Failed(error) => Err(io::Error::other(error.clone())),
            State::Length { left } => {
                if *left == 0 {
                    return Ok(0);
                }
                let want = out.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                let got = if self.buffer.is_empty() {
                    let got = self.read_socket(&mut out[..want])?;
                    if got == 0 {
                        return Err(self.fail(BodyError::CutShort));
                    }
                    got
                } else {
                    let got = want.min(self.buffer.len());
                    out[..got].copy_from_slice(&self.buffer[..got]);
                    self.buffer.drain(..got);
                    got
                };
                if let State::Length { left } = &mut self.state {
                    *left -= got as u64;
                }
                Ok(got)
            }
            State::Chunked { .. } => self.read_chunked(out),
        }
    }
}

impl RequestBody<'_> {
    fn read_chunked(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            let State::Chunked {
                decoder,
                decoded,
                taken,
                total,
            } = &mut self.state
            else {
                return Ok(0);
            };
            if *taken < decoded.len() {
                let n = out.len().min(decoded.len() - *taken);
                out[..n].copy_from_slice(&decoded[*taken..*taken + n]);
                *taken += n;
                return Ok(n);
            }
            if decoder.is_complete() {
                return Ok(0);
            }
            decoded.clear();
            *taken = 0;
            if !self.buffer.is_empty() {
                let progress = decoder.decode(self.buffer, decoded);
                match progress {
                    Ok(progress) => {
                        self.buffer.drain(..progress.consumed);
                        *total += decoded.len() as u64;
                        if *total > self.max_bytes {
                            let limit = self.max_bytes;
                            return Err(self.fail(BodyError::TooLarge(limit)));
                        }
                        if progress.consumed > 0 || progress.complete {
                            continue;
                        }
                    }
                    Err(error) => return Err(self.fail(BodyError::Invalid(error))),
                }
            }
            let mut more = vec![0u8; READ_BYTES];
            let got = self.read_socket(&mut more)?;
            if got == 0 {
                return Err(self.fail(BodyError::CutShort));
            }
            self.buffer.extend_from_slice(&more[..got]);
        }
    }
}
