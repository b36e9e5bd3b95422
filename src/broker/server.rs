//! The broker on the reactor: owns the listener and the connections, feeds
//! received bytes to the [`Broker`] core and writes what it queues.
//!
//! Writes are batched: when the core queues frames for a connection, its
//! token is deferred, so it is flushed once on the next loop turn (after
//! that turn's poll) with every frame queued until then, in as few `write`
//! calls as the socket takes. Reads are capped per wake-up so that one busy publisher cannot
//! starve the rest.
//!
//! With [`bind_mqtt`](BrokerServer::bind_mqtt) a second listener speaks
//! MQTT 3.1.1: its connections go to the same core, which tells the two
//! protocols apart by how each connection was made.
//!
//! At most `--max-connections` clients (both listeners together) are served
//! at once; the rest wait in the listen backlog. An accept error (out of
//! file descriptors, say) is retried on a backoff timer.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use super::core::{Broker, BrokerConfig};
use super::frame::LENGTH_PREFIX_BYTES;
use super::tree::ClientId;
use crate::reactor::{
    self, Acceptor, Buffer, Context, Interest, Kind, ListenOptions, Reactor, ReadStop, Readiness,
    Service, TcpStream, TimerId, Token,
};

/// Bytes read from one connection per wake-up before yielding to the others.
pub const READ_BUDGET_BYTES: usize = 256 * 1024;
/// Clients served at once unless `--max-connections` says otherwise;
/// further ones wait in the listen backlog.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// The longest a connection that was sent an error stays open, however
/// it reads.
pub const ERROR_LINGER_MAX: Duration = Duration::from_secs(60);
/// How long a graceful stop waits for outbound queues to drain.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Shortest and longest period of the sweep that finds stalled readers.
const SWEEP_PERIOD_BOUNDS: (Duration, Duration) =
    (Duration::from_millis(50), Duration::from_secs(1));

/// What a token of the broker stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Socket {
    /// The native protocol's listener (key 0).
    Listener,
    /// The MQTT listener (key 0).
    MqttListener,
    /// The connection of client `key` (its [`ClientId`]).
    Client,
}

impl Kind for Socket {
    const ALL: &'static [Self] = &[Self::Listener, Self::MqttListener, Self::Client];
}

/// What a timer of the broker stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    /// The periodic sweep that finds stalled readers.
    Sweep,
    /// Client `key` was sent an error: close it unless it reads on.
    Linger,
    /// Accepting native clients again after an accept error.
    AcceptRetry,
    /// Accepting MQTT clients again after an accept error.
    MqttAcceptRetry,
}

impl Kind for Timer {
    const ALL: &'static [Self] = &[
        Self::Sweep,
        Self::Linger,
        Self::AcceptRetry,
        Self::MqttAcceptRetry,
    ];
}

struct Connection {
    stream: TcpStream,
    inbound: Buffer,
    linger: Option<Linger>,
    mqtt: bool,
}

/// A connection that was sent an error, waiting for it to read it.
struct Linger {
    timer: TimerId,
    /// The outbox's written count when the timer was armed.
    written: u64,
    /// When it must be closed whatever it reads.
    until: std::time::Instant,
}

/// The broker service: a listener, its connections and the core.
pub struct BrokerServer {
    acceptor: Acceptor,
    local_addr: SocketAddr,
    mqtt_acceptor: Option<Acceptor>,
    max_connections: usize,
    core: Broker,
    connections: Vec<Option<Connection>>,
    open: usize,
    touched: Vec<ClientId>,
}

impl BrokerServer {
    /// Binds `addr` and registers the listener with `reactor`.
    pub fn bind(reactor: &Reactor, addr: SocketAddr, config: BrokerConfig) -> io::Result<Self> {
        let listener = reactor::listen(addr, ListenOptions::default())?;
        let local_addr = listener.local_addr()?;
        let mut acceptor = Acceptor::new(listener).retry_on_timer(Timer::AcceptRetry.timer(0));
        acceptor.register(reactor.registry(), Socket::Listener.token(0))?;
        Ok(Self {
            local_addr,
            acceptor,
            mqtt_acceptor: None,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            core: Broker::new(config),
            connections: Vec::new(),
            open: 0,
            touched: Vec::new(),
        })
    }

    /// Also listens for MQTT 3.1.1 on `addr`; returns the bound address.
    pub fn bind_mqtt(&mut self, reactor: &Reactor, addr: SocketAddr) -> io::Result<SocketAddr> {
        let listener = reactor::listen(addr, ListenOptions::default())?;
        let bound = listener.local_addr()?;
        let mut acceptor = Acceptor::new(listener).retry_on_timer(Timer::MqttAcceptRetry.timer(0));
        acceptor.register(reactor.registry(), Socket::MqttListener.token(0))?;
        self.mqtt_acceptor = Some(acceptor);
        Ok(bound)
    }

