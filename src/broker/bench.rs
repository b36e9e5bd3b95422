//! `distloop broker bench`: publishers and subscribers on threads, over
//! loopback, against an in-process broker, a running one (`--addr`), or an
//! anchor broker speaking MQTT 3.1.1 (mosquitto) or NATS (`--target`).
//! Prints delivered messages per second and latency percentiles.
//!
//! Publishers pipeline: they write batches of messages and only pause when
//! the subscribers lag more than [`WINDOW_PER_SUBSCRIBER`] messages behind,
//! so the figure is what the broker sustains without dropping anything.
//! All targets share this module's pacing, counting and timing; only the
//! wire codec ([`wire::Wire`]) differs. Publishers read nothing after their
//! hello, which is fine for runs shorter than NATS's 2-minute ping interval.

mod mqtt;
mod nats;
pub mod wire;

use std::error::Error;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use clap::Args;

use super::cli::SerializationFlag;
use super::codec::Serializer;
use super::core::BrokerConfig;
use super::server::BrokerServer;
use super::value::Value;
use crate::reactor::Reactor;
pub use wire::Target;
use wire::{Event, Role, Wire};

/// Messages a subscriber may lag behind its publishers before they pause.
pub const WINDOW_PER_SUBSCRIBER: u64 = 20_000;
/// Messages a publisher writes per `write` call.
const MESSAGES_PER_BATCH: usize = 128;
/// One latency sample is kept per this many deliveries.
const SAMPLE_EVERY: u64 = 16;
const STAMP_DIGITS: usize = 20;
/// Largest payload `--size` accepts.
pub const MAX_PAYLOAD_BYTES: usize = 256 << 10;
/// Largest message accepted from a broker (payload plus protocol framing).
const MAX_MESSAGE_BYTES: usize = MAX_PAYLOAD_BYTES + (4 << 10);
/// Each subscriber's read buffer; holds several of the largest messages.
const READ_BUFFER_BYTES: usize = 1 << 20;
/// How long connecting, subscribing and the hello round trip may take.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Unmeasured run time before the window opens.
const WARM_UP: Duration = Duration::from_millis(200);
/// After publishing stops, subscribers drain until this long passes with
/// no delivery (what is still missing then counts as undelivered) ...
const DRAIN_QUIET: Duration = Duration::from_secs(1);
/// ... or until this bound (a slow broker with a full window needs a while).
const DRAIN_LIMIT: Duration = Duration::from_secs(15);

/// `distloop broker bench`
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Which protocol to speak: distloop, mqtt (3.1.1, QoS 0) or nats.
    #[arg(long, value_enum, default_value_t = Target::Distloop)]
    pub target: Target,
    /// A running broker to measure; by default (distloop only) one is
    /// started in this process.
    #[arg(long)]
    pub addr: Option<SocketAddr>,
    /// Publishing connections.
    #[arg(long, default_value_t = 1)]
    pub publishers: usize,
    /// Subscribing connections (all on one topic).
    #[arg(long, default_value_t = 1)]
    pub subscribers: usize,
    /// Payload size in bytes.
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    /// How long to measure: `5`, `5s` or `500ms`.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Serialization of every publisher and subscriber (distloop target;
    /// the others carry the same JSON payload bytes raw).
    #[arg(long, value_enum, default_value_t = SerializationFlag::Json)]
    pub serialization: SerializationFlag,
}

/// Parses `5`, `2.5s` or `500ms`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, scale) = if let Some(ms) = text.strip_suffix("ms") {
        (ms, 1e-3)
    } else {
        (text.strip_suffix('s').unwrap_or(text), 1.0)
    };
    let secs: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 5s or 500ms"))?;
    if !(secs > 0.0 && secs.is_finite()) {
        return Err(format!("`{text}` must be a positive duration"));
    }
    Ok(Duration::from_secs_f64(secs * scale))
}

/// What one run measured.
#[derive(Debug, Clone)]
pub struct BenchReport {
    /// Deliveries counted by the subscribers during the measured window.
    pub delivered: u64,
    /// The measured window.
    pub elapsed: Duration,
    /// Latency percentiles (p50, p90, p99, p99.9, max), publish to receipt.
    pub latency: [Duration; 5],
    /// Messages written by the publishers over the whole run.
    pub published: u64,
    /// Deliveries over the whole run, after the subscribers drained.
    pub delivered_total: u64,
    /// Deliveries owed (published × subscribers) that had not arrived when
    /// the drain ended: dropped by the broker, or still queued in it.
    pub undelivered: u64,
    /// Subscribers the broker disconnected, each with what it said.
    pub disconnected: Vec<String>,
}

