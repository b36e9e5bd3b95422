//! A backend that fails the way retries are for: it accepts every
//! connection, reads the request, and closes without answering a byte.
#![allow(dead_code)]

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// How long a connection waits for the rest of a request before closing.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// The most request bytes read from one connection.
const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// A running closing backend; it lives until the test process ends.
pub struct ClosingBackend {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The request line of every request received, in arrival order (one
    /// per connection: each is closed after its first request).
    requests: Arc<Mutex<Vec<String>>>,
}

impl ClosingBackend {
    /// Starts one on an ephemeral loopback port.
    pub fn start() -> ClosingBackend {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the closing backend");
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&requests);
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let log = Arc::clone(&log);
                thread::spawn(move || {
                    let mut stream = stream;
                    let line = read_request(&mut stream);
                    // Logged before the close, so that a test that got its
                    // answer sees every request that was closed on.
                    log.lock().unwrap().push(line);
                    drop(stream);
                });
            }
        });
        ClosingBackend { addr, requests }
    }

    /// The request lines received so far.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    /// How many requests had `method`.
    pub fn count(&self, method: &str) -> usize {
        let prefix = format!("{method} ");
        self.requests()
            .iter()
            .filter(|line| line.starts_with(&prefix))
            .count()
    }
}

/// Reads one request head and its `Content-Length` body (so that the close
/// is a plain end of stream, not a reset for unread bytes). Returns the
/// request line.
fn read_request(stream: &mut TcpStream) -> String {
    let _ = stream.set_read_timeout(Some(READ_TIMEOUT));
    let mut bytes = Vec::new();
    let mut piece = [0u8; 4096];
    let mut wanted = None;
    while bytes.len() < MAX_REQUEST_BYTES {
        if let Some(end) = wanted {
            if bytes.len() >= end {
                break;
            }
        } else if let Some(at) = find(&bytes, b"\r\n\r\n") {
            wanted = Some(at + 4 + content_length(&bytes[..at]));
            continue;
        }
        match stream.read(&mut piece) {
            Ok(0) | Err(_) => break,
            Ok(n) => bytes.extend_from_slice(&piece[..n]),
        }
    }
    let text = String::from_utf8_lossy(&bytes);
    text.lines().next().unwrap_or_default().to_string()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn content_length(head: &[u8]) -> usize {
    String::from_utf8_lossy(head)
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse().ok())
        .unwrap_or(0)
}
