//! The listening side of a service: accepting in bounded batches, pausing at
//! the connection cap, and retrying after an accept error on a backoff
//! timer.
//!
//! Edge-triggered readiness reports a listener once per new arrival, so
//! every way accepting stops must say how it resumes: a used-up batch defers
//! the listener's token; the cap resumes when a connection closes
//! ([`Acceptor::on_connection_closed`]); an error such as running out of
//! file descriptors (`EMFILE`) resumes when the retry timer fires
//! ([`Acceptor::on_retry_timer`]), later after each failure in a row, since
//! retrying at once would only fail again.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use super::{Context, Interest, Registry, TcpListener, TcpStream, Token, prepare_accepted};
use crate::warn;

/// Connections accepted per wake-up before the listener yields to the rest.
pub const ACCEPTS_PER_WAKE: usize = 128;
/// The first wait before accepting again after an accept error.
pub const ACCEPT_RETRY_FIRST: Duration = Duration::from_millis(50);
/// The longest wait before accepting again after errors in a row.
pub const ACCEPT_RETRY_MAX: Duration = Duration::from_secs(1);

/// What one look at the listener found.
#[derive(Debug)]
enum Accepted {
    /// A new client connection (TCP_NODELAY already set).
    Client(TcpStream, SocketAddr),
    /// Nothing more for now: the backlog is empty, the connection limit is
    /// reached, an accept failed, or the listener is closed.
    Wait,
    /// The batch is used up but more may wait: defer the listener's token.
    Yield,
}

/// The wait before the next accept after errors in a row: doubling from
/// [`ACCEPT_RETRY_FIRST`] up to [`ACCEPT_RETRY_MAX`], back to the first
/// after an accept succeeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryBackoff {
    next: Duration,
}

impl Default for RetryBackoff {
    fn default() -> Self {
        Self {
            next: ACCEPT_RETRY_FIRST,
        }
    }
}

impl RetryBackoff {
    /// An accept failed: how long to wait before the next try.
    pub fn failed(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(ACCEPT_RETRY_MAX);
        wait
    }

    /// An accept succeeded: the next failure waits the shortest time again.
    pub fn succeeded(&mut self) {
        self.next = ACCEPT_RETRY_FIRST;
    }
}

/// A listener and the state of accepting on it.
#[derive(Debug)]
pub struct Acceptor {
    listener: Option<TcpListener>,
    token: Option<Token>,
    /// The payload of the retry timer, when errors are retried on a timer.
    retry_timer: Option<u64>,
    retry_armed: bool,
    backoff: RetryBackoff,
    /// Stopped at the connection limit; resumes when a connection closes.
    paused: bool,
    /// An accept failed (for example out of file descriptors).
    failed: bool,
    accepted: u64,
    this_wake: usize,
}

impl Acceptor {
    /// Accepts on `listener`. After an accept error, accepting resumes when
    /// the retry timer set by [`Acceptor::retry_on_timer`] fires (without
    /// one, at the listener's next readiness).
    pub fn new(listener: TcpListener) -> Self {
        Self {
            listener: Some(listener),
            token: None,
            retry_timer: None,
            retry_armed: false,
            backoff: RetryBackoff::default(),
            paused: false,
            failed: false,
            accepted: 0,
            this_wake: 0,
        }
    }

    /// After an accept error, arms a timer with `payload` (after a backoff);
    /// the service hands it to [`Acceptor::on_retry_timer`].
    pub fn retry_on_timer(mut self, payload: u64) -> Self {
        self.retry_timer = Some(payload);
        self
    }

