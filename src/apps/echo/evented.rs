//! The evented model: every client on one thread, as a [`Service`] on the
//! reactor, driven by the same [`Framer`] as the blocking models.
//!
//! A connection holds buffers only while it has bytes in flight: when both
//! are empty at the end of a wake-up they go back to a small pool. Clients
//! that wait between lines (most of them, most of the time) then cost a
//! socket and a few words, not two buffers, which is what lets one thread
//! hold thousands of them in little memory. Output is bounded: when a client
//! does not read its echoes, the server stops reading that client.

use std::io;
use std::net::{Shutdown, SocketAddr};
use std::time::{Duration, Instant};

use slab::Slab;

use super::ServerConfig;
use super::line::{Framer, Step};
use super::session::error_line;
use crate::reactor::{
    self, Acceptor, Buffer, Context, Interest, Kind, ListenOptions, Reactor, ReadSide, Readiness,
    Service, TcpStream, TimerId, Token,
};

/// Bytes read from one connection per wake-up before yielding to the others.
pub const READ_BUDGET_BYTES: usize = 64 * 1024;
/// Connections served at once: no cap of its own, since holding thousands of
/// idle clients is this model's point; the open-files limit bounds them, and
/// running into it is retried on a timer.
pub const MAX_CONNECTIONS: usize = usize::MAX;
/// The smallest connection buffer, in bytes, whatever the line limit: room
/// for an error line, and for raw echoes in few system calls.
pub const MIN_BUFFER_BYTES: usize = 4 * 1024;
/// Idle buffers kept for reuse; more are freed.
pub const SPARE_BUFFERS: usize = 256;

/// What a token of the evented server stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Socket {
    /// The listener (key 0).
    Listener,
    /// Connection `key`.
    Connection,
}

impl Kind for Socket {
    const ALL: &'static [Self] = &[Self::Listener, Self::Connection];
}

/// What a timer of the evented server stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    /// The periodic sweep of idle connections.
    IdleSweep,
    /// Accepting again after an accept error.
    AcceptRetry,
    /// Connection `key`'s lingering close is over.
    Linger,
}

impl Kind for Timer {
    const ALL: &'static [Self] = &[Self::IdleSweep, Self::AcceptRetry, Self::Linger];
}

struct Connection {
    stream: TcpStream,
    read: ReadSide,
    framer: Framer,
    input: Option<Buffer>,
    output: Option<Buffer>,
    /// `fim` was echoed, the input ended or the protocol was broken: close
    /// once the output is written.
    ending: bool,
    /// The lingering close's deadline, once the sending side is shut.
    linger: Option<TimerId>,
    /// Client bytes discarded while lingering.
    discarded: usize,
    last_active: Instant,
}

/// The evented echo server: a listener and its connections.
pub struct EventedServer {
    acceptor: Acceptor,
    local_addr: SocketAddr,
    config: ServerConfig,
    connections: Slab<Connection>,
    spare: Vec<Buffer>,
}

impl EventedServer {
    /// Binds `config.listen` and registers the listener with `reactor`.
    pub fn bind(reactor: &Reactor, config: ServerConfig) -> io::Result<Self> {
        let listener = reactor::listen(config.listen, ListenOptions::default())?;
        let local_addr = listener.local_addr()?;
        let mut acceptor = Acceptor::new(listener).retry_on_timer(Timer::AcceptRetry.timer(0));
        acceptor.register(reactor.registry(), Socket::Listener.token(0))?;
        Ok(Self {
            local_addr,
            acceptor,
            config,
            connections: Slab::new(),
            spare: Vec::new(),
        })
    }

