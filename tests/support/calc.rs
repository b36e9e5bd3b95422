//! Calculator servers for the integration tests: the real `distloop calc
//! server` on ephemeral loopback ports, a line-at-a-time client, and the
//! status port's JSON.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::support::{IO_TIMEOUT, Server, distloop_bin};

/// A running calculator server with both of its addresses.
pub struct CalcServer {
    /// The process (killed when dropped).
    pub process: Server,
    /// The calculator port.
    pub calculator: SocketAddr,
    /// The status port.
    pub status: SocketAddr,
}

/// Starts `distloop calc server` named `name` with `extra` flags.
pub fn start_calc_server(name: &str, extra: &[&str]) -> CalcServer {
    let mut args = vec![
        "calc",
        "server",
        "--listen",
        "127.0.0.1:0",
        "--status",
        "127.0.0.1:0",
        "--name",
        name,
    ];
    args.extend_from_slice(extra);
    let process = Server::start_expecting(distloop_bin(), &args, 2);
    let (label, status) = process.other_addrs[0].clone();
    assert_eq!(label, "status", "the second line names the status port");
    CalcServer {
        calculator: process.addr,
        status,
        process,
    }
}

/// One connection that sends a line and reads the answer line.
pub struct LineClient {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl LineClient {
    /// Connects to `addr`.
    pub fn connect(addr: SocketAddr) -> LineClient {
        let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT).expect("connect");
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        LineClient {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
        }
    }

    /// Sends raw bytes.
    pub fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).expect("send");
    }

    /// Reads one answer line (without `\n`); `None` at a close.
    pub fn read_answer(&mut self) -> Option<String> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(line.trim_end_matches('\n').to_string()),
        }
    }

    /// Sends `line` and a newline, and reads the answer.
    pub fn ask(&mut self, line: &str) -> String {
        self.send(format!("{line}\n").as_bytes());
        self.read_answer().expect("an answer line")
    }

    /// The underlying stream.
    pub fn stream(&self) -> &TcpStream {
        &self.writer
    }
}

/// The agent-check line a status port sends to a silent client.
pub fn agent_line(status: SocketAddr) -> String {
    let mut stream = TcpStream::connect_timeout(&status, IO_TIMEOUT).expect("connect");
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut line = String::new();
    stream
        .read_to_string(&mut line)
        .expect("read the agent line");
    line
}

/// `GET /` on a status port: the status code and the parsed JSON body.
pub fn status_json(status: SocketAddr) -> serde_json::Value {
    let mut stream = TcpStream::connect_timeout(&status, IO_TIMEOUT).expect("connect");
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: calc\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    stream
        .read_to_string(&mut reply)
        .expect("read the status page");
    let (head, body) = reply.split_once("\r\n\r\n").expect("a head and a body");
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    serde_json::from_str(body).expect("a JSON body")
}

/// Requests answered so far by the server behind `status`.
pub fn requests_of(status: SocketAddr) -> u64 {
    status_json(status)["requests"].as_u64().expect("a count")
}

/// Waits (at most `timeout`) until `condition` holds.
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    condition()
}
