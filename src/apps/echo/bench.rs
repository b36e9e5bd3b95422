//! The load generator behind `distloop echo bench`: many clients on one
//! reactor thread, each with one line in flight, closed loop or at a fixed
//! offered load, checking every echoed byte.
//!
//! Clients connect first (a bounded number of connects at a time); the
//! clock starts once all are connected (or failed). Round trips that end in
//! the warm-up are not counted; the rest are, until the duration is over.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::latency::{LatencyLog, Pacer};
use crate::reactor::{
    self, Context, Interest, Reactor, Readiness, Service, TcpStream, TimerId, Token,
};

/// Non-blocking connects in progress at once.
pub const CONNECTS_IN_FLIGHT: usize = 256;
/// How long the connect phase may take; clients still connecting then fail.
pub const CONNECT_PHASE_LIMIT: Duration = Duration::from_secs(60);

const END_TIMER: u64 = u64::MAX;
const CONNECT_PHASE_TIMER: u64 = u64::MAX - 1;

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// The echo server.
    pub server: SocketAddr,
    /// Concurrent clients, each with one connection.
    pub clients: usize,
    /// Bytes per line, its `\n` included.
    pub line_bytes: usize,
    /// Total offered round trips per second; `None` for a closed loop.
    pub rate: Option<f64>,
    /// Round trips ending this soon after the start are not counted.
    pub warmup: Duration,
    /// How long round trips are counted.
    pub duration: Duration,
}

/// What was measured.
#[derive(Debug, Clone)]
pub struct BenchReport {
    /// Clients asked for.
    pub clients: usize,
    /// Clients that connected.
    pub connected: usize,
    /// Clients with at least one counted round trip (a sequential server
    /// serves one and starves the rest).
    pub served: usize,
    /// Round trips counted.
    pub round_trips: usize,
    /// How long they were counted.
    pub elapsed: Duration,
    /// Failed connects, resets and wrong echoes.
    pub errors: usize,
    /// The offered load, `None` for a closed loop.
    pub rate: Option<f64>,
    /// Round-trip times.
    pub latencies: LatencyLog,
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut log = self.latencies.clone();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let offered = self
            .rate
            .map_or("closed".to_string(), |r| format!("{r:.0}"));
        let rate = self.round_trips as f64 / self.elapsed.as_secs_f64().max(1e-9);
        write!(
            f,
            "clients={} connected={} served={} offered={offered} round_trips={} \
             rate={rate:.1} p50_ms={:.3} p90_ms={:.3} p99_ms={:.3} max_ms={:.3} errors={}",
            self.clients,
            self.connected,
            self.served,
            self.round_trips,
            ms(log.percentile(50.0)),
            ms(log.percentile(90.0)),
            ms(log.percentile(99.0)),
            ms(log.percentile(100.0)),
            self.errors,
        )
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Phase {
    Connecting,
    Idle,
    /// A line is out since `since` (when it was due); `sent` bytes written,
    /// `received` echoed back.
    InFlight {
        since: Instant,
        sent: usize,
        received: usize,
    },
}

struct BenchClient {
    stream: Option<TcpStream>,
    phase: Phase,
    pacer: Pacer,
    counted: usize,
}

struct LoadGenerator {
    config: BenchConfig,
    line: Vec<u8>,
    clients: Vec<BenchClient>,
    next_to_connect: usize,
    connecting: usize,
    connected: usize,
    errors: usize,
    count_from: Option<Instant>,
    count_until: Option<Instant>,
    round_trips: usize,
    latencies: LatencyLog,
    scratch: Vec<u8>,
}

impl LoadGenerator {
    fn new(config: BenchConfig) -> Self {
        let mut line: Vec<u8> = (0..config.line_bytes.saturating_sub(1))
            .map(|i| b'a' + (i % 26) as u8)
            .collect();
        line.push(b'\n');
        Self {
            line,
            clients: Vec::with_capacity(config.clients),
            next_to_connect: 0,
            connecting: 0,
            connected: 0,
            errors: 0,
            count_from: None,
            count_until: None,
            round_trips: 0,
            latencies: LatencyLog::new(),
            scratch: vec![0; 64 * 1024],
            config,
        }
    }

    fn connect_more(&mut self, ctx: &mut Context<'_>) {
        while self.connecting < CONNECTS_IN_FLIGHT && self.next_to_connect < self.config.clients {
            let index = self.next_to_connect;
            self.next_to_connect += 1;
            let mut client = BenchClient {
                stream: None,
                phase: Phase::Connecting,
                pacer: Pacer::Closed,
                counted: 0,
            };
            match reactor::connect(self.config.server) {
                Ok(mut stream) => {
                    let interest = Interest::READABLE | Interest::WRITABLE;
                    if ctx
                        .registry()
                        .register(&mut stream, Token(index), interest)
                        .is_ok()
                    {
                        client.stream = Some(stream);
                        self.connecting += 1;
                    } else {
                        self.errors += 1;
                    }
                }
                Err(_) => self.errors += 1,
            }
            self.clients.push(client);
        }
        if self.connecting == 0 && self.count_from.is_none() {
            self.start_clock(ctx);
        }
    }

    fn start_clock(&mut self, ctx: &mut Context<'_>) {
        let start = ctx.now();
        self.count_from = Some(start + self.config.warmup);
        self.count_until = Some(start + self.config.warmup + self.config.duration);
        ctx.set_timer(start + self.config.warmup + self.config.duration, END_TIMER);
        let clients = self.config.clients;
        for index in 0..self.clients.len() {
            if self.clients[index].stream.is_some() {
                self.clients[index].pacer = Pacer::new(self.config.rate, index, clients, start);
                self.send_when_due(ctx, index, false);
            }
        }
    }

