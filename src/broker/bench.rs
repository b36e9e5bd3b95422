//! `distloop broker bench`: publishers and subscribers on threads, over
//! loopback, against an in-process broker (or `--addr`). Prints delivered
//! messages per second and latency percentiles.
//!
//! Publishers pipeline: they write batches of frames and only pause when the
//! subscribers lag more than [`WINDOW_PER_SUBSCRIBER`] messages behind, so
//! the figure is what the broker sustains without dropping anything.

use std::error::Error;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use clap::Args;

use super::cli::SerializationFlag;
use super::codec::Serializer;
use super::core::BrokerConfig;
use super::frame::{Frame, Parsed, parse_frame};
use super::server::BrokerServer;
use super::value::Value;
use crate::reactor::Reactor;

/// Messages a subscriber may lag behind its publishers before they pause.
pub const WINDOW_PER_SUBSCRIBER: u64 = 20_000;
/// Frames a publisher writes per `write` call.
const FRAMES_PER_BATCH: usize = 128;
/// One latency sample is kept per this many deliveries.
const SAMPLE_EVERY: u64 = 16;
const TOPIC: &str = "/bench";
const STAMP_DIGITS: usize = 20;

/// `distloop broker bench`
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// A running broker to measure; by default one is started in this process.
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
    /// Serialization of every publisher and subscriber.
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
}

impl BenchReport {
    /// Deliveries per second.
    pub fn rate(&self) -> f64 {
        self.delivered as f64 / self.elapsed.as_secs_f64()
    }
}

struct Shared {
    base: Instant,
    stop: AtomicBool,
    published: AtomicU64,
    delivered: AtomicU64,
    ready: AtomicU64,
}

/// Runs `distloop broker bench` and prints its figures.
pub fn run(args: BenchArgs) -> Result<(), Box<dyn Error>> {
    let report = measure(&args)?;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "publishers {} subscribers {} payload {} bytes {} for {:.1}s",
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
    Ok(())
}

