//! One bench run: connect subscribers and publishers, let them run through
//! a warm-up and the measured window, stop publishing, drain, and gather
//! the figures. All targets share this pacing, counting and timing; only
//! the wire codec ([`Wire`]) differs. Publishers read nothing after their
//! hello, which is fine for runs shorter than NATS's 2-minute ping interval.

use std::error::Error;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use distloop::broker::server::BrokerServer;
use distloop::broker::{BrokerConfig, Serializer};
use distloop::reactor::Reactor;

use crate::BenchArgs;
use crate::cpu::{Process, SchedTimes, percent_of, sched_times};
use crate::latency::Histogram;
use crate::load::{Pace, SAMPLE_EVERY_AT_SATURATION, Shared, publisher, subscriber};
use crate::pacing::{DRAIN_QUIET, Schedule, drain_limit, in_flight_limit};
use crate::payload;
use crate::wire::{Event, Role, Wire};

/// Largest payload `--size` accepts.
pub const MAX_PAYLOAD_BYTES: usize = 256 << 10;
/// Largest message accepted from a broker (payload plus protocol framing).
pub const MAX_MESSAGE_BYTES: usize = MAX_PAYLOAD_BYTES + (4 << 10);
/// How long connecting, subscribing and the hello round trip may take.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Unmeasured run time before the window opens.
const WARM_UP: Duration = Duration::from_millis(200);
/// The in-process broker's bound on each connection's queue (NATS's
/// default `max_pending`), so a full in-flight window is never cut off.
const IN_PROCESS_OUTBOUND_LIMIT_BYTES: usize = 64 << 20;

/// What one run measured.
#[derive(Debug, Clone)]
pub struct Report {
    /// Deliveries counted by the subscribers during the measured window.
    pub delivered: u64,
    /// The measured window.
    pub elapsed: Duration,
    /// Open loop: latency from each message's scheduled send time to its
    /// receipt. Saturation: time from the write to the receipt, i.e. mostly
    /// the wait in the backlog the in-flight limit allows.
    pub latency: Histogram,
    /// Saturation runs: deliveries in flight above which publishers paused.
    pub in_flight_limit: Option<u64>,
    /// Messages written by the publishers over the whole run.
    pub published: u64,
    /// Deliveries over the whole run, after the subscribers drained.
    pub delivered_total: u64,
    /// Deliveries owed (published × subscribers) that had not arrived when
    /// the drain ended: dropped by the broker, or still queued in it.
    pub undelivered: u64,
    /// Subscribers the broker disconnected, each with what it said.
    pub disconnected: Vec<String>,
    /// How long the drain took, and the limit it had.
    pub drain: Duration,
    pub drain_limit: Duration,
    /// How the broker (when its process id is known) and the bench spent
    /// the window: running and waiting for a CPU.
    pub broker_cpu: Option<SchedTimes>,
    pub bench_cpu: SchedTimes,
    /// Open loop: the most a publisher was behind its schedule.
    pub max_lag: Duration,
}

impl Report {
    /// Deliveries per second in the window.
    pub fn rate(&self) -> f64 {
        self.delivered as f64 / self.elapsed.as_secs_f64()
    }

    /// `times` as percentages of one core over the window: running, waiting.
    pub fn percent(&self, times: SchedTimes) -> (f64, f64) {
        (
            percent_of(times.running, self.elapsed),
            percent_of(times.waiting, self.elapsed),
        )
    }
}

/// Runs the benchmark described by `args` and returns its figures.
pub fn measure(args: &BenchArgs) -> Result<Report, Box<dyn Error>> {
    args.check()?;
    let wire = Wire {
        target: args.target,
        serializer: Serializer::from(args.serialization),
    };
    // `check` saw to it that only the distloop target comes without --addr.
    let (addr, broker) = match args.addr {
        Some(addr) => (addr, None),
        None => {
            let mut reactor = Reactor::new()?;
            let config = BrokerConfig {
                outbound_limit_bytes: IN_PROCESS_OUTBOUND_LIMIT_BYTES,
                ..BrokerConfig::default()
            };
            let mut server = BrokerServer::bind(&reactor, "127.0.0.1:0".parse()?, config)?;
            let handle = reactor.handle();
            let addr = server.local_addr();
            let thread = thread::spawn(move || reactor.run(&mut server));
            (addr, Some((handle, thread)))
        }
    };
    let result = drive(args, wire, addr);
    if let Some((handle, thread)) = broker {
        handle.shutdown();
        handle.shutdown();
        let _ = thread.join();
    }
    result
}

