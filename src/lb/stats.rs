//! Counters for the stats page: per-backend traffic and latency histograms,
//! snapshots of them, and the sum of several workers' snapshots.
//!
//! Each worker counts on its own (single-threaded, no atomics, no locks) and
//! publishes a [`Snapshot`] now and then; the admin server adds them up.

use std::time::Duration;

use serde::Serialize;

/// Latency buckets: 8 per doubling, from 1 µs up to about 2^36 µs (19 hours).
const SUB_BUCKETS: u32 = 8;
const DOUBLINGS: u32 = 36;
const BUCKETS: usize = (SUB_BUCKETS * DOUBLINGS) as usize;

/// A log-scale latency histogram: constant memory, about 9% relative error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatencyHistogram {
    counts: Vec<u64>,
    total: u64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self {
            counts: vec![0; BUCKETS],
            total: 0,
        }
    }
}

impl LatencyHistogram {
    fn bucket_of(micros: u64) -> usize {
        let micros = micros.max(1);
        let doubling = 63 - micros.leading_zeros();
        let sub = if doubling >= 3 {
            ((micros >> (doubling - 3)) & 7) as u32
        } else {
            ((micros << (3 - doubling)) & 7) as u32
        };
        ((doubling * SUB_BUCKETS + sub) as usize).min(BUCKETS - 1)
    }

    /// The upper edge of a bucket, in microseconds.
    fn bucket_ceiling(index: usize) -> u64 {
        let doubling = index as u32 / SUB_BUCKETS;
        let sub = u64::from(index as u32 % SUB_BUCKETS);
        let base = 1u64 << doubling;
        base + (base * (sub + 1)) / u64::from(SUB_BUCKETS)
    }

    /// Counts one duration.
    pub fn record(&mut self, duration: Duration) {
        let micros = u64::try_from(duration.as_micros()).unwrap_or(u64::MAX);
        self.counts[Self::bucket_of(micros)] += 1;
        self.total += 1;
    }

    /// How many durations were counted.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The duration below which a fraction `q` (0 to 1) of the samples fall.
    pub fn percentile(&self, q: f64) -> Option<Duration> {
        if self.total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (index, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Some(Duration::from_micros(Self::bucket_ceiling(index)));
            }
        }
        None
    }

    /// Adds another histogram's counts to this one.
    pub fn merge(&mut self, other: &LatencyHistogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.total += other.total;
    }
}

/// What the adapters count per backend, beside the pool's own counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Bytes sent to the backend.
    pub bytes_out: u64,
    /// Bytes received from the backend.
    pub bytes_in: u64,
    /// Requests (connections, in TCP mode) the backend finished.
    pub requests: u64,
    /// Durations from pick to end.
    pub latency: LatencyHistogram,
}

/// One backend's line in the stats.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BackendSnapshot {
    /// The configured name.
    pub name: String,
    /// Where it listens.
    pub address: String,
    /// up, down, drain or maint.
    pub state: String,
    /// The weight in effect.
    pub weight: u32,
    /// Connections or requests in flight.
    pub active: u64,
    /// Finished connections or requests.
    pub requests: u64,
    /// Failed connects.
    pub failures: u64,
    /// Median duration in milliseconds.
    pub p50_ms: Option<f64>,
    /// 99th percentile duration in milliseconds.
    pub p99_ms: Option<f64>,
    /// Bytes received from the backend.
    pub bytes_in: u64,
    /// Bytes sent to the backend.
    pub bytes_out: u64,
    /// The latency histogram behind the percentiles (not serialized).
    #[serde(skip)]
    pub latency: LatencyHistogram,
}

/// A worker's (or the sum of all workers') stats at one moment.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Snapshot {
    /// http or tcp.
    pub mode: String,
    /// The strategy's name.
    pub strategy: String,
    /// Workers summed into this snapshot.
    pub workers: u32,
    /// Client connections open.
    pub clients: u64,
    /// Client connections accepted since start.
    pub accepted: u64,
    /// One entry per backend, in list order.
    pub backends: Vec<BackendSnapshot>,
}

