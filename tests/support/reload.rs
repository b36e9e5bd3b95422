//! A balancer run from a config file that a test rewrites and reloads with
//! SIGHUP, knowing when the worker has taken the new file: every reload
//! gives the first backend a new weight, and the reload counts as applied
//! once `/stats` on the admin port shows that weight. Beside it, a client
//! that sends requests and reads answers in turn, and the requests the
//! limit tests send.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{IO_TIMEOUT, SIGHUP, Server, connect, distloop_bin};

/// How long a reload may take to reach the worker (stats are published at
/// once after it, and about once a second anyway).
pub const RELOAD_SETTLE: Duration = Duration::from_secs(10);
/// How long a client is watched to see that it is kept waiting.
pub const STILL_WAITING: Duration = Duration::from_millis(400);

/// A running balancer and the file it reads.
pub struct ReloadableLb {
    /// The balancer process (`addr` is where clients connect).
    pub server: Server,
    /// Its admin port.
    pub admin: SocketAddr,
    path: PathBuf,
    backends: Vec<(String, SocketAddr)>,
    /// The first backend's weight in the file now; each reload adds one.
    marker: u64,
}

impl ReloadableLb {
    /// Starts `distloop lb --config FILE` in `mode` with the top-level
    /// `settings` (TOML lines) and `backends` (name, address), plus `flags`.
    pub fn start(
        mode: &str,
        settings: &str,
        backends: &[(&str, SocketAddr)],
        flags: &[&str],
    ) -> ReloadableLb {
        let path = std::env::temp_dir().join(format!(
            "distloop-reload-{}-{}.toml",
            std::process::id(),
            unique()
        ));
        let backends: Vec<(String, SocketAddr)> = backends
            .iter()
            .map(|(name, addr)| (name.to_string(), *addr))
            .collect();
        let marker = 1;
        write_file(&path, settings, &backends, marker);
        let config = path.to_str().unwrap().to_string();
        let mut args = vec![
            "lb",
            "--mode",
            mode,
            "--listen",
            "127.0.0.1:0",
            "--admin",
            "127.0.0.1:0",
            "--config",
            &config,
        ];
        args.extend_from_slice(flags);
        let server = Server::start_expecting(distloop_bin(), &args, 2);
        let admin = server.other_addrs[0].1;
        ReloadableLb {
            server,
            admin,
            path,
            backends,
            marker,
        }
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// Rewrites the file with `settings`, sends SIGHUP and waits until the
    /// worker runs the new configuration.
    pub fn reload(&mut self, settings: &str) {
        self.marker += 1;
        self.write(settings);
        self.server.signal(SIGHUP);
        let deadline = Instant::now() + RELOAD_SETTLE;
        loop {
            if self.first_backend_weight() == Some(self.marker) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the reload to {settings:?} was not applied"
            );
            thread::sleep(Duration::from_millis(30));
        }
    }

    /// `GET /stats` on the admin port, parsed.
    pub fn stats(&self) -> Value {
        let mut stream = TcpStream::connect(self.admin).expect("connect to the admin port");
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream
            .write_all(b"GET /stats HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut raw = String::new();
        stream.read_to_string(&mut raw).unwrap();
        let (_, body) = raw.split_once("\r\n\r\n").expect("a whole response");
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
    }

    fn first_backend_weight(&self) -> Option<u64> {
        let stats = self.stats();
        let name = &self.backends[0].0;
        stats["backends"]
            .as_array()?
            .iter()
            .find(|b| b["name"] == name.as_str())?["weight"]
            .as_u64()
    }

    fn write(&self, settings: &str) {
        write_file(&self.path, settings, &self.backends, self.marker);
    }
}

/// The file: `settings`, then one `[[backend]]` table per backend, the
/// first with weight `marker`.
fn write_file(path: &PathBuf, settings: &str, backends: &[(String, SocketAddr)], marker: u64) {
    let mut text = format!("{settings}\n");
    for (i, (name, addr)) in backends.iter().enumerate() {
        text.push_str(&format!(
            "[[backend]]\naddress = \"{addr}\"\nname = \"{name}\"\n"
        ));
        if i == 0 {
            text.push_str(&format!("weight = {marker}\n"));
        }
    }
    std::fs::write(path, text).expect("write the config file");
}

impl Drop for ReloadableLb {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::SeqCst)
}

/// A client connection that sends requests and reads answers in turn.
pub struct Client {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Client {
    pub fn open(addr: SocketAddr) -> Client {
        let stream = connect(addr);
        Client {
            writer: stream.try_clone().unwrap(),
            reader: BufReader::new(stream),
        }
    }

    pub fn send(&mut self, request: &[u8]) {
        // The balancer may answer (413, 431) and stop reading before all is written.
        let _ = self.writer.write_all(request);
    }

    /// Reads one answer framed by `Content-Length`: (status, body).
    pub fn answer(&mut self) -> (u16, String) {
        let mut line = String::new();
        self.reader
            .read_line(&mut line)
            .expect("read a status line");
        assert!(!line.is_empty(), "closed before an answer");
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("not a status line: {line:?}"));
        let mut length = 0;
        loop {
            line.clear();
            self.reader.read_line(&mut line).expect("read a header");
            let field = line.trim_end();
            if field.is_empty() {
                break;
            }
            if let Some((name, value)) = field.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().expect("a length");
                }
            }
        }
        let mut body = vec![0u8; length];
        self.reader.read_exact(&mut body).expect("read the body");
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    pub fn request(&mut self, request: &[u8]) -> (u16, String) {
        self.send(request);
        self.answer()
    }

    /// True when nothing arrives for a while: the client is kept waiting.
    pub fn is_kept_waiting(&mut self) -> bool {
        self.reader
            .get_ref()
            .set_read_timeout(Some(STILL_WAITING))
            .unwrap();
        let waiting = match self.reader.fill_buf() {
            // Bytes or an end of stream: not waiting any more.
            Ok(_) => false,
            Err(e) => matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
        };
        self.reader
            .get_ref()
            .set_read_timeout(Some(IO_TIMEOUT))
            .unwrap();
        waiting
    }

    /// True when the balancer closed the connection.
    pub fn is_closed(&mut self) -> bool {
        let mut rest = Vec::new();
        match self.reader.read_to_end(&mut rest) {
            Ok(_) => rest.is_empty(),
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        }
    }
}

/// A GET whose head is exactly `bytes` long.
pub fn head_of(bytes: usize) -> Vec<u8> {
    let start = "GET /echo HTTP/1.1\r\nHost: t\r\nX-Pad: ";
    let end = "\r\n\r\n";
    let pad = bytes - start.len() - end.len();
    format!("{start}{}{end}", "p".repeat(pad)).into_bytes()
}

/// A POST with a `Content-Length` body of `body_bytes`.
pub fn post_with_length(body_bytes: usize) -> Vec<u8> {
    let mut request =
        format!("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {body_bytes}\r\n\r\n")
            .into_bytes();
    request.extend(std::iter::repeat_n(b'b', body_bytes));
    request
}

/// A POST with a chunked body of `body_bytes`.
pub fn post_chunked(body_bytes: usize) -> Vec<u8> {
    let mut request =
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    request.extend(format!("{body_bytes:x}\r\n").bytes());
    request.extend(std::iter::repeat_n(b'b', body_bytes));
    request.extend(b"\r\n0\r\n\r\n");
    request
}

/// The status of `request` sent on a new connection.
pub fn status_of(addr: SocketAddr, request: &[u8]) -> u16 {
    Client::open(addr).request(request).0
}
