//! Starting `distloop echo server` in each model, and a plain line client
//! over `std::net` that reads with a deadline.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::support::{Server, distloop_bin};

/// How long a test waits for an echo before it fails.
pub const REPLY_WAIT: Duration = Duration::from_secs(20);

/// Starts `distloop echo server --model MODEL --listen 127.0.0.1:0 EXTRA...`.
pub fn echo_server(model: &str, extra: &[&str]) -> Server {
    let mut args = vec![
        "echo",
        "server",
        "--model",
        model,
        "--listen",
        "127.0.0.1:0",
    ];
    args.extend_from_slice(extra);
    Server::start(distloop_bin(), &args)
}

/// One connection to an echo server.
pub struct LineClient {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl LineClient {
    /// Connects to `addr`.
    pub fn connect(addr: SocketAddr) -> LineClient {
        let stream = TcpStream::connect(addr).expect("connect to the echo server");
        stream.set_read_timeout(Some(REPLY_WAIT)).unwrap();
        LineClient {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
        }
    }

    /// Writes `bytes` as they are.
    pub fn send(&mut self, bytes: &[u8]) {
        self.writer
            .write_all(bytes)
            .expect("send to the echo server");
    }

    /// Reads one line (with its `\n`), failing after [`REPLY_WAIT`].
    pub fn read_line(&mut self) -> String {
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("an echo in time");
        line
    }

    /// Sends `line` and a newline, and returns the echo.
    pub fn round_trip(&mut self, line: &str) -> String {
        self.send(format!("{line}\n").as_bytes());
        self.read_line()
    }

    /// True when nothing arrives within `wait` (the server holds this client).
    pub fn nothing_within(&mut self, wait: Duration) -> bool {
        self.writer.set_read_timeout(Some(wait)).unwrap();
        let mut byte = [0u8; 1];
        let quiet = match self.reader.read(&mut byte) {
            Err(e) => matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
            Ok(_) => false,
        };
        self.writer.set_read_timeout(Some(REPLY_WAIT)).unwrap();
        quiet
    }

    /// Reads to the end of stream and returns what came before it.
    pub fn read_to_close(&mut self) -> String {
        let mut rest = String::new();
        self.reader
            .read_to_string(&mut rest)
            .expect("the server closes");
        rest
    }
}