    /// Serves at most `max` clients at once (both listeners together).
    pub fn set_max_connections(&mut self, max: usize) {
        self.max_connections = max;
    }

    /// The bound address (the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The core, for its counters.
    pub fn core(&self) -> &Broker {
        &self.core
    }

    fn accept(&mut self, ctx: &mut Context<'_>, mqtt: bool) {
        loop {
            let acceptor = if mqtt {
                self.mqtt_acceptor.as_mut()
            } else {
                Some(&mut self.acceptor)
            };
            let Some((mut stream, _)) =
                acceptor.and_then(|a| a.accept(ctx, self.open, self.max_connections))
            else {
                return;
            };
            let id = if mqtt {
                self.core.connect_mqtt(ctx.now())
            } else {
                self.core.connect()
            };
            let token = Socket::Client.token(id.0);
            if ctx
                .registry()
                .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
                .is_err()
            {
                self.core.disconnect(id);
                continue;
            }
            if self.connections.len() <= id.0 {
                self.connections.resize_with(id.0 + 1, || None);
            }
            let capacity = if mqtt {
                self.core.config().max_mqtt_packet_bytes
            } else {
                self.core.config().max_frame_bytes + LENGTH_PREFIX_BYTES
            };
            self.connections[id.0] = Some(Connection {
                stream,
                inbound: Buffer::with_capacity(capacity),
                linger: None,
                mqtt,
            });
            self.open += 1;
        }
    }

    fn close(&mut self, ctx: &mut Context<'_>, id: ClientId) {
        if let Some(mut conn) = self.connections.get_mut(id.0).and_then(Option::take) {
            let _ = ctx.registry().deregister(&mut conn.stream);
            if let Some(linger) = conn.linger {
                ctx.cancel_timer(linger.timer);
            }
            self.core.disconnect(id);
            self.open -= 1;
            self.acceptor.on_connection_closed(ctx);
            if let Some(acceptor) = self.mqtt_acceptor.as_mut() {
                acceptor.on_connection_closed(ctx);
            }
        }
    }

    /// Reads what the connection has (up to the budget) and hands it to the
    /// core. Returns false when the connection must be closed now.
    fn read(&mut self, ctx: &mut Context<'_>, id: ClientId) -> bool {
        let Some(conn) = self.connections[id.0].as_mut() else {
            return true;
        };
        let mut budget = READ_BUDGET_BYTES;
        loop {
            if self.core.is_closing(id) {
                return true;
            }
            let (n, stop) = match conn.inbound.read_from(&mut conn.stream, budget) {
                Ok(r) => r,
                Err(_) => return false,
            };
            budget -= n.min(budget);
            let used = if conn.mqtt {
                self.core
                    .receive_mqtt(id, conn.inbound.as_slice(), ctx.now())
            } else {
                self.core.receive(id, conn.inbound.as_slice())
            };
            conn.inbound.consume(used);
            match stop {
                ReadStop::WouldBlock => return true,
                ReadStop::Eof => return false,
                ReadStop::Full => {}
                ReadStop::Budget => {
                    ctx.defer(Socket::Client.token(id.0));
                    return true;
                }
            }
            if budget == 0 {
                ctx.defer(Socket::Client.token(id.0));
                return true;
            }
        }
    }

    /// Writes the connection's outbox. Returns false when it must be closed now.
    fn flush(&mut self, ctx: &mut Context<'_>, id: ClientId) -> bool {
        let Some(conn) = self.connections[id.0].as_mut() else {
            return true;
        };
        let linger_for = self.core.config().error_linger;
        let Some(outbox) = self.core.outbox_mut(id) else {
            return false;
        };
        let result = outbox.write_to(&mut conn.stream);
        let written = outbox.bytes_written();
        match result {
            Err(_) => false,
            Ok(empty) => {
                if self.core.is_closing(id) {
                    if empty {
                        return false;
                    }
                    if conn.linger.is_none() {
                        conn.linger = Some(Linger {
                            timer: ctx.set_timer_after(linger_for, Timer::Linger.timer(id.0)),
                            written,
                            until: ctx.now() + ERROR_LINGER_MAX,
                        });
                    }
                }
                true
            }
        }
    }

    /// A quarter of the slow-consumer timeout, within bounds: a stalled
    /// reader is cut at most a quarter late.
    fn sweep_period(&self) -> Duration {
        let (shortest, longest) = SWEEP_PERIOD_BOUNDS;
        (self.core.config().slow_consumer_timeout / 4).clamp(shortest, longest)
    }

    /// Schedules a flush, on the next turn, of every connection the core
    /// queued frames for.
    fn schedule_flushes(&mut self, ctx: &mut Context<'_>) {
        self.core.take_touched(&mut self.touched);
        for id in self.touched.drain(..) {
            ctx.defer(Socket::Client.token(id.0));
        }
    }
}

