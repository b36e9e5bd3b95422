//! A raw HTTP/1.1 client for the balancer's tests: send bytes exactly as
//! written, read back one response (head, then a body framed by
//! `Content-Length` or by the close), and run Python's HTTP clients.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Output, Stdio};

use crate::support::connect;

/// A response as the client read it.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    /// Header lines, names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Reads one response head (status line and fields).
pub fn read_head(reader: &mut impl BufRead) -> Reply {
    let mut line = String::new();
    reader.read_line(&mut line).expect("read the status line");
    assert!(!line.is_empty(), "the connection closed before a response");
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a status line: {line:?}"));
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).expect("read a header line");
        let field = line.trim_end();
        if field.is_empty() {
            break;
        }
        let (name, value) = field.split_once(':').expect("a header field");
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    Reply {
        status,
        headers,
        body: Vec::new(),
    }
}

/// Reads one whole response framed by `Content-Length` (or by close).
pub fn read_reply(reader: &mut impl BufRead) -> Reply {
    let mut reply = read_head(reader);
    match reply.header("content-length") {
        Some(length) => {
            let mut body = vec![0u8; length.parse().expect("a length")];
            reader.read_exact(&mut body).expect("read the body");
            reply.body = body;
        }
        None => {
            reader.read_to_end(&mut reply.body).expect("read to close");
        }
    }
    reply
}

/// Sends `request` on a new connection and reads the one response.
pub fn exchange(addr: SocketAddr, request: &[u8]) -> Reply {
    let mut stream = connect(addr);
    // The balancer may answer and stop reading before all is written.
    let _ = stream.write_all(request);
    read_reply(&mut BufReader::new(stream))
}

/// True when the peer closed the connection (rather than keeping it open).
pub fn closed_by_peer(reader: &mut impl BufRead) -> bool {
    let mut rest = Vec::new();
    match reader.read_to_end(&mut rest) {
        Ok(_) => rest.is_empty(),
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    }
}

/// A good request on a new connection is still answered.
pub fn assert_still_serves(addr: SocketAddr) {
    let reply = exchange(
        addr,
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nstill here",
    );
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text(), "still here");
}

/// Runs `python3 -c script args...` (at most 30 s); it must succeed.
pub fn run_python(script: &str, args: &[String]) -> Output {
    crate::support::require_tool("python3");
    let output = crate::support::tool("timeout")
        .arg("30")
        .arg("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run python3");
    assert!(
        output.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}