impl BenchReport {
    /// Deliveries per second.
    pub fn rate(&self) -> f64 {
        self.delivered as f64 / self.elapsed.as_secs_f64()
    }
}

struct Shared {
    base: Instant,
    stop_publishing: AtomicBool,
    stop: AtomicBool,
    published: AtomicU64,
    delivered: AtomicU64,
}

/// Runs `distloop broker bench` and prints its figures.
pub fn run(args: BenchArgs) -> Result<(), Box<dyn Error>> {
    let report = measure(&args)?;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "target {:?} publishers {} subscribers {} payload {} bytes {} for {:.1}s",
        args.target,
        args.publishers,
        args.subscribers,
        args.size,
        Serializer::from(args.serialization),
        report.elapsed.as_secs_f64()
    );
    println!(
        "delivered {} messages: {:.0} messages/s",
        report.delivered,
        report.rate()
    );
    let [p50, p90, p99, p999, max] = report.latency;
    println!(
        "latency ms: p50 {:.3} p90 {:.3} p99 {:.3} p99.9 {:.3} max {:.3}",
        ms(p50),
        ms(p90),
        ms(p99),
        ms(p999),
        ms(max)
    );
    println!(
        "published {} delivered {} of {} owed, undelivered {}, subscribers disconnected {}",
        report.published,
        report.delivered_total,
        report.published * args.subscribers as u64,
        report.undelivered,
        report.disconnected.len()
    );
    if let Some(why) = report.disconnected.first() {
        println!("first disconnect: {why}");
    }
    Ok(())
}

/// Runs the benchmark described by `args` and returns its figures.
pub fn measure(args: &BenchArgs) -> Result<BenchReport, Box<dyn Error>> {
    if args.publishers == 0 || args.subscribers == 0 {
        return Err("--publishers and --subscribers must be at least 1".into());
    }
    if args.size > MAX_PAYLOAD_BYTES {
        return Err(format!("--size must be at most {MAX_PAYLOAD_BYTES} bytes").into());
    }
    let serializer = Serializer::from(args.serialization);
    let wire = Wire {
        target: args.target,
        serializer,
    };
    let (addr, broker) = match (args.addr, args.target) {
        (Some(addr), _) => (addr, None),
        (None, Target::Distloop) => {
            let mut reactor = Reactor::new()?;
            let config = BrokerConfig {
                outbound_limit_bytes: 64 << 20,
                ..BrokerConfig::default()
            };
            let mut server = BrokerServer::bind(&reactor, "127.0.0.1:0".parse()?, config)?;
            let handle = reactor.handle();
            let addr = server.local_addr();
            let thread = thread::spawn(move || reactor.run(&mut server));
            (addr, Some((handle, thread)))
        }
        (None, target) => return Err(format!("--target {target:?} needs --addr").into()),
    };
    let result = drive(args, wire, addr);
    if let Some((handle, thread)) = broker {
        handle.shutdown();
        handle.shutdown();
        let _ = thread.join();
    }
    result
}