impl Service for BrokerServer {
    fn on_start(&mut self, ctx: &mut Context<'_>) {
        ctx.set_timer_after(self.sweep_period(), Timer::Sweep.timer(0));
    }

    fn on_ready(&mut self, ctx: &mut Context<'_>, token: Token, readiness: Readiness) {
        let id = match Socket::of_token(token) {
            Some((Socket::Listener, _)) => return self.accept(ctx, false),
            Some((Socket::MqttListener, _)) => return self.accept(ctx, true),
            Some((Socket::Client, key)) => ClientId(key),
            None => return,
        };
        if self.connections.get(id.0).is_none_or(Option::is_none) {
            return;
        }
        let deferred = readiness == Readiness::default();
        if readiness.error || readiness.write_closed {
            self.close(ctx, id);
            self.schedule_flushes(ctx);
            return;
        }
        let mut alive = true;
        if readiness.readable || readiness.read_closed || deferred {
            alive = self.read(ctx, id);
        }
        // A deferred call is the batched flush; a writable event means
        // the socket took what was pending and has room again.
        if alive && (deferred || readiness.writable) {
            alive = self.flush(ctx, id);
        }
        if !alive {
            self.close(ctx, id);
        }
        self.schedule_flushes(ctx);
    }

    fn on_timer(&mut self, ctx: &mut Context<'_>, _id: TimerId, payload: u64) {
        let id = match Timer::of_timer(payload) {
            Some((Timer::Sweep, _)) => {
                let now = ctx.now();
                if self.core.cut_stalled(now) + self.core.expire_mqtt(now) > 0 {
                    self.schedule_flushes(ctx);
                }
                ctx.set_timer_after(self.sweep_period(), Timer::Sweep.timer(0));
                return;
            }
            Some((Timer::AcceptRetry, _)) => return self.acceptor.on_retry_timer(ctx),
            Some((Timer::MqttAcceptRetry, _)) => {
                if let Some(acceptor) = self.mqtt_acceptor.as_mut() {
                    acceptor.on_retry_timer(ctx);
                }
                return;
            }
            Some((Timer::Linger, key)) => ClientId(key),
            None => return,
        };
        // A linger timer: close the client unless it is still reading
        // towards its error frame.
        let Some(conn) = self.connections.get_mut(id.0).and_then(Option::as_mut) else {
            return;
        };
        let written = self.core.outbox_mut(id).map_or(0, |o| o.bytes_written());
        let linger_for = self.core.config().error_linger;
        let now = ctx.now();
        match conn.linger.as_mut() {
            Some(linger) if written != linger.written && now < linger.until => {
                linger.written = written;
                linger.timer = ctx.set_timer_after(linger_for, Timer::Linger.timer(id.0));
            }
            _ => {
                conn.linger = None;
                self.close(ctx, id);
            }
        }
    }

    fn on_shutdown(&mut self, ctx: &mut Context<'_>) {
        // Closing a listener also takes it out of the poll.
        self.acceptor.close();
        if let Some(acceptor) = self.mqtt_acceptor.as_mut() {
            acceptor.close();
        }
        for index in 0..self.connections.len() {
            let id = ClientId(index);
            let idle = self.core.outbox_mut(id).is_none_or(|o| o.is_empty());
            if self.connections[index].is_some() && idle {
                self.close(ctx, id);
            }
        }
    }

    fn is_drained(&self) -> bool {
        !self.acceptor.is_open()
            && !self.mqtt_acceptor.as_ref().is_some_and(Acceptor::is_open)
            && (0..self.connections.len())
                .all(|i| self.connections[i].is_none() || self.core.outbox_len(ClientId(i)) == 0)
    }
}

/// Runs a broker on `addr` (and MQTT on `mqtt`, when given) until SIGINT
/// or SIGTERM; `on_listening` is called with each bound address, native
/// first, once connections are accepted.
pub fn serve(
    addr: SocketAddr,
    mqtt: Option<SocketAddr>,
    config: BrokerConfig,
    max_connections: usize,
    mut on_listening: impl FnMut(SocketAddr),
) -> io::Result<()> {
    let mut reactor = Reactor::new()?;
    reactor.watch_signals()?;
    reactor.set_drain_timeout(DRAIN_TIMEOUT);
    let mut server = BrokerServer::bind(&reactor, addr, config)?;
    server.set_max_connections(max_connections);
    let mqtt_addr = match mqtt {
        Some(addr) => Some(server.bind_mqtt(&reactor, addr)?),
        None => None,
    };
    on_listening(server.local_addr());
    if let Some(addr) = mqtt_addr {
        on_listening(addr);
    }
    reactor.run(&mut server)
}
