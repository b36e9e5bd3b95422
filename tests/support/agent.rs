//! A stand-in for a backend's agent-check port: a loopback TCP server that
//! answers each connection with one line (which the test may change at any
//! time) and then closes it.
#![allow(dead_code)]

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// No reply write may block longer than this.
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// A running agent; stopped when dropped.
pub struct Agent {
    /// Where it listens.
    pub addr: SocketAddr,
    reply: Arc<Mutex<String>>,
    served: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Agent {
    /// Starts an agent on an ephemeral loopback port answering `reply`.
    pub fn start(reply: &str) -> Agent {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind an agent port");
        let addr = listener.local_addr().unwrap();
        let reply = Arc::new(Mutex::new(reply.to_string()));
        let served = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (reply, served, stop) =
                (Arc::clone(&reply), Arc::clone(&served), Arc::clone(&stop));
            thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(mut stream) = stream else { continue };
                    let line =
                        format!("{}\n", reply.lock().unwrap_or_else(PoisonError::into_inner));
                    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
                    if stream.write_all(line.as_bytes()).is_ok() {
                        served.fetch_add(1, Ordering::SeqCst);
                    }
                }
            })
        };
        Agent {
            addr,
            reply,
            served,
            stop,
            thread: Some(thread),
        }
    }

    /// The agent's port, for `--backend ADDR,agent=PORT`.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Changes the line sent to every later connection.
    pub fn set_reply(&self, reply: &str) {
        *self.reply.lock().unwrap_or_else(PoisonError::into_inner) = reply.to_string();
    }

    /// Connections answered so far.
    pub fn served(&self) -> u64 {
        self.served.load(Ordering::SeqCst)
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, WRITE_TIMEOUT);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