impl Snapshot {
    /// Adds up workers' snapshots, matching backends by name.
    pub fn sum(parts: &[Snapshot]) -> Snapshot {
        let mut total = match parts.first() {
            Some(first) => first.clone(),
            None => return Snapshot::default(),
        };
        total.workers = parts.iter().map(|p| p.workers).sum();
        for part in &parts[1..] {
            total.clients += part.clients;
            total.accepted += part.accepted;
            for backend in &part.backends {
                match total.backends.iter_mut().find(|b| b.name == backend.name) {
                    Some(sum) => {
                        sum.active += backend.active;
                        sum.requests += backend.requests;
                        sum.failures += backend.failures;
                        sum.bytes_in += backend.bytes_in;
                        sum.bytes_out += backend.bytes_out;
                        sum.latency.merge(&backend.latency);
                    }
                    None => total.backends.push(backend.clone()),
                }
            }
        }
        for backend in &mut total.backends {
            backend.p50_ms = to_ms(backend.latency.percentile(0.5));
            backend.p99_ms = to_ms(backend.latency.percentile(0.99));
        }
        total
    }
}

/// A duration in milliseconds with microsecond precision.
pub fn to_ms(duration: Option<Duration>) -> Option<f64> {
    duration.map(|d| d.as_micros() as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_within_the_bucket_error() {
        let mut h = LatencyHistogram::default();
        for ms in 1..=100 {
            h.record(Duration::from_millis(ms));
        }
        let p50 = h.percentile(0.5).unwrap().as_secs_f64() * 1000.0;
        let p99 = h.percentile(0.99).unwrap().as_secs_f64() * 1000.0;
        assert!((50.0..=56.0).contains(&p50), "p50 {p50}");
        assert!((99.0..=109.0).contains(&p99), "p99 {p99}");
        assert_eq!(LatencyHistogram::default().percentile(0.5), None);
    }

    #[test]
    fn tiny_and_huge_durations_land_in_the_end_buckets() {
        let mut h = LatencyHistogram::default();
        h.record(Duration::ZERO);
        h.record(Duration::from_secs(1_000_000));
        assert_eq!(h.count(), 2);
        assert!(h.percentile(0.0).unwrap() <= Duration::from_micros(2));
    }

    fn backend(name: &str, requests: u64, ms: u64) -> BackendSnapshot {
        let mut latency = LatencyHistogram::default();
        for _ in 0..requests {
            latency.record(Duration::from_millis(ms));
        }
        BackendSnapshot {
            name: name.into(),
            address: "127.0.0.1:1".into(),
            state: "up".into(),
            weight: 1,
            active: 1,
            requests,
            failures: 0,
            p50_ms: None,
            p99_ms: None,
            bytes_in: 10,
            bytes_out: 20,
            latency,
        }
    }

    #[test]
    fn workers_snapshots_add_up_by_backend_name() {
        let one = Snapshot {
            workers: 1,
            clients: 2,
            backends: vec![backend("a", 10, 1), backend("b", 5, 1)],
            ..Snapshot::default()
        };
        let two = Snapshot {
            workers: 1,
            clients: 3,
            backends: vec![backend("b", 5, 100), backend("a", 10, 1)],
            ..Snapshot::default()
        };
        let sum = Snapshot::sum(&[one, two]);
        assert_eq!(sum.workers, 2);
        assert_eq!(sum.clients, 5);
        let b = sum.backends.iter().find(|b| b.name == "b").unwrap();
        assert_eq!((b.requests, b.active, b.bytes_in), (10, 2, 20));
        assert!(
            b.p99_ms.unwrap() >= 100.0,
            "the slow worker's samples count"
        );
        assert!(b.p50_ms.unwrap() < 2.0);
    }
}
