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
    self, Buffer, Context, FIRST_RESERVED_TOKEN, Interest, ListenOptions, Reactor, ReadSide,
    Readiness, Service, TcpListener, TcpStream, TimerId, Token,
};

/// Bytes read from one connection per wake-up before yielding to the others.
pub const READ_BUDGET_BYTES: usize = 64 * 1024;
/// Connections accepted per wake-up before yielding.
pub const ACCEPTS_PER_WAKEUP: usize = 256;
/// The smallest connection buffer, in bytes, whatever the line limit: room
/// for an error line, and for raw echoes in few system calls.
pub const MIN_BUFFER_BYTES: usize = 4 * 1024;
/// Idle buffers kept for reuse; more are freed.
pub const SPARE_BUFFERS: usize = 256;

/// How long to wait before accepting again after an error such as running
/// out of file descriptors, which a retry right away would only repeat.
pub const ACCEPT_RETRY_DELAY: Duration = Duration::from_millis(100);

const LISTENER: Token = Token(FIRST_RESERVED_TOKEN - 1);
// Timer payloads: the idle sweep, an accept retry, or a connection's key + 1
// for its lingering close.
const IDLE_SWEEP: u64 = 0;
const ACCEPT_RETRY: u64 = u64::MAX;

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
    listener: Option<TcpListener>,
    local_addr: SocketAddr,
    config: ServerConfig,
    connections: Slab<Connection>,
    spare: Vec<Buffer>,
}

impl EventedServer {
    /// Binds `config.listen` and registers the listener with `reactor`.
    pub fn bind(reactor: &Reactor, config: ServerConfig) -> io::Result<Self> {
        let mut listener = reactor::listen(config.listen, ListenOptions::default())?;
        reactor
            .registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        Ok(Self {
            local_addr: listener.local_addr()?,
            listener: Some(listener),
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
        let Some(listener) = self.listener.as_ref() else {
            return;
        };
        for _ in 0..ACCEPTS_PER_WAKEUP {
            let mut stream = match listener.accept() {
                Ok((stream, _)) => stream,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted
                            | io::ErrorKind::ConnectionAborted
                            | io::ErrorKind::ConnectionReset
                    ) =>
                {
                    continue;
                }
                // Out of descriptors, say: the pending connections raise no
                // new edge, so come back for them after a pause.
                Err(_) => {
                    ctx.set_timer_after(ACCEPT_RETRY_DELAY, ACCEPT_RETRY);
                    return;
                }
            };
            let _ = reactor::prepare_accepted(&stream);
            let entry = self.connections.vacant_entry();
            let token = Token(entry.key());
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
        ctx.defer(LISTENER);
    }

    fn close(&mut self, ctx: &mut Context<'_>, key: usize) {
        if let Some(mut conn) = self.connections.try_remove(key) {
            let _ = ctx.registry().deregister(&mut conn.stream);
            if let Some(timer) = conn.linger {
                ctx.cancel_timer(timer);
            }
            self.recycle(conn.input.take());
            self.recycle(conn.output.take());
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
        ctx.set_timer_after(sweep_interval(self.config.idle_timeout), IDLE_SWEEP);
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
                ctx.defer(Token(key));
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
        conn.linger = Some(ctx.set_timer_after(super::CLOSE_LINGER, key as u64 + 1));
    }
    input.clear();
    let discarded = conn.read.fill(input, &mut conn.stream, READ_BUDGET_BYTES);
    input.clear();
    match discarded {
        Ok(n) => conn.discarded += n,
        Err(_) => return false,
    }
    if conn.read.can_read() {
        ctx.defer(Token(key));
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
        ctx.set_timer_after(sweep_interval(self.config.idle_timeout), IDLE_SWEEP);
    }

    fn on_ready(&mut self, ctx: &mut Context<'_>, token: Token, readiness: Readiness) {
        if token == LISTENER {
            self.accept(ctx);
            return;
        }
        let key = token.0;
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
        match payload {
            IDLE_SWEEP => return self.sweep_idle(ctx),
            ACCEPT_RETRY => return self.accept(ctx),
            _ => {}
        }
        // A lingering close's deadline; the key may have been reused since.
        let key = (payload - 1) as usize;
        if self
            .connections
            .get(key)
            .is_some_and(|c| c.linger == Some(id))
        {
            self.close(ctx, key);
        }
    }

    fn on_shutdown(&mut self, ctx: &mut Context<'_>) {
        if let Some(mut listener) = self.listener.take() {
            let _ = ctx.registry().deregister(&mut listener);
        }
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
        self.listener.is_none() && self.connections.is_empty()
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