    /// The bound address (the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        self.connections.len()
    }

    fn accept(&mut self, ctx: &mut Context<'_>) {
        while let Some((mut stream, _)) =
            self.acceptor
                .accept(ctx, self.connections.len(), MAX_CONNECTIONS)
        {
            let entry = self.connections.vacant_entry();
            let token = Socket::Connection.token(entry.key());
            if ctx
                .registry()
                .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
                .is_err()
            {
                continue;
            }
            entry.insert(Connection {
                stream,
                read: ReadSide::new(),
                framer: Framer::with_max_line(self.config.framing, self.config.max_line_bytes),
                input: None,
                output: None,
                ending: false,
                linger: None,
                discarded: 0,
                last_active: ctx.now(),
            });
        }
    }

    fn close(&mut self, ctx: &mut Context<'_>, key: usize) {
        if let Some(mut conn) = self.connections.try_remove(key) {
            let _ = ctx.registry().deregister(&mut conn.stream);
            if let Some(timer) = conn.linger {
                ctx.cancel_timer(timer);
            }
            self.recycle(conn.input.take());
            self.recycle(conn.output.take());
            self.acceptor.on_connection_closed(ctx);
        }
    }

    fn recycle(&mut self, buffer: Option<Buffer>) {
        if let Some(mut buffer) = buffer {
            if self.spare.len() < SPARE_BUFFERS {
                buffer.clear();
                self.spare.push(buffer);
            }
        }
    }

    fn take_buffer(&mut self) -> Buffer {
        self.spare.pop().unwrap_or_else(|| {
            Buffer::with_capacity(self.config.max_line_bytes.max(MIN_BUFFER_BYTES))
        })
    }

    /// Reads, echoes and writes until the connection has nothing more to do
    /// this wake-up. Returns false when it must be closed now.
    fn drive(&mut self, ctx: &mut Context<'_>, key: usize) -> bool {
        let mut input = self.connections[key].input.take();
        let mut output = self.connections[key].output.take();
        let input_buf = input.get_or_insert_with(|| self.take_buffer());
        let output_buf = output.get_or_insert_with(|| self.take_buffer());
        let conn = &mut self.connections[key];
        let alive = pump(conn, input_buf, output_buf, ctx, key);
        if !input_buf.is_empty() || !output_buf.is_empty() {
            conn.input = input;
            conn.output = output;
        } else {
            self.recycle(input);
            self.recycle(output);
        }
        alive
    }

    fn sweep_idle(&mut self, ctx: &mut Context<'_>) {
        let now = ctx.now();
        let idle: Vec<usize> = self
            .connections
            .iter()
            .filter(|(_, c)| now.duration_since(c.last_active) >= self.config.idle_timeout)
            .map(|(key, _)| key)
            .collect();
        for key in idle {
            self.close(ctx, key);
        }
        ctx.set_timer_after(
            sweep_interval(self.config.idle_timeout),
            Timer::IdleSweep.timer(0),
        );
    }
}

fn sweep_interval(idle_timeout: Duration) -> Duration {
    (idle_timeout / 4).max(Duration::from_millis(100))
}

/// One connection's work for one wake-up: echo what is buffered, write,
/// read more, until nothing moves. False when the connection is done.
fn pump(
    conn: &mut Connection,
    input: &mut Buffer,
    output: &mut Buffer,
    ctx: &mut Context<'_>,
    key: usize,
) -> bool {
    let mut budget = READ_BUDGET_BYTES;
    loop {
        echo_buffered(conn, input, output);
        match output.write_to(&mut conn.stream) {
            Ok(_) => {}
            Err(_) => return false,
        }
        if conn.ending {
            // Every echo must be out first; a writable edge brings us back.
            return !output.is_empty() || linger(conn, input, ctx, key);
        }
        if budget == 0 {
            if conn.read.can_read() {
                ctx.defer(Socket::Connection.token(key));
            }
            return true;
        }
        let was_eof = conn.read.eof;
        let n = match conn.read.fill(input, &mut conn.stream, budget) {
            Ok(n) => n,
            Err(_) => return false,
        };
        budget -= n;
        if n > 0 {
            conn.last_active = ctx.now();
        } else if was_eof || !conn.read.eof {
            // Nothing came in: wait for the next readiness event.
            return true;
        }
    }
}

