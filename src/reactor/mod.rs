//! The event loop: one thread, one mio `Poll`, timers, signals and shutdown.
//!
//! The reactor is mechanism only. It knows sockets, readiness, deadlines and
//! shutdown, and never names a protocol, a backend or a topic. A service plugs
//! in through the [`Service`] trait; the [`Context`] handed to each callback
//! lets it register sockets, set and cancel timers, ask to be called again
//! (for work it capped) and stop the loop.
//!
//! Tokens: a service chooses its own tokens (usually keys of its own slab of
//! connections); every value below [`FIRST_RESERVED_TOKEN`] is the service's.
//! [`Kind`] packs a service's kinds of tokens and timers, and their keys,
//! into those numbers.
//!
//! The socket loops every service needs are here once, generic over the
//! stream where a TLS stream could stand for a socket: [`write_until_blocked`]
//! (the one write loop), [`Pipe`] (bytes both ways with backpressure and half
//! closes) and [`Acceptor`] (batches, a connection cap, retry after errors).
//!
//! One turn of the loop:
//! 1. poll for readiness, sleeping at most until the nearest timer
//!    (not at all when some work was deferred);
//! 2. when another thread called [`Handle::wake`], call [`Service::on_wake`]
//!    first, so that the messages it takes in (an operator's drain, a new
//!    configuration) hold for the sockets of the same turn;
//! 3. hand each event to [`Service::on_ready`], signals to
//!    [`Service::on_shutdown`] or [`Service::on_reload`];
//! 4. hand the tokens deferred before this turn's poll back to
//!    [`Service::on_ready`] with no new readiness (tokens deferred during this
//!    turn wait for the next one, after the next poll);
//! 5. fire expired timers through [`Service::on_timer`];
//! 6. after a shutdown, leave once the service is drained or the drain
//!    deadline passed.

mod accept;
mod buffer;
pub mod buffer_pool;
mod kind;
mod net;
mod pipe;
mod read_side;
mod timer;
mod write;

pub use accept::{ACCEPT_RETRY_FIRST, ACCEPT_RETRY_MAX, ACCEPTS_PER_WAKE, Acceptor, RetryBackoff};
pub use buffer::{Buffer, ReadStop, WriteStop};
pub use kind::{Kind, Lane};
pub use net::{DEFAULT_BACKLOG, ListenOptions, connect, finish_connect, listen, prepare_accepted};
pub use pipe::{Flow, HalfClose, Pipe, Pumped};
pub use read_side::ReadSide;
pub use timer::{TimerId, Timers};
pub use write::write_until_blocked;

pub use mio::net::{TcpListener, TcpStream, UdpSocket};
pub use mio::{Interest, Registry, Token};

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use mio::event::Event;
use mio::{Events, Poll, Waker};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;

/// Tokens from this value up belong to the reactor itself.
pub const FIRST_RESERVED_TOKEN: usize = usize::MAX - 15;
const SIGNAL_TOKEN: Token = Token(usize::MAX - 1);
const WAKER_TOKEN: Token = Token(usize::MAX - 2);

/// Readiness events delivered per `poll` call at most.
const EVENTS_PER_POLL: usize = 1024;

/// What the kernel said about one socket. All false for a deferred call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Readiness {
    /// Bytes (or a connection, or end of stream) can be read.
    pub readable: bool,
    /// Bytes can be written, or a non-blocking connect finished.
    pub writable: bool,
    /// The peer shut down its write side.
    pub read_closed: bool,
    /// Our write side is closed (peer reset or gone).
    pub write_closed: bool,
    /// The socket has a pending error.
    pub error: bool,
}

impl Readiness {
    fn from_event(event: &Event) -> Self {
        Self {
            readable: event.is_readable(),
            writable: event.is_writable(),
            read_closed: event.is_read_closed(),
            write_closed: event.is_write_closed(),
            error: event.is_error(),
        }
    }
}

