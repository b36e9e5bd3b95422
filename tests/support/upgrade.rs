//! Continuous load for the upgrade tests: client threads that each open a
//! new connection per request (the case a listener handover must not drop)
//! and count answers and failures until stopped.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

use crate::support::IO_TIMEOUT;

/// Load running against one address.
pub struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    failures: Arc<Mutex<Vec<String>>>,
    threads: Vec<JoinHandle<()>>,
}

/// What a load run counted.
#[derive(Debug)]
pub struct Outcome {
    /// Requests answered 200.
    pub ok: u64,
    /// Every failed request, with why.
    pub failures: Vec<String>,
}

impl Load {
    /// Starts `clients` threads sending `GET path` to `addr` back to back.
    pub fn start(addr: SocketAddr, path: &str, clients: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicU64::new(0));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let threads = (0..clients)
            .map(|_| {
                let (stop, ok, failures) = (stop.clone(), ok.clone(), failures.clone());
                let request =
                    format!("GET {path} HTTP/1.1\r\nHost: lb\r\nConnection: close\r\n\r\n");
                thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        match one_request(addr, &request) {
                            Ok(()) => {
                                ok.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(why) => failures.lock().unwrap().push(why),
                        }
                    }
                })
            })
            .collect();
        Load {
            stop,
            ok,
            failures,
            threads,
        }
    }

    /// Requests answered so far.
    pub fn answered(&self) -> u64 {
        self.ok.load(Ordering::Relaxed)
    }

    /// Stops the clients and returns what they counted.
    pub fn finish(self) -> Outcome {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads {
            thread.join().expect("a load thread panicked");
        }
        Outcome {
            ok: self.ok.load(Ordering::Relaxed),
            failures: std::mem::take(&mut self.failures.lock().unwrap()),
        }
    }
}

fn one_request(addr: SocketAddr, request: &str) -> Result<(), String> {
    let mut stream =
        TcpStream::connect_timeout(&addr, IO_TIMEOUT).map_err(|e| format!("connect: {e}"))?;
    stream.set_read_timeout(Some(IO_TIMEOUT)).ok();
    stream.set_write_timeout(Some(IO_TIMEOUT)).ok();
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("write: {e}"))?;
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .map_err(|e| format!("read: {e}"))?;
    let head = String::from_utf8_lossy(&answer[..answer.len().min(64)]).into_owned();
    if head.starts_with("HTTP/1.1 200") {
        Ok(())
    } else if head.is_empty() {
        Err("closed without an answer".into())
    } else {
        Err(format!("answered {}", head.lines().next().unwrap_or("")))
    }
}