/// The lingering close (see `blocking::linger_close` for why): shut the
/// sending side, then discard the client's input until it closes, the
/// linger timer fires or too much came. False when it is time to close.
fn linger(conn: &mut Connection, input: &mut Buffer, ctx: &mut Context<'_>, key: usize) -> bool {
    if conn.linger.is_none() {
        if conn.stream.shutdown(Shutdown::Write).is_err() {
            return false;
        }
        conn.linger = Some(ctx.set_timer_after(super::CLOSE_LINGER, Timer::Linger.timer(key)));
    }
    input.clear();
    let discarded = conn.read.fill(input, &mut conn.stream, READ_BUDGET_BYTES);
    input.clear();
    match discarded {
        Ok(n) => conn.discarded += n,
        Err(_) => return false,
    }
    if conn.read.can_read() {
        ctx.defer(Socket::Connection.token(key));
    }
    !conn.read.eof && conn.discarded < super::CLOSE_LINGER_BYTES
}

/// Moves every echo the framer allows from `input` to `output`.
fn echo_buffered(conn: &mut Connection, input: &mut Buffer, output: &mut Buffer) {
    while !conn.ending {
        let eof = conn.read.eof;
        match conn.framer.next(input.as_slice(), output.free(), eof) {
            Ok(Step::Echo(len)) => {
                output.push(&input.as_slice()[..len]);
                input.consume(len);
            }
            Ok(Step::End(len)) => {
                output.push(&input.as_slice()[..len]);
                input.consume(len);
                conn.ending = true;
            }
            Ok(Step::NeedRoom) => return,
            Ok(Step::NeedMore) => {
                conn.ending = eof;
                return;
            }
            Err(error) => {
                // The error line goes out if it fits; the close follows either way.
                output.push(error_line(&error).as_bytes());
                input.clear();
                conn.ending = true;
            }
        }
    }
}

impl Service for EventedServer {
    fn on_start(&mut self, ctx: &mut Context<'_>) {
        ctx.set_timer_after(
            sweep_interval(self.config.idle_timeout),
            Timer::IdleSweep.timer(0),
        );
    }

    fn on_ready(&mut self, ctx: &mut Context<'_>, token: Token, readiness: Readiness) {
        let key = match Socket::of_token(token) {
            Some((Socket::Listener, _)) => return self.accept(ctx),
            Some((Socket::Connection, key)) => key,
            None => return,
        };
        let Some(conn) = self.connections.get_mut(key) else {
            return;
        };
        if readiness.error {
            self.close(ctx, key);
            return;
        }
        conn.read.note(readiness);
        if !self.drive(ctx, key) {
            self.close(ctx, key);
        }
    }

    fn on_timer(&mut self, ctx: &mut Context<'_>, id: TimerId, payload: u64) {
        let key = match Timer::of_timer(payload) {
            Some((Timer::IdleSweep, _)) => return self.sweep_idle(ctx),
            Some((Timer::AcceptRetry, _)) => return self.acceptor.on_retry_timer(ctx),
            Some((Timer::Linger, key)) => key,
            None => return,
        };
        // A lingering close's deadline; the key may have been reused since.
        if self
            .connections
            .get(key)
            .is_some_and(|c| c.linger == Some(id))
        {
            self.close(ctx, key);
        }
    }

    fn on_shutdown(&mut self, ctx: &mut Context<'_>) {
        self.acceptor.close();
        // Echo what each client sent already, as if its input had ended
        // there, then close it.
        let keys: Vec<usize> = self.connections.iter().map(|(key, _)| key).collect();
        for key in keys {
            self.connections[key].read.eof = true;
            if !self.drive(ctx, key) {
                self.close(ctx, key);
            }
        }
    }

    fn is_drained(&self) -> bool {
        !self.acceptor.is_open() && self.connections.is_empty()
    }
}

/// Runs the evented server until SIGINT or SIGTERM; `on_listening` is called
/// with the bound address once connections are accepted.
pub fn serve(config: ServerConfig, on_listening: impl FnOnce(SocketAddr)) -> io::Result<()> {
    let mut reactor = Reactor::new()?;
    reactor.watch_signals()?;
    reactor.set_drain_timeout(super::DRAIN_TIMEOUT);
    let mut server = EventedServer::bind(&reactor, config)?;
    on_listening(server.local_addr());
    reactor.run(&mut server)
}