/// Connects everyone, publishes for the warm-up and the window, drains.
fn drive(args: &BenchArgs, wire: Wire, addr: SocketAddr) -> Result<BenchReport, Box<dyn Error>> {
    let shared = Arc::new(Shared {
        base: Instant::now(),
        stop_publishing: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        published: AtomicU64::new(0),
        delivered: AtomicU64::new(0),
    });
    // Every connection finishes its hello before anyone publishes, so each
    // subscription is in place when the first message arrives.
    let mut subscribers = Vec::new();
    for id in 0..args.subscribers {
        let (stream, leftover) = match open(addr, wire, Role::Subscriber, id) {
            Ok(opened) => opened,
            Err(e) => {
                shared.stop.store(true, Ordering::SeqCst);
                return Err(format!("subscriber {id}: {e}").into());
            }
        };
        let shared = Arc::clone(&shared);
        subscribers.push(thread::spawn(move || {
            subscriber(stream, leftover, wire, &shared)
        }));
    }
    let template = payload_template(wire.serializer, args.size);
    let mut publishers = Vec::new();
    for id in 0..args.publishers {
        let (stream, _) = match open(addr, wire, Role::Publisher, id) {
            Ok(opened) => opened,
            Err(e) => {
                shared.stop_publishing.store(true, Ordering::SeqCst);
                shared.stop.store(true, Ordering::SeqCst);
                return Err(format!("publisher {id}: {e}").into());
            }
        };
        let shared = Arc::clone(&shared);
        let template = template.clone();
        let window = WINDOW_PER_SUBSCRIBER * args.subscribers as u64;
        let fan_out = args.subscribers as u64;
        publishers.push(thread::spawn(move || {
            publisher(stream, &shared, wire, &template, window, fan_out)
        }));
    }
    thread::sleep(WARM_UP);
    let d0 = shared.delivered.load(Ordering::Relaxed);
    let t0 = Instant::now();
    thread::sleep(args.duration);
    let d1 = shared.delivered.load(Ordering::Relaxed);
    let elapsed = t0.elapsed();
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
    drain(&shared, owed);
    shared.stop.store(true, Ordering::SeqCst);
    let mut samples = Vec::new();
    let mut disconnected = Vec::new();
    for s in subscribers {
        let (taken, ended) = s.join().map_err(|_| "a subscriber panicked")?;
        samples.extend(taken);
        disconnected.extend(ended);
    }
    if let Some(failure) = failure {
        return Err(failure.into());
    }
    samples.sort_unstable();
    let pick = |q: f64| {
        samples
            .get(((samples.len() as f64 * q) as usize).min(samples.len().saturating_sub(1)))
            .map_or(Duration::ZERO, |&n| Duration::from_nanos(n))
    };
    let delivered_total = shared.delivered.load(Ordering::SeqCst);
    Ok(BenchReport {
        delivered: d1 - d0,
        elapsed,
        latency: [pick(0.5), pick(0.9), pick(0.99), pick(0.999), pick(1.0)],
        published: shared.published.load(Ordering::SeqCst),
        delivered_total,
        undelivered: owed.saturating_sub(delivered_total),
        disconnected,
    })
}