/// Runs the benchmark described by `args` and returns its figures.
pub fn measure(args: &BenchArgs) -> Result<BenchReport, Box<dyn Error>> {
    if args.publishers == 0 || args.subscribers == 0 {
        return Err("--publishers and --subscribers must be at least 1".into());
    }
    let serializer = Serializer::from(args.serialization);
    let (addr, broker) = match args.addr {
        Some(addr) => (addr, None),
        None => {
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
    };
    let shared = Arc::new(Shared {
        base: Instant::now(),
        stop: AtomicBool::new(false),
        published: AtomicU64::new(0),
        delivered: AtomicU64::new(0),
        ready: AtomicU64::new(0),
    });
    let mut subscribers = Vec::new();
    for _ in 0..args.subscribers {
        let mut stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        let mut hello = Frame::Subscribe {
            serializer,
            topic: TOPIC,
        }
        .to_bytes();
        Frame::List { serializer }.encode_into(&mut hello);
        stream.write_all(&hello)?;
        let shared = Arc::clone(&shared);
        subscribers.push(thread::spawn(move || subscriber(stream, &shared)));
    }
    // A subscriber is registered once its LIST reply arrives (the broker
    // handles a connection's frames in order); publish only after that.
    let deadline = Instant::now() + Duration::from_secs(10);
    while shared.ready.load(Ordering::SeqCst) < args.subscribers as u64 {
        if Instant::now() > deadline {
            shared.stop.store(true, Ordering::SeqCst);
            return Err("subscribers were not registered within 10 s".into());
        }
        thread::sleep(Duration::from_millis(1));
    }
    let template = payload_template(serializer, args.size);
    let mut publishers = Vec::new();
    for _ in 0..args.publishers {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        let shared = Arc::clone(&shared);
        let template = template.clone();
        let window = WINDOW_PER_SUBSCRIBER * args.subscribers as u64;
        let fan_out = args.subscribers as u64;
        publishers.push(thread::spawn(move || {
            publisher(stream, &shared, serializer, &template, window, fan_out)
        }));
    }
    // A short warm-up, then the measured window.
    thread::sleep(Duration::from_millis(200));
    let d0 = shared.delivered.load(Ordering::Relaxed);
    let t0 = Instant::now();
    thread::sleep(args.duration);
    let d1 = shared.delivered.load(Ordering::Relaxed);
    let elapsed = t0.elapsed();
    shared.stop.store(true, Ordering::SeqCst);
    for p in publishers {
        p.join().map_err(|_| "a publisher panicked")??;
    }
    let mut samples = Vec::new();
    for s in subscribers {
        samples.extend(s.join().map_err(|_| "a subscriber panicked")??);
    }
    if let Some((handle, thread)) = broker {
        handle.shutdown();
        handle.shutdown();
        let _ = thread.join();
    }
    samples.sort_unstable();
    let pick = |q: f64| {
        samples
            .get(((samples.len() as f64 * q) as usize).min(samples.len().saturating_sub(1)))
            .map_or(Duration::ZERO, |&n| Duration::from_nanos(n))
    };
    Ok(BenchReport {
        delivered: d1 - d0,
        elapsed,
        latency: [pick(0.5), pick(0.9), pick(0.99), pick(0.999), pick(1.0)],
    })
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
    serializer: Serializer,
    template: &[u8],
    window: u64,
    fan_out: u64,
) -> Result<(), std::io::Error> {
    let mut payload = template.to_vec();
    let at = stamp_offset(&payload).expect("the template holds a stamp");
    let mut batch = Vec::new();
    while !shared.stop.load(Ordering::Relaxed) {
        let in_flight = shared.published.load(Ordering::Relaxed) * fan_out
            - shared.delivered.load(Ordering::Relaxed).min(u64::MAX / 2);
        if in_flight > window {
            thread::yield_now();
            continue;
        }
        batch.clear();
        let now = shared.base.elapsed().as_nanos() as u64;
        let stamp = format!("{now:0width$}", width = STAMP_DIGITS);
        payload[at..at + STAMP_DIGITS].copy_from_slice(stamp.as_bytes());
        for _ in 0..FRAMES_PER_BATCH {
            Frame::Publish {
                serializer,
                topic: TOPIC,
                payload: &payload,
            }
            .encode_into(&mut batch);
        }
        stream.write_all(&batch)?;
        shared
            .published
            .fetch_add(FRAMES_PER_BATCH as u64, Ordering::Relaxed);
    }
    Ok(())
}

fn subscriber(mut stream: TcpStream, shared: &Shared) -> Result<Vec<u64>, std::io::Error> {
    stream.set_read_timeout(Some(Duration::from_millis(100)))?;
    let mut buf = vec![0u8; 1 << 20];
    let mut filled = 0;
    let mut count = 0u64;
    let mut samples = Vec::new();
    let mut ready = false;
    while !shared.stop.load(Ordering::Relaxed) {
        let n = match stream.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(e) => return Err(e),
        };
        filled += n;
        let mut at = 0;
        let mut batch = 0;
        while let Ok(Parsed::Complete(frame, used)) = parse_frame(&buf[at..filled], usize::MAX) {
            at += used;
            match frame {
                Frame::Deliver { payload, .. } => {
                    batch += 1;
                    count += 1;
                    if count % SAMPLE_EVERY == 0 {
                        if let Some(sent) = read_stamp(payload) {
                            let now = shared.base.elapsed().as_nanos() as u64;
                            samples.push(now.saturating_sub(sent));
                        }
                    }
                }
                Frame::ListReply { .. } if !ready => {
                    ready = true;
                    shared.ready.fetch_add(1, Ordering::SeqCst);
                }
                _ => {}
            }
        }
        shared.delivered.fetch_add(batch, Ordering::Relaxed);
        buf.copy_within(at..filled, 0);
        filled -= at;
    }
    Ok(samples)
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
}