/// Reads the scheduler times of the bench and, if known, of the broker.
fn cpu_times(broker: Option<u32>) -> (Option<SchedTimes>, SchedTimes) {
    let broker = broker.and_then(|pid| sched_times(Process::Pid(pid)).ok());
    let bench = sched_times(Process::Current).unwrap_or_default();
    (broker, bench)
}

/// Connects everyone, publishes for the warm-up and the window, drains.
fn drive(args: &BenchArgs, wire: Wire, addr: SocketAddr) -> Result<Report, Box<dyn Error>> {
    let shared = Arc::new(Shared::new());
    let stop_all = |shared: &Shared| {
        shared.stop_publishing.store(true, Ordering::SeqCst);
        shared.stop.store(true, Ordering::SeqCst);
    };
    let sample_every = match args.rate {
        Some(_) => 1,
        None => SAMPLE_EVERY_AT_SATURATION,
    };
    // Every connection finishes its hello before anyone publishes, so each
    // subscription is in place when the first message arrives.
    let mut subscribers = Vec::new();
    for id in 0..args.subscribers {
        let (stream, leftover) = match open(addr, wire, Role::Subscriber, id) {
            Ok(opened) => opened,
            Err(e) => {
                stop_all(&shared);
                return Err(format!("subscriber {id}: {e}").into());
            }
        };
        let shared = Arc::clone(&shared);
        subscribers.push(thread::spawn(move || {
            subscriber(stream, leftover, wire, &shared, sample_every)
        }));
    }
    let mut streams = Vec::new();
    for id in 0..args.publishers {
        match open(addr, wire, Role::Publisher, id) {
            Ok((stream, _)) => streams.push(stream),
            Err(e) => {
                stop_all(&shared);
                return Err(format!("publisher {id}: {e}").into());
            }
        }
    }
    let template = payload::template(wire.serializer, args.size);
    let origin = shared.now();
    let in_flight = in_flight_limit(args.subscribers);
    let publishers: Vec<_> = streams
        .into_iter()
        .enumerate()
        .map(|(id, stream)| {
            let pace = match args.rate {
                Some(rate) => Pace::OpenLoop {
                    schedule: Schedule::new(rate, args.publishers, id),
                    origin,
                },
                None => Pace::Saturate {
                    in_flight_limit: in_flight,
                    fan_out: args.subscribers as u64,
                },
            };
            let shared = Arc::clone(&shared);
            let template = template.clone();
            thread::spawn(move || publisher(stream, &shared, wire, &template, pace))
        })
        .collect();
    thread::sleep(WARM_UP);
    let (broker0, bench0) = cpu_times(args.broker_pid);
    let d0 = shared.delivered.load(Ordering::Relaxed);
    let t0 = Instant::now();
    shared.window_start.store(shared.now(), Ordering::SeqCst);
    thread::sleep(args.duration);
    shared.window_end.store(shared.now(), Ordering::SeqCst);
    let d1 = shared.delivered.load(Ordering::Relaxed);
    let elapsed = t0.elapsed();
    let (broker1, bench1) = cpu_times(args.broker_pid);
    let rate = (d1 - d0) as f64 / elapsed.as_secs_f64();
    let owed_now = shared.published.load(Ordering::SeqCst) * args.subscribers as u64;
    let limit = drain_limit(owed_now.saturating_sub(d1), rate);
    let drain_start = Instant::now();
    shared
        .drain_deadline_nanos
        .store(shared.now() + limit.as_nanos() as u64, Ordering::SeqCst);
    shared.stop_publishing.store(true, Ordering::SeqCst);
    let mut failure = None;
    for p in publishers {
        match p.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failure = Some(format!("a publisher failed: {e}")),
            Err(_) => failure = Some("a publisher panicked".to_string()),
        }
    }
    let owed = shared.published.load(Ordering::SeqCst) * args.subscribers as u64;
    drain(&shared, owed, drain_start + limit);
    let drain = drain_start.elapsed();
    shared.stop.store(true, Ordering::SeqCst);
    let mut latency = Histogram::default();
    let mut disconnected = Vec::new();
    for s in subscribers {
        let (taken, ended) = s.join().map_err(|_| "a subscriber panicked")?;
        latency.merge(&taken);
        disconnected.extend(ended);
    }
    if let Some(failure) = failure {
        return Err(failure.into());
    }
    let delivered_total = shared.delivered.load(Ordering::SeqCst);
    Ok(Report {
        delivered: d1 - d0,
        elapsed,
        latency,
        in_flight_limit: args.rate.is_none().then_some(in_flight),
        published: shared.published.load(Ordering::SeqCst),
        delivered_total,
        undelivered: owed.saturating_sub(delivered_total),
        disconnected,
        drain,
        drain_limit: limit,
        broker_cpu: broker0.zip(broker1).map(|(a, b)| b - a),
        bench_cpu: bench1 - bench0,
        max_lag: Duration::from_nanos(shared.max_lag_nanos.load(Ordering::SeqCst)),
    })
}

