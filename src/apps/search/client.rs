//! A small blocking HTTP/1.1 client for the search app: the master posting
//! chunks to workers and checking their health, the command line client
//! talking to the master. One request per connection (`Connection:
//! close`), the response parsed with the project's HTTP core, every wait
//! bounded, the answer's size bounded.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use distloop_http::{
    BodyFraming, ChunkedDecoder, HeadLimits, HeadStatus, HttpError, ResponseParser,
};

/// Largest answer body read, in bytes.
pub const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;

/// Why a request got no usable answer.
#[derive(Debug)]
pub enum ClientError {
    /// Connecting, writing or reading failed (refused, reset, timed out).
    Io(SocketAddr, io::Error),
    /// The answer was not valid HTTP.
    Http(SocketAddr, HttpError),
    /// The connection closed before the answer ended.
    CutShort(SocketAddr),
    /// The answer body is over [`MAX_ANSWER_BYTES`].
    TooLarge(SocketAddr),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Io(addr, e) => write!(f, "{addr}: {e}"),
            ClientError::Http(addr, e) => write!(f, "{addr} sent a bad answer: {e}"),
            ClientError::CutShort(addr) => write!(f, "{addr} closed before its answer ended"),
            ClientError::TooLarge(addr) => {
                write!(f, "{addr} answered more than {MAX_ANSWER_BYTES} bytes")
            }
        }
    }
}

impl std::error::Error for ClientError {}

/// A status and a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends one request and reads the whole answer. `timeout` bounds the
/// connect and each read and write.
pub fn request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    body: &[u8],
    timeout: Duration,
) -> Result<Answer, ClientError> {
    let io_error = |e| ClientError::Io(addr, e);
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(io_error)?;
    stream.set_read_timeout(Some(timeout)).map_err(io_error)?;
    stream.set_write_timeout(Some(timeout)).map_err(io_error)?;
    let _ = stream.set_nodelay(true);
    let head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).map_err(io_error)?;
    stream.write_all(body).map_err(io_error)?;
    read_answer(&mut stream, addr, method)
}

/// Bytes read from a streamed body per write.
const UPLOAD_PIECE_BYTES: usize = 256 * 1024;

/// Sends one request whose `length`-byte body is read from `body` as it
/// goes (never held whole), calling `sent` with the bytes sent so far.
/// If the server answers early (a refusal), that answer is returned.
pub fn request_streaming(
    addr: SocketAddr,
    method: &str,
    target: &str,
    body: &mut dyn Read,
    length: u64,
    timeout: Duration,
    sent: &mut dyn FnMut(u64),
) -> Result<Answer, ClientError> {
    let io_error = |e| ClientError::Io(addr, e);
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(io_error)?;
    stream.set_read_timeout(Some(timeout)).map_err(io_error)?;
    stream.set_write_timeout(Some(timeout)).map_err(io_error)?;
    let head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).map_err(io_error)?;
    let mut piece = vec![0u8; UPLOAD_PIECE_BYTES];
    let mut total = 0u64;
    while total < length {
        let want = piece
            .len()
            .min(usize::try_from(length - total).unwrap_or(usize::MAX));
        let n = body.read(&mut piece[..want]).map_err(io_error)?;
        if n == 0 {
            return Err(io_error(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the body ended before its length",
            )));
        }
        if stream.write_all(&piece[..n]).is_err() {
            // The server stopped reading: its answer says why.
            break;
        }
        total += n as u64;
        sent(total);
    }
    read_answer(&mut stream, addr, method)
}

/// Reads what the stream has into `into`; an answer that ends here was cut short.
fn read_more(
    stream: &mut TcpStream,
    scratch: &mut [u8],
    into: &mut Vec<u8>,
    addr: SocketAddr,
) -> Result<(), ClientError> {
    let n = stream.read(scratch).map_err(|e| ClientError::Io(addr, e))?;
    if n == 0 {
        return Err(ClientError::CutShort(addr));
    }
    into.extend_from_slice(&scratch[..n]);
    Ok(())
}

fn read_answer(
    stream: &mut TcpStream,
    addr: SocketAddr,
    method: &str,
) -> Result<Answer, ClientError> {
    let mut buffer = Vec::new();
    let mut parser = ResponseParser::new(HeadLimits::default());
    let mut scratch = vec![0u8; 64 * 1024];
    let (head, consumed) = loop {
        match parser.parse(&buffer, method) {
            Ok(HeadStatus::Complete { head, consumed }) if head.is_interim() => {
                buffer.drain(..consumed);
            }
            Ok(HeadStatus::Complete { head, consumed }) => break (head, consumed),
            Ok(HeadStatus::Partial) => {}
            Err(e) => return Err(ClientError::Http(addr, e)),
        }
        read_more(stream, &mut scratch, &mut buffer, addr)?;
    };
    buffer.drain(..consumed);
    let mut body = Vec::new();
    match head.framing {
        BodyFraming::None => {}
        BodyFraming::ContentLength(length) => {
            let length = usize::try_from(length).unwrap_or(usize::MAX);
            if length > MAX_ANSWER_BYTES {
                return Err(ClientError::TooLarge(addr));
            }
            body = buffer;
            while body.len() < length {
                read_more(stream, &mut scratch, &mut body, addr)?;
            }
            body.truncate(length);
        }
        BodyFraming::UntilClose => {
            body = buffer;
            loop {
                let n = stream
                    .read(&mut scratch)
                    .map_err(|e| ClientError::Io(addr, e))?;
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&scratch[..n]);
                if body.len() > MAX_ANSWER_BYTES {
                    return Err(ClientError::TooLarge(addr));
                }
            }
        }
        BodyFraming::Chunked => {
            let mut decoder = ChunkedDecoder::new();
            loop {
                let progress = decoder
                    .decode(&buffer, &mut body)
                    .map_err(|e| ClientError::Http(addr, e))?;
                buffer.drain(..progress.consumed);
                if progress.complete {
                    break;
                }
                if body.len() > MAX_ANSWER_BYTES {
                    return Err(ClientError::TooLarge(addr));
                }
                read_more(stream, &mut scratch, &mut buffer, addr)?;
            }
        }
    }
    Ok(Answer {
        status: head.status,
        body,
    })
}
