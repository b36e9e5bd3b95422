//! The listening side of a balancer worker: accepting in bounded batches,
//! pausing at the connection limit, and retrying after an accept error.

use std::io;
use std::net::SocketAddr;

use crate::reactor::{self, Interest, Registry, TcpListener, TcpStream, Token};
use crate::warn;

/// Connections accepted per wake-up before the listener yields to the rest.
pub const ACCEPTS_PER_WAKE: usize = 128;

/// What [`Acceptor::next`] found.
#[derive(Debug)]
pub enum Accepted {
    /// A new client connection (TCP_NODELAY already set).
    Client(TcpStream, SocketAddr),
    /// Nothing more for now: the backlog is empty, the connection limit is
    /// reached, an accept failed (retried on the next tick), or the listener
    /// is closed.
    Wait,
    /// The batch is used up but more may wait: defer the listener's token.
    Yield,
}

/// A listener and the state of accepting on it.
#[derive(Debug)]
pub struct Acceptor {
    listener: Option<TcpListener>,
    /// Stopped at the connection limit; resumes when a connection closes.
    paused: bool,
    /// An accept failed (for example out of file descriptors).
    failed: bool,
    accepted: u64,
    this_wake: usize,
}

impl Acceptor {
    /// Accepts on `listener`.
    pub fn new(listener: TcpListener) -> Self {
        Self {
            listener: Some(listener),
            paused: false,
            failed: false,
            accepted: 0,
            this_wake: 0,
        }
    }

    /// Registers the listener under `token`.
    pub fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        match self.listener.as_mut() {
            Some(listener) => registry.register(listener, token, Interest::READABLE),
            None => Ok(()),
        }
    }

    /// The next connection, when `open` connections are served and at most
    /// `max_open` may be.
    pub fn next(&mut self, open: usize, max_open: usize) -> Accepted {
        if self.this_wake >= ACCEPTS_PER_WAKE {
            self.this_wake = 0;
            return Accepted::Yield;
        }
        if open >= max_open {
            // The rest waits in the kernel's backlog until a connection ends.
            self.paused = true;
            return self.wait();
        }
        let Some(listener) = self.listener.as_ref() else {
            return self.wait();
        };
        loop {
            match listener.accept() {
                Ok((stream, addr)) => {
                    self.accepted += 1;
                    self.this_wake += 1;
                    if let Err(e) = reactor::prepare_accepted(&stream) {
                        warn!("client {addr}: {e}");
                    }
                    return Accepted::Client(stream, addr);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return self.wait(),
                Err(e) => {
                    warn!("accept failed: {e}; retrying on the next tick");
                    self.failed = true;
                    return self.wait();
                }
            }
        }
    }

    fn wait(&mut self) -> Accepted {
        self.this_wake = 0;
        Accepted::Wait
    }

    /// A connection closed; true when accepting should resume now.
    pub fn connection_closed(&mut self) -> bool {
        std::mem::take(&mut self.paused)
    }

    /// On the periodic tick: true when a failed accept should be retried.
    pub fn retry_due(&mut self) -> bool {
        std::mem::take(&mut self.failed)
    }

    /// Closes the listener: no new connections.
    pub fn close(&mut self) {
        self.listener = None;
    }

    /// Connections accepted since start.
    pub fn accepted(&self) -> u64 {
        self.accepted
    }
}
