//! The echo client: sends lines, one at a time, and reads each echo back.
//!
//! `distloop echo client` sends standard input's lines until one is `fim`
//! (the sequential and threaded models' client), or one `--message` (the
//! simple model's client), and prints every reply.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::line::{MAX_LINE_BYTES, is_end_of_session};

/// How long the client waits to connect, and then for each reply.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// What went wrong on the client's side.
#[derive(Debug)]
pub enum ClientError {
    /// The server address did not resolve or refused.
    Connect {
        /// The address as given.
        server: String,
        /// Why.
        source: io::Error,
    },
    /// The connection failed mid-session.
    Io(io::Error),
    /// The server closed the connection before echoing a line.
    Closed,
    /// The server answered with an `error: ...` line.
    Refused(String),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Connect { server, source } => {
                write!(f, "cannot connect to {server}: {source}")
            }
            ClientError::Io(e) => write!(f, "connection failed: {e}"),
            ClientError::Closed => f.write_str("the server closed the connection before the echo"),
            ClientError::Refused(line) => write!(f, "the server answered: {line}"),
        }
    }
}

impl std::error::Error for ClientError {}

impl From<io::Error> for ClientError {
    fn from(e: io::Error) -> Self {
        ClientError::Io(e)
    }
}

/// A connection to an echo server.
#[derive(Debug)]
pub struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Client {
    /// Connects to `server` (`HOST:PORT`; a name such as `localhost` resolves).
    pub fn connect(server: &str) -> Result<Client, ClientError> {
        let connect_error = |source| ClientError::Connect {
            server: server.to_string(),
            source,
        };
        let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
        for addr in server.to_socket_addrs().map_err(connect_error)? {
            match TcpStream::connect_timeout(&addr, REPLY_TIMEOUT) {
                Ok(stream) => {
                    stream.set_read_timeout(Some(REPLY_TIMEOUT))?;
                    let _ = stream.set_nodelay(true);
                    return Ok(Client {
                        reader: BufReader::new(stream.try_clone()?),
                        writer: stream,
                    });
                }
                Err(e) => last = e,
            }
        }
        Err(connect_error(last))
    }

    /// Sends `line` (a `\n` is added) and returns the echo without its line end.
    pub fn round_trip(&mut self, line: &str) -> Result<String, ClientError> {
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        self.writer.write_all(&bytes)?;
        self.read_reply()
    }

    fn read_reply(&mut self) -> Result<String, ClientError> {
        let mut reply = Vec::new();
        let limit = MAX_LINE_BYTES as u64 + 64;
        (&mut self.reader)
            .take(limit)
            .read_until(b'\n', &mut reply)?;
        if reply.is_empty() {
            return Err(ClientError::Closed);
        }
        let text = String::from_utf8_lossy(&reply);
        let text = text.trim_end_matches(['\n', '\r']).to_string();
        if text.starts_with("error: ") {
            return Err(ClientError::Refused(text));
        }
        Ok(text)
    }

    /// Closes the sending side and waits for the server to close.
    pub fn finish(mut self) -> Result<(), ClientError> {
        let _ = self.writer.shutdown(Shutdown::Write);
        let mut rest = Vec::new();
        (&mut self.reader)
            .take(MAX_LINE_BYTES as u64)
            .read_to_end(&mut rest)?;
        Ok(())
    }
}

/// Sends each line of `input` and writes each echo to `output`, until a
/// line is `fim` or the input ends.
pub fn send_lines(
    client: &mut Client,
    input: impl BufRead,
    mut output: impl Write,
) -> Result<(), ClientError> {
    for line in input.lines() {
        let line = line?;
        let line = line.trim_end_matches('\r');
        let echo = client.round_trip(line)?;
        writeln!(output, "{echo}")?;
        output.flush()?;
        if is_end_of_session(line.as_bytes()) {
            break;
        }
    }
    Ok(())
}
