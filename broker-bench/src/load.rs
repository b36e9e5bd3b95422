//! The threads of a run: publishers that either keep the broker saturated
//! (pausing only above the in-flight limit) or follow an open-loop schedule,
//! and subscribers that count deliveries and time them. They share one
//! [`Shared`] of counters and flags; `run` starts and stops them.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::latency::Histogram;
use crate::pacing::Schedule;
use crate::payload::{read_stamp, stamp_offset, write_stamp};
use crate::run::{MAX_MESSAGE_BYTES, await_acks};
use crate::wire::{Event, Wire};

/// Messages a saturating publisher writes per `write` call, all with one
/// stamp (the time of the write).
const MESSAGES_PER_BATCH: usize = 128;
/// Most messages an open-loop publisher writes at once when catching up.
const MAX_CATCH_UP_BATCH: u64 = 1024;
/// A saturation run times one delivery in this many (the rest only count).
pub const SAMPLE_EVERY_AT_SATURATION: u64 = 16;
/// Each subscriber's read buffer; holds several of the largest messages.
const READ_BUFFER_BYTES: usize = 1 << 20;
/// An open-loop publisher sleeps when its next message is due further off
/// than this, waking this much early; closer than that it yields the core.
const SLEEP_MARGIN: Duration = Duration::from_millis(1);
/// A publisher's blocked write wakes this often to see whether the drain
/// deadline passed (a broker that stops reading must not hang the run).
const WRITE_CHECK_INTERVAL: Duration = Duration::from_millis(100);

/// What the threads of one run share. Times are nanoseconds since `base`.
pub struct Shared {
    pub base: Instant,
    pub stop_publishing: AtomicBool,
    pub stop: AtomicBool,
    pub published: AtomicU64,
    pub delivered: AtomicU64,
    /// Deliveries stamped in `[window_start, window_end)` are timed.
    pub window_start: AtomicU64,
    pub window_end: AtomicU64,
    /// When the drain ends at the latest, set before publishing stops.
    pub drain_deadline_nanos: AtomicU64,
    /// Open loop: the most a publisher was behind its schedule.
    pub max_lag_nanos: AtomicU64,
}

impl Shared {
    pub fn new() -> Self {
        Shared {
            base: Instant::now(),
            stop_publishing: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            published: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            window_start: AtomicU64::new(u64::MAX),
            window_end: AtomicU64::new(u64::MAX),
            drain_deadline_nanos: AtomicU64::new(u64::MAX),
            max_lag_nanos: AtomicU64::new(0),
        }
    }

    /// Nanoseconds since `base`.
    pub fn now(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }
}

/// How a publisher paces itself.
#[derive(Debug, Clone, Copy)]
pub enum Pace {
    /// As fast as the broker takes it, pausing while more than this many
    /// deliveries (owed to `fan_out` subscribers per message) are in flight.
    Saturate { in_flight_limit: u64, fan_out: u64 },
    /// Its share of a fixed schedule that starts at `origin`.
    OpenLoop { schedule: Schedule, origin: u64 },
}

/// Publishes until told to stop, then makes a round trip so the broker has
/// read everything before the connection closes (closing with unread bytes
/// on either side may reset the connection and lose them).
pub fn publisher(
    mut stream: TcpStream,
    shared: &Shared,
    wire: Wire,
    template: &[u8],
    pace: Pace,
) -> std::io::Result<()> {
    stream.set_write_timeout(Some(WRITE_CHECK_INTERVAL))?;
    let mut payload = template.to_vec();
    let at = stamp_offset(&payload).expect("the template holds a stamp");
    let mut batch = Vec::new();
    let mut next = 0u64;
    while !shared.stop_publishing.load(Ordering::Relaxed) {
        batch.clear();
        let count = match pace {
            Pace::Saturate {
                in_flight_limit,
                fan_out,
            } => {
                let owed = shared.published.load(Ordering::Relaxed) * fan_out;
                if owed.saturating_sub(shared.delivered.load(Ordering::Relaxed)) > in_flight_limit {
                    thread::yield_now();
                    continue;
                }
                write_stamp(&mut payload, at, shared.now());
                for _ in 0..MESSAGES_PER_BATCH {
                    wire.encode_publish(&payload, &mut batch);
                }
                MESSAGES_PER_BATCH as u64
            }
            Pace::OpenLoop { schedule, origin } => {
                let now = shared.now();
                let due = schedule.due_by(now.saturating_sub(origin));
                if due <= next || now < origin {
                    let at_ns = origin + schedule.due_at(next);
                    wait_until(shared, at_ns.max(origin));
                    continue;
                }
                let lag = now - (origin + schedule.due_at(next));
                shared.max_lag_nanos.fetch_max(lag, Ordering::Relaxed);
                let upto = due.min(next + MAX_CATCH_UP_BATCH);
                for i in next..upto {
                    write_stamp(&mut payload, at, origin + schedule.due_at(i));
                    wire.encode_publish(&payload, &mut batch);
                }
                let count = upto - next;
                next = upto;
                count
            }
        };
        // Counted before the write, so a delivery is never counted before
        // the publish it answers.
        shared.published.fetch_add(count, Ordering::Relaxed);
        if !write_before_deadline(&mut stream, &batch, shared)? {
            return Ok(());
        }
    }
    // A broker still working through its backlog when the drain deadline
    // passes does not fail the run: what it never delivers (or never read)
    // is counted as undelivered.
    if !write_before_deadline(&mut stream, &wire.round_trip(), shared)? {
        return Ok(());
    }
    let deadline = shared.drain_deadline_nanos.load(Ordering::SeqCst);
    let left = Duration::from_nanos(deadline.saturating_sub(shared.now()));
    match await_acks(&mut stream, wire, 1, left) {
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Ok(()),
        other => other.map(drop),
    }
}