/// A service that runs on the reactor.
pub trait Service {
    /// Called once when [`Reactor::run`] starts, before the first poll: the
    /// place to arm first timers (periodic work, health checks).
    fn on_start(&mut self, _ctx: &mut Context<'_>) {}

    /// A registered socket is ready, or a deferred token is handed back
    /// (then `readiness` is all false).
    fn on_ready(&mut self, ctx: &mut Context<'_>, token: Token, readiness: Readiness);

    /// A timer set through [`Context::set_timer`] expired.
    fn on_timer(&mut self, ctx: &mut Context<'_>, id: TimerId, payload: u64);

    /// SIGINT or SIGTERM (or [`Handle::shutdown`]): stop accepting, let the
    /// work in flight finish. The loop ends once [`Service::is_drained`].
    fn on_shutdown(&mut self, ctx: &mut Context<'_>);

    /// True when nothing is in flight any more.
    fn is_drained(&self) -> bool;

    /// SIGHUP (or [`Handle::reload`]): reread configuration. Ignored by default.
    fn on_reload(&mut self, _ctx: &mut Context<'_>) {}

    /// [`Handle::wake`] was called from another thread, for example after
    /// it queued a message for this service on a channel. Ignored by default.
    fn on_wake(&mut self, _ctx: &mut Context<'_>) {}
}

/// What a service may do from inside a callback.
pub struct Context<'a> {
    registry: &'a Registry,
    timers: &'a mut Timers,
    deferred: &'a mut Vec<Token>,
    now: Instant,
    stop: &'a mut bool,
}

impl Context<'_> {
    /// The poll registry, to register, reregister and deregister sockets.
    pub fn registry(&self) -> &Registry {
        self.registry
    }

    /// The time of this loop turn (read once per turn, after `poll` returns).
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Arms a timer that expires at `at` and hands `payload` back.
    pub fn set_timer(&mut self, at: Instant, payload: u64) -> TimerId {
        self.timers.set(at, payload)
    }

    /// Arms a timer that expires `after` from now.
    pub fn set_timer_after(&mut self, after: Duration, payload: u64) -> TimerId {
        self.timers.set(self.now + after, payload)
    }

    /// Disarms a timer; harmless when it already fired.
    pub fn cancel_timer(&mut self, id: TimerId) {
        self.timers.cancel(id);
    }

    /// Calls [`Service::on_ready`] for `token` again on the next turn, without
    /// sleeping: after the next poll, so that the events of every other socket
    /// come first. For work cut short by a per-wake-up cap: with edge-triggered
    /// readiness, the kernel will not report the same readiness twice.
    pub fn defer(&mut self, token: Token) {
        self.deferred.push(token);
    }

    /// Ends the loop after this turn, drained or not.
    pub fn stop(&mut self) {
        *self.stop = true;
    }
}

const REQUEST_SHUTDOWN: u8 = 1;
const REQUEST_RELOAD: u8 = 2;
const REQUEST_WAKE: u8 = 4;

/// Lets another thread ask a running reactor to shut down or reload.
#[derive(Clone)]
pub struct Handle {
    waker: Arc<Waker>,
    requests: Arc<AtomicU8>,
}

impl Handle {
    /// Same as SIGTERM for this reactor.
    pub fn shutdown(&self) {
        self.requests.fetch_or(REQUEST_SHUTDOWN, Ordering::SeqCst);
        let _ = self.waker.wake();
    }

    /// Same as SIGHUP for this reactor.
    pub fn reload(&self) {
        self.requests.fetch_or(REQUEST_RELOAD, Ordering::SeqCst);
        let _ = self.waker.wake();
    }

    /// Calls [`Service::on_wake`] on the reactor's thread.
    pub fn wake(&self) {
        self.requests.fetch_or(REQUEST_WAKE, Ordering::SeqCst);
        let _ = self.waker.wake();
    }
}

/// How long a shutdown waits for work in flight, unless the service says otherwise.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// One event loop.
pub struct Reactor {
    poll: Poll,
    events: Events,
    timers: Timers,
    deferred: Vec<Token>,
    signals: Option<Signals>,
    requests: Arc<AtomicU8>,
    waker: Arc<Waker>,
    drain_timeout: Duration,
}

impl Reactor {
    /// A reactor with no signal handling (see [`Reactor::watch_signals`]).
    pub fn new() -> io::Result<Self> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER_TOKEN)?);
        Ok(Self {
            poll,
            events: Events::with_capacity(EVENTS_PER_POLL),
            timers: Timers::new(),
            deferred: Vec::new(),
            signals: None,
            requests: Arc::new(AtomicU8::new(0)),
            waker,
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
        })
    }

    /// Turns SIGINT and SIGTERM into a graceful shutdown and SIGHUP into a reload.
    pub fn watch_signals(&mut self) -> io::Result<()> {
        let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP])?;
        self.poll
            .registry()
            .register(&mut signals, SIGNAL_TOKEN, Interest::READABLE)?;
        self.signals = Some(signals);
        Ok(())
    }

    /// Caps how long a shutdown waits for the service to drain.
    pub fn set_drain_timeout(&mut self, timeout: Duration) {
        self.drain_timeout = timeout;
    }

    /// The registry, to register listeners before [`Reactor::run`].
    pub fn registry(&self) -> &Registry {
        self.poll.registry()
    }

    /// A handle other threads use to stop or reload this reactor.
    pub fn handle(&self) -> Handle {
        Handle {
            waker: Arc::clone(&self.waker),
            requests: Arc::clone(&self.requests),
        }
    }

    /// Arms a timer before the loop starts (for example a first health check).
    pub fn set_timer(&mut self, at: Instant, payload: u64) -> TimerId {
        self.timers.set(at, payload)
    }

    /// Runs `service` until it is drained after a shutdown, or it calls
    /// [`Context::stop`]. A second shutdown request ends the loop at once.
    pub fn run<S: Service>(&mut self, service: &mut S) -> io::Result<()> {
        let mut stop = false;
        let mut drain_deadline: Option<Instant> = None;
        service.on_start(&mut Context {
            registry: self.poll.registry(),
            timers: &mut self.timers,
            deferred: &mut self.deferred,
            now: Instant::now(),
            stop: &mut stop,
        });
        loop {
            let now = Instant::now();
            let mut timeout = self.timers.poll_timeout(now);
            if let Some(deadline) = drain_deadline {
                let left = deadline.saturating_duration_since(now);
                timeout = Some(timeout.map_or(left, |t| t.min(left)));
            }
            // The tokens deferred so far are this turn's; those deferred from
            // now on wait for the next poll, so that a busy connection yields
            // to the sockets that became ready meanwhile.
            let due = std::mem::take(&mut self.deferred);
            if !due.is_empty() {
                timeout = Some(Duration::ZERO);
            }
            if let Err(e) = self.poll.poll(&mut self.events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    self.deferred.splice(0..0, due);
                    continue;
                }
                return Err(e);
            }
            let now = Instant::now();
            let mut shutdown = false;
            let mut reload = false;
            let mut ctx = Context {
                registry: self.poll.registry(),
                timers: &mut self.timers,
                deferred: &mut self.deferred,
                now,
                stop: &mut stop,
            };
            // Messages for the service (an operator's drain, a new
            // configuration) that came before this poll returned are taken
            // in before the turn's sockets: a request in the same batch is
            // then served under them, not under what they replace.
            if self.events.iter().any(|event| event.token() == WAKER_TOKEN) {
                let requests = self.requests.swap(0, Ordering::SeqCst);
                shutdown |= requests & REQUEST_SHUTDOWN != 0;
                reload |= requests & REQUEST_RELOAD != 0;
                if requests & REQUEST_WAKE != 0 {
                    service.on_wake(&mut ctx);
                }
            }
            for event in self.events.iter() {
                match event.token() {
                    SIGNAL_TOKEN => {
                        if let Some(signals) = self.signals.as_mut() {
                            for signal in signals.pending() {
                                match signal {
                                    SIGHUP => reload = true,
                                    _ => shutdown = true,
                                }
                            }
                        }
                    }
                    WAKER_TOKEN => {}
                    token => service.on_ready(&mut ctx, token, Readiness::from_event(event)),
                }
            }
            if reload {
                service.on_reload(&mut ctx);
            }
            if shutdown {
                if drain_deadline.is_some() {
                    return Ok(());
                }
                drain_deadline = Some(now + self.drain_timeout);
                service.on_shutdown(&mut ctx);
            }
            for token in due {
                service.on_ready(&mut ctx, token, Readiness::default());
            }
            while let Some((id, payload)) = ctx.timers.pop_expired(now) {
                service.on_timer(&mut ctx, id, payload);
            }
            if stop {
                return Ok(());
            }
            if let Some(deadline) = drain_deadline {
                if service.is_drained() || now >= deadline {
                    return Ok(());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