    /// Registers the listener under `token`, the token [`Acceptor::accept`]
    /// defers to come back.
    pub fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        self.token = Some(token);
        match self.listener.as_mut() {
            Some(listener) => registry.register(listener, token, Interest::READABLE),
            None => Ok(()),
        }
    }

    /// The next client, when `open` connections are served and at most
    /// `max_open` may be; `None` when there is none for now. Arranges its
    /// own return: defers the listener's token after a full batch, arms the
    /// retry timer after an error. Call it in a loop on the listener's token.
    pub fn accept(
        &mut self,
        ctx: &mut Context<'_>,
        open: usize,
        max_open: usize,
    ) -> Option<(TcpStream, SocketAddr)> {
        match self.next(open, max_open) {
            Accepted::Client(stream, addr) => Some((stream, addr)),
            Accepted::Yield => {
                if let Some(token) = self.token {
                    ctx.defer(token);
                }
                None
            }
            Accepted::Wait => {
                if let Some(payload) = self.retry_timer.filter(|_| self.failed) {
                    if !self.retry_armed {
                        self.retry_armed = true;
                        ctx.set_timer_after(self.backoff.failed(), payload);
                    }
                }
                None
            }
        }
    }

    /// The retry timer fired: look at the listener again.
    pub fn on_retry_timer(&mut self, ctx: &mut Context<'_>) {
        self.retry_armed = false;
        self.failed = false;
        if let Some(token) = self.token {
            ctx.defer(token);
        }
    }

    /// A connection closed: accepting resumes if it stopped at the cap.
    pub fn on_connection_closed(&mut self, ctx: &mut Context<'_>) {
        if std::mem::take(&mut self.paused) {
            if let Some(token) = self.token {
                ctx.defer(token);
            }
        }
    }

    /// The next connection, when `open` connections are served and at most
    /// `max_open` may be; [`Acceptor::accept`] arranges the return.
    fn next(&mut self, open: usize, max_open: usize) -> Accepted {
        if self.this_wake >= ACCEPTS_PER_WAKE {
            self.this_wake = 0;
            return Accepted::Yield;
        }
        if open >= max_open {
            // The rest waits in the kernel's backlog until a connection ends.
            self.paused = true;
            return self.wait();
        }
        if self.failed && self.retry_armed {
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
                    self.backoff.succeeded();
                    if let Err(e) = prepare_accepted(&stream) {
                        warn!("client {addr}: {e}");
                    }
                    return Accepted::Client(stream, addr);
                }
                // A client that gave up while in the backlog: the next may not.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted
                            | io::ErrorKind::ConnectionAborted
                            | io::ErrorKind::ConnectionReset
                    ) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return self.wait(),
                Err(e) => {
                    warn!("accept failed: {e}; retrying later");
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

    /// Closes the listener: no new connections.
    pub fn close(&mut self) {
        self.listener = None;
    }

    /// True until [`Acceptor::close`].
    pub fn is_open(&self) -> bool {
        self.listener.is_some()
    }

    /// Connections accepted since start.
    pub fn accepted(&self) -> u64 {
        self.accepted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_bound_and_resets_after_a_success() {
        let mut backoff = RetryBackoff::default();
        assert_eq!(backoff.failed(), ACCEPT_RETRY_FIRST);
        assert_eq!(backoff.failed(), ACCEPT_RETRY_FIRST * 2);
        for _ in 0..20 {
            backoff.failed();
        }
        assert_eq!(backoff.failed(), ACCEPT_RETRY_MAX);
        backoff.succeeded();
        assert_eq!(backoff.failed(), ACCEPT_RETRY_FIRST);
    }

    #[test]
    fn at_the_cap_accepting_pauses_until_a_connection_closes() {
        let listener = super::super::listen(
            "127.0.0.1:0".parse().unwrap(),
            super::super::ListenOptions::default(),
        )
        .unwrap();
        let addr = listener.local_addr().unwrap();
        let mut acceptor = Acceptor::new(listener);
        let _client = std::net::TcpStream::connect(addr).unwrap();
        assert!(matches!(acceptor.next(1, 1), Accepted::Wait));
        assert!(acceptor.paused, "paused at the cap");
        // The waiting client is still in the backlog.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            match acceptor.next(0, 1) {
                Accepted::Client(..) => break,
                _ if std::time::Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                other => panic!("no client accepted: {other:?}"),
            }
        }
    }
}