/// Writes all of `bytes`, unless the drain deadline passes first (then
/// `Ok(false)`). Expects the stream's write timeout to be set.
fn write_before_deadline(
    stream: &mut TcpStream,
    bytes: &[u8],
    shared: &Shared,
) -> std::io::Result<bool> {
    let mut at = 0;
    while at < bytes.len() {
        match stream.write(&bytes[at..]) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => at += n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if shared.now() >= shared.drain_deadline_nanos.load(Ordering::SeqCst) {
                    return Ok(false);
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Sleeps or yields until `at` (nanoseconds since `base`), or until
/// publishing stops.
fn wait_until(shared: &Shared, at: u64) {
    let now = shared.now();
    if at <= now {
        return;
    }
    let left = Duration::from_nanos(at - now);
    if left > SLEEP_MARGIN * 2 {
        thread::sleep(left - SLEEP_MARGIN);
    } else {
        thread::yield_now();
    }
}

/// Reads deliveries until told to stop, timing one in `sample_every` of
/// those stamped inside the measured window. Returns the latencies and,
/// when the broker ended the connection, why.
pub fn subscriber(
    mut stream: TcpStream,
    leftover: Vec<u8>,
    wire: Wire,
    shared: &Shared,
    sample_every: u64,
) -> (Histogram, Option<String>) {
    let mut buf = vec![0u8; READ_BUFFER_BYTES];
    buf[..leftover.len()].copy_from_slice(&leftover);
    let mut filled = leftover.len();
    let mut count = 0u64;
    let mut latencies = Histogram::default();
    if let Err(e) = stream.set_read_timeout(Some(Duration::from_millis(100))) {
        return (latencies, Some(e.to_string()));
    }
    while !shared.stop.load(Ordering::Relaxed) {
        let n = match stream.read(&mut buf[filled..]) {
            Ok(0) => return (latencies, Some("the broker closed the connection".into())),
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                continue;
            }
            Err(e) => return (latencies, Some(e.to_string())),
        };
        filled += n;
        let mut at = 0;
        let mut batch = 0;
        let start = shared.window_start.load(Ordering::Relaxed);
        let end = shared.window_end.load(Ordering::Relaxed);
        loop {
            let (event, used) = match wire.parse(&buf[at..filled], MAX_MESSAGE_BYTES) {
                Ok(Some(parsed)) => parsed,
                Ok(None) => break,
                Err(e) => {
                    shared.delivered.fetch_add(batch, Ordering::Relaxed);
                    return (latencies, Some(e.to_string()));
                }
            };
            at += used;
            match event {
                Event::Delivery(payload) => {
                    batch += 1;
                    count += 1;
                    if count % sample_every == 0 {
                        if let Some(sent) = read_stamp(payload).filter(|t| (start..end).contains(t))
                        {
                            latencies.record(shared.now().saturating_sub(sent));
                        }
                    }
                }
                Event::Reply(bytes) => {
                    if let Err(e) = stream.write_all(bytes) {
                        return (latencies, Some(e.to_string()));
                    }
                }
                Event::Ack | Event::Other => {}
            }
        }
        shared.delivered.fetch_add(batch, Ordering::Relaxed);
        buf.copy_within(at..filled, 0);
        filled -= at;
    }
    (latencies, None)
}
