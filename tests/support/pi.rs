//! Pi backends for the balancer's tests, and a client that reads `X-Backend`.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};

use crate::support::{Server, connect, pi_backend_bin};

/// Starts `count` pi-backends named `a`, `b`, `c`, ... with extra flags per backend.
pub fn start_backends(flags: &[&[&str]]) -> Vec<Server> {
    flags
        .iter()
        .enumerate()
        .map(|(i, extra)| {
            let name = ((b'a' + i as u8) as char).to_string();
            let mut args = vec!["--listen", "127.0.0.1:0", "--name", name.as_str()];
            args.extend_from_slice(extra);
            Server::start(pi_backend_bin(), &args)
        })
        .collect()
}

/// A kept-alive HTTP/1.1 connection that tells who answered each request.
pub struct Conn {
    reader: BufReader<TcpStream>,
}

impl Conn {
    /// Connects to `addr`.
    pub fn open(addr: SocketAddr) -> Conn {
        Conn {
            reader: BufReader::new(connect(addr)),
        }
    }

    /// Sends `GET path` and returns (status, X-Backend, body).
    pub fn get(&mut self, path: &str, close: bool) -> (u16, String, String) {
        let connection = if close { "close" } else { "keep-alive" };
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: test\r\nAccept: text/plain\r\nConnection: {connection}\r\n\r\n"
        );
        self.reader.get_mut().write_all(request.as_bytes()).unwrap();
        let mut status_line = String::new();
        self.reader.read_line(&mut status_line).unwrap();
        let status: u16 = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
        let mut backend = String::new();
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').expect("a header field");
            match name.to_ascii_lowercase().as_str() {
                "x-backend" => backend = value.trim().to_string(),
                "content-length" => length = value.trim().parse().unwrap(),
                _ => {}
            }
        }
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body).unwrap();
        (status, backend, String::from_utf8(body).unwrap())
    }
}

/// One request on a fresh connection; returns the answering backend.
pub fn who_answers(addr: SocketAddr, path: &str) -> String {
    let (status, backend, _) = Conn::open(addr).get(path, true);
    assert_eq!(status, 200);
    backend
}

/// π to `n` places from Machin's formula, computed by Python's integers:
/// an implementation independent of the backend's.
pub fn reference_pi(n: usize) -> String {
    let script = format!(
        "n={n}\nguard=12\nunity=10**(n+guard)\n\
def atan_inv(x):\n    total=term=unity//x\n    x2=x*x\n    k=1\n    sign=-1\n    \
while term:\n        term//=x2\n        total+=sign*(term//(2*k+1))\n        sign=-sign\n        k+=1\n    return total\n\
pi=(16*atan_inv(5)-4*atan_inv(239))//10**guard\ns=str(pi)\nprint(s[0]+'.'+s[1:n+1])\n"
    );
    let out = crate::support::tool("python3")
        .arg("-c")
        .arg(script)
        .output()
        .expect("python3 runs");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}