/// Waits until `owed` deliveries arrived, or none for [`DRAIN_QUIET`], or
/// `deadline` passed.
fn drain(shared: &Shared, owed: u64, deadline: Instant) {
    let mut last = shared.delivered.load(Ordering::SeqCst);
    let mut last_change = Instant::now();
    while last < owed && Instant::now() < deadline && last_change.elapsed() < DRAIN_QUIET {
        thread::sleep(Duration::from_millis(10));
        let now = shared.delivered.load(Ordering::SeqCst);
        if now != last {
            last = now;
            last_change = Instant::now();
        }
    }
}

/// Connects, sends the hello for `role` and waits until the broker has
/// acknowledged all of it. Returns the stream and any bytes read past the
/// last acknowledgement.
fn open(
    addr: SocketAddr,
    wire: Wire,
    role: Role,
    id: usize,
) -> Result<(TcpStream, Vec<u8>), std::io::Error> {
    let mut stream = TcpStream::connect_timeout(&addr, HELLO_TIMEOUT)?;
    stream.set_nodelay(true)?;
    let (hello, acks) = wire.hello(role, id);
    stream.write_all(&hello)?;
    let leftover = await_acks(&mut stream, wire, acks, HELLO_TIMEOUT)?;
    Ok((stream, leftover))
}

/// Reads until `acks` acknowledgements arrived, answering what asks for an
/// answer. Returns the bytes read past the last acknowledgement.
pub fn await_acks(
    stream: &mut TcpStream,
    wire: Wire,
    mut acks: usize,
    timeout: Duration,
) -> Result<Vec<u8>, std::io::Error> {
    let deadline = Instant::now() + timeout;
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 << 10];
    while acks > 0 {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no acknowledgement from the broker within {timeout:?}"),
            ));
        }
        stream.set_read_timeout(Some(left))?;
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the broker closed the connection before acknowledging",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut at = 0;
        // A retained message (distloop) may arrive before the
        // acknowledgement; it was published before this run and is skipped.
        while acks > 0 {
            let Some((event, used)) = wire.parse(&buf[at..], MAX_MESSAGE_BYTES)? else {
                break;
            };
            at += used;
            match event {
                Event::Ack => acks -= 1,
                Event::Reply(bytes) => stream.write_all(bytes)?,
                Event::Delivery(_) | Event::Other => {}
            }
        }
        buf.drain(..at);
    }
    stream.set_read_timeout(None)?;
    Ok(buf)
}