/// Waits until `owed` deliveries arrived, or none for [`DRAIN_QUIET`], or
/// [`DRAIN_LIMIT`] passed.
fn drain(shared: &Shared, owed: u64) {
    let start = Instant::now();
    let mut last = shared.delivered.load(Ordering::SeqCst);
    let mut last_change = start;
    while last < owed && start.elapsed() < DRAIN_LIMIT && last_change.elapsed() < DRAIN_QUIET {
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
fn await_acks(
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

/// A payload of about `size` bytes in `serializer`: a string that starts
/// with `T` and a 20-digit send time, padded with `x`.
fn payload_template(serializer: Serializer, size: usize) -> Vec<u8> {
    let overhead = serializer.encode(&Value::str("")).len();
    let len = size.saturating_sub(overhead).max(STAMP_DIGITS + 1);
    let mut text = format!("T{:0width$}", 0, width = STAMP_DIGITS);
    text.extend(std::iter::repeat_n('x', len - text.len()));
    serializer.encode(&Value::Str(text))
}

/// Where the digits after the `T` marker start.
fn stamp_offset(payload: &[u8]) -> Option<usize> {
    payload
        .windows(STAMP_DIGITS + 1)
        .position(|w| w[0] == b'T' && w[1..].iter().all(u8::is_ascii_digit))
        .map(|i| i + 1)
}

fn publisher(
    mut stream: TcpStream,
    shared: &Shared,
    wire: Wire,
    template: &[u8],
    window: u64,
    fan_out: u64,
) -> Result<(), std::io::Error> {
    let mut payload = template.to_vec();
    let at = stamp_offset(&payload).expect("the template holds a stamp");
    let mut batch = Vec::new();
    while !shared.stop_publishing.load(Ordering::Relaxed) {
        let owed = shared.published.load(Ordering::Relaxed) * fan_out;
        let in_flight = owed.saturating_sub(shared.delivered.load(Ordering::Relaxed));
        if in_flight > window {
            thread::yield_now();
            continue;
        }
        batch.clear();
        let now = shared.base.elapsed().as_nanos() as u64;
        let stamp = format!("{now:0width$}", width = STAMP_DIGITS);
        payload[at..at + STAMP_DIGITS].copy_from_slice(stamp.as_bytes());
        for _ in 0..MESSAGES_PER_BATCH {
            wire.encode_publish(&payload, &mut batch);
        }
        // Counted before the write, so a delivery is never counted before
        // the publish it answers.
        shared
            .published
            .fetch_add(MESSAGES_PER_BATCH as u64, Ordering::Relaxed);
        stream.write_all(&batch)?;
    }
    // A round trip after the last publish proves the broker read them all
    // before the connection closes (closing with unread bytes on either
    // side may reset the connection and lose them).
    // A broker that is still working through the in-flight window after
    // DRAIN_LIMIT (mosquitto at 1 -> 100 on a loaded machine) does not fail
    // the run: what it never delivers is counted as undelivered.
    stream.write_all(&wire.round_trip())?;
    match await_acks(&mut stream, wire, 1, DRAIN_LIMIT) {
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Ok(()),
        other => other.map(drop),
    }
}

/// Reads deliveries until told to stop; returns the latency samples and,
/// when the broker ended the connection, why.
fn subscriber(
    mut stream: TcpStream,
    leftover: Vec<u8>,
    wire: Wire,
    shared: &Shared,
) -> (Vec<u64>, Option<String>) {
    let mut buf = vec![0u8; READ_BUFFER_BYTES];
    buf[..leftover.len()].copy_from_slice(&leftover);
    let mut filled = leftover.len();
    let mut count = 0u64;
    let mut samples = Vec::new();
    if let Err(e) = stream.set_read_timeout(Some(Duration::from_millis(100))) {
        return (samples, Some(e.to_string()));
    }
    while !shared.stop.load(Ordering::Relaxed) {
        let n = match stream.read(&mut buf[filled..]) {
            Ok(0) => return (samples, Some("the broker closed the connection".into())),
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(e) => return (samples, Some(e.to_string())),
        };
        filled += n;
        let mut at = 0;
        let mut batch = 0;
        loop {
            let (event, used) = match wire.parse(&buf[at..filled], MAX_MESSAGE_BYTES) {
                Ok(Some(parsed)) => parsed,
                Ok(None) => break,
                Err(e) => {
                    shared.delivered.fetch_add(batch, Ordering::Relaxed);
                    return (samples, Some(e.to_string()));
                }
            };
            at += used;
            match event {
                Event::Delivery(payload) => {
                    batch += 1;
                    count += 1;
                    if count % SAMPLE_EVERY == 0 {
                        if let Some(sent) = read_stamp(payload) {
                            let now = shared.base.elapsed().as_nanos() as u64;
                            samples.push(now.saturating_sub(sent));
                        }
                    }
                }
                Event::Reply(bytes) => {
                    if let Err(e) = stream.write_all(bytes) {
                        return (samples, Some(e.to_string()));
                    }
                }
                Event::Ack | Event::Other => {}
            }
        }
        shared.delivered.fetch_add(batch, Ordering::Relaxed);
        buf.copy_within(at..filled, 0);
        filled -= at;
    }
    (samples, None)
}

fn read_stamp(payload: &[u8]) -> Option<u64> {
    let at = stamp_offset(payload)?;
    let digits = std::str::from_utf8(payload.get(at..at + STAMP_DIGITS)?).ok()?;
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_seconds_and_milliseconds() {
        assert_eq!(parse_duration("5"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("2.5s"), Ok(Duration::from_millis(2500)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn payload_template_has_the_requested_size_and_a_readable_stamp() {
        for ser in crate::broker::codec::ALL_SERIALIZERS {
            let t = payload_template(ser, 64);
            assert_eq!(t.len(), 64, "{ser}");
            assert_eq!(read_stamp(&t), Some(0));
            ser.validate(&t).unwrap();
        }
    }

    fn short_run(target: Target, subscribers: usize) -> BenchArgs {
        BenchArgs {
            target,
            addr: None,
            publishers: 1,
            subscribers,
            size: 64,
            duration: Duration::from_millis(300),
            serialization: SerializationFlag::Json,
        }
    }

    #[test]
    fn a_run_delivers_every_published_message_to_every_subscriber() {
        let report = measure(&short_run(Target::Distloop, 3)).unwrap();
        assert!(report.published > 0);
        assert_eq!(report.delivered_total, report.published * 3);
        assert_eq!(report.undelivered, 0);
        assert!(report.disconnected.is_empty(), "{:?}", report.disconnected);
        assert!(report.delivered > 0 && report.delivered <= report.delivered_total);
    }

    #[test]
    fn anchor_targets_need_an_address() {
        for target in [Target::Mqtt, Target::Nats] {
            let err = measure(&short_run(target, 1)).unwrap_err();
            assert!(err.to_string().contains("needs --addr"), "{err}");
        }
    }
}
