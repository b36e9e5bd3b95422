//! Counters for the stats page: per-backend traffic, snapshots of the pool
//! and the traffic, and the sum of several workers' snapshots.
//!
//! Each worker counts on its own (single-threaded, no atomics, no locks) and
//! publishes a [`Snapshot`] now and then; the admin server adds them up.

use std::time::Duration;

use serde::Serialize;

pub use super::pool::LatencyHistogram;

/// What the adapters count per backend, beside the pool's own counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Bytes sent to the backend.
    pub bytes_out: u64,
    /// Bytes received from the backend.
    pub bytes_in: u64,
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
    /// Connections accepted by each worker, in worker order.
    pub accepted_by_worker: Vec<u64>,
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
        total.accepted_by_worker = parts
            .iter()
            .flat_map(|p| p.accepted_by_worker.iter().copied())
            .collect();
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