    fn fail(&mut self, ctx: &mut Context<'_>, index: usize) {
        let client = &mut self.clients[index];
        if let Some(mut stream) = client.stream.take() {
            let _ = ctx.registry().deregister(&mut stream);
            self.errors += 1;
            if client.phase == Phase::Connecting {
                self.connecting -= 1;
            }
        }
    }

    /// Starts the next round trip if it is due, else arms a timer for it.
    /// `after_echo`: called as the previous echo came back (see [`Pacer::take`]).
    fn send_when_due(&mut self, ctx: &mut Context<'_>, index: usize, after_echo: bool) {
        let client = &mut self.clients[index];
        if client.stream.is_none() || client.phase != Phase::Idle {
            return;
        }
        match client.pacer.take(Instant::now(), after_echo) {
            Some(since) => {
                client.phase = Phase::InFlight {
                    since,
                    sent: 0,
                    received: 0,
                };
                self.write(ctx, index);
            }
            None => {
                if let Some(due) = client.pacer.due() {
                    ctx.set_timer(due, index as u64);
                }
            }
        }
    }

    fn write(&mut self, ctx: &mut Context<'_>, index: usize) {
        let client = &mut self.clients[index];
        let (Some(stream), Phase::InFlight { sent, .. }) =
            (client.stream.as_mut(), &mut client.phase)
        else {
            return;
        };
        while *sent < self.line.len() {
            match stream.write(&self.line[*sent..]) {
                Ok(n) => *sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.fail(ctx, index),
            }
        }
    }

    fn read(&mut self, ctx: &mut Context<'_>, index: usize) {
        loop {
            let client = &mut self.clients[index];
            let Some(stream) = client.stream.as_mut() else {
                return;
            };
            let n = match stream.read(&mut self.scratch) {
                Ok(0) => return self.fail(ctx, index),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return self.fail(ctx, index),
            };
            let Phase::InFlight {
                since, received, ..
            } = &mut client.phase
            else {
                return self.fail(ctx, index);
            };
            let expected = self.line.get(*received..*received + n);
            if expected != Some(&self.scratch[..n]) {
                return self.fail(ctx, index);
            }
            *received += n;
            if *received == self.line.len() {
                let now = Instant::now();
                let since = *since;
                client.phase = Phase::Idle;
                let counting = self.count_from.is_some_and(|from| now >= from)
                    && self.count_until.is_some_and(|until| now <= until);
                if counting {
                    client.counted += 1;
                    self.round_trips += 1;
                    self.latencies.record(now - since);
                }
                self.send_when_due(ctx, index, true);
            }
        }
    }
}

impl Service for LoadGenerator {
    fn on_start(&mut self, ctx: &mut Context<'_>) {
        ctx.set_timer_after(CONNECT_PHASE_LIMIT, CONNECT_PHASE_TIMER);
        self.connect_more(ctx);
    }

    fn on_ready(&mut self, ctx: &mut Context<'_>, token: Token, readiness: Readiness) {
        let index = token.0;
        let Some(client) = self.clients.get_mut(index) else {
            return;
        };
        let Some(stream) = client.stream.as_ref() else {
            return;
        };
        if client.phase == Phase::Connecting {
            match reactor::finish_connect(stream, readiness.writable) {
                Ok(true) => {
                    client.phase = Phase::Idle;
                    self.connecting -= 1;
                    self.connected += 1;
                    if self.count_from.is_some() {
                        // A straggler that connected after the clock started.
                        client.pacer =
                            Pacer::new(self.config.rate, index, self.config.clients, ctx.now());
                        self.send_when_due(ctx, index, false);
                    }
                    self.connect_more(ctx);
                }
                Ok(false) => {}
                Err(_) => {
                    self.fail(ctx, index);
                    self.connect_more(ctx);
                }
            }
            return;
        }
        if readiness.writable {
            self.write(ctx, index);
        }
        if readiness.readable || readiness.read_closed || readiness.error {
            self.read(ctx, index);
        }
    }

    fn on_timer(&mut self, ctx: &mut Context<'_>, _id: TimerId, payload: u64) {
        match payload {
            END_TIMER => ctx.stop(),
            CONNECT_PHASE_TIMER => {
                for index in 0..self.clients.len() {
                    if self.clients[index].phase == Phase::Connecting {
                        self.fail(ctx, index);
                    }
                }
                if self.count_from.is_none() {
                    self.start_clock(ctx);
                }
            }
            index => self.send_when_due(ctx, index as usize, false),
        }
    }

    fn on_shutdown(&mut self, ctx: &mut Context<'_>) {
        ctx.stop();
    }

    fn is_drained(&self) -> bool {
        true
    }
}

/// Runs the load described by `config` and reports what it measured.
pub fn run(config: BenchConfig) -> io::Result<BenchReport> {
    let mut reactor = Reactor::new()?;
    reactor.watch_signals()?;
    let mut generator = LoadGenerator::new(config);
    reactor.run(&mut generator)?;
    let elapsed = match (generator.count_from, generator.count_until) {
        (Some(from), Some(until)) => until.saturating_duration_since(from),
        _ => Duration::ZERO,
    };
    Ok(BenchReport {
        clients: generator.config.clients,
        connected: generator.connected,
        served: generator.clients.iter().filter(|c| c.counted > 0).count(),
        round_trips: generator.round_trips,
        elapsed,
        errors: generator.errors,
        rate: generator.config.rate,
        latencies: generator.latencies,
    })
}
