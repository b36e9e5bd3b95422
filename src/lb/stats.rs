//! Counters for the stats page: per-backend traffic, snapshots of the pool
//! and the traffic, and the sum of several workers' snapshots.
//!
//! Each worker counts on its own (single-threaded, no atomics, no locks) and
//! publishes a [`Snapshot`] now and then; the admin server adds them up.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Serialize, Serializer};

pub use super::backend_set::LatencyHistogram;
use super::queue::QueueStats;

/// What the adapters count per backend, beside the pool's own counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Bytes sent to the backend.
    pub bytes_out: u64,
    /// Bytes received from the backend.
    pub bytes_in: u64,
    /// Requests sent again after the backend closed a connection before answering.
    pub retries: Retries,
}

/// Requests sent again after a backend closed the connection before any
/// answer byte (HTTP, idempotent requests without a body), by the kind of
/// connection that closed. Counted on the backend that closed it.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Retries {
    /// A kept-alive connection, closed just as it was reused: the usual
    /// race of keep-alive, not a fault; sent again on a new connection.
    pub reused: u64,
    /// A new connection: the backend failed; sent again, to another
    /// backend when one is up.
    pub fresh: u64,
}

impl Retries {
    /// Both kinds together.
    pub fn total(&self) -> u64 {
        self.reused + self.fresh
    }

    fn add(&mut self, other: &Retries) {
        self.reused += other.reused;
        self.fresh += other.fresh;
    }
}

/// One backend's line in the stats.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct BackendSnapshot {
    /// The configured name.
    pub name: String,
    /// Where it listens.
    pub address: String,
    /// up, down, drain, maint, or backoff: up, but passed over after failed
    /// connects (the passive check) until `backoff_until`.
    pub state: String,
    /// When the passive backoff ends (RFC 3339, UTC), while there is one.
    #[serde(serialize_with = "rfc3339_or_null")]
    pub backoff_until: Option<SystemTime>,
    /// Since when the backend has been in `state` (RFC 3339, UTC), as the
    /// admin port saw it change (to about a second).
    #[serde(serialize_with = "rfc3339_or_null")]
    pub state_since: Option<SystemTime>,
    /// The last active check, in HAProxy's `LastChk` words (`L7OK 200 in 1 ms`).
    pub last_check: Option<String>,
    /// The agent's last word (`agent up`), or why it was not heard.
    pub agent: Option<String>,
    /// Failed connects (and new connections closed before answering)
    /// since the last success.
    pub consecutive_failures: u32,
    /// The weight in effect.
    pub weight: u32,
    /// Connections or requests in flight.
    pub active: u64,
    /// The most in flight at once since start (summed over workers).
    pub max_active: u64,
    /// Finished connections or requests.
    pub requests: u64,
    /// Failed connects, and new connections closed before answering.
    pub failures: u64,
    /// Requests sent again after this backend closed a connection before
    /// answering, by kind of connection.
    pub retries: Retries,
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
    /// The requests (connections) waiting for a backend under its cap.
    pub queue: QueueStats,
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
            total.queue.add(&part.queue);
            for backend in &part.backends {
                match total.backends.iter_mut().find(|b| b.name == backend.name) {
                    Some(sum) => {
                        sum.active += backend.active;
                        sum.max_active += backend.max_active;
                        sum.requests += backend.requests;
                        sum.failures += backend.failures;
                        sum.retries.add(&backend.retries);
                        sum.bytes_in += backend.bytes_in;
                        sum.bytes_out += backend.bytes_out;
                        sum.latency.merge(&backend.latency);
                        // Workers back off on their own: a backend any of
                        // them passes over is shown so, until the last lets go.
                        if backend.backoff_until > sum.backoff_until {
                            sum.backoff_until = backend.backoff_until;
                        }
                        if state_rank(&backend.state) > state_rank(&sum.state) {
                            sum.state.clone_from(&backend.state);
                        }
                        sum.consecutive_failures =
                            sum.consecutive_failures.max(backend.consecutive_failures);
                    }
                    None => total.backends.push(backend.clone()),
                }
            }
        }
        for backend in &mut total.backends {
            backend.p50_ms = to_ms(backend.latency.percentile(0.5));
            backend.p99_ms = to_ms(backend.latency.percentile(0.99));
        }
        total.queue.settle();
        total
    }
}

impl Snapshot {
    /// The snapshot as of `now`: a published snapshot may be up to a second
    /// old, so backoffs that ended since are shown ended.
    pub fn settled(mut self, now: SystemTime) -> Snapshot {
        for backend in &mut self.backends {
            if backend.backoff_until.is_some_and(|until| until <= now) {
                backend.backoff_until = None;
                if backend.state == BACKOFF {
                    backend.state = "up".to_string();
                }
            }
        }
        self
    }
}

/// The state shown for a backend that is up but sits out a passive backoff.
pub const BACKOFF: &str = "backoff";

/// Which state a sum of workers shows: a state an operator or a health
/// check set (down, drain, maint) over a backoff, a backoff over up.
fn state_rank(state: &str) -> u8 {
    match state {
        "up" => 0,
        BACKOFF => 1,
        _ => 2,
    }
}

/// `time` as RFC 3339 in UTC with milliseconds, `2026-11-26T13:50:01.250Z`.
pub fn rfc3339(time: SystemTime) -> String {
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since_epoch.as_secs();
    let (days, in_day) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        in_day / 3600,
        in_day % 3600 / 60,
        in_day % 60,
        since_epoch.subsec_millis()
    )
}

/// Year, month and day of the `days`-th day after 1970-01-01 (Howard
/// Hinnant's `civil_from_days`, for dates after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

fn rfc3339_or_null<S: Serializer>(time: &Option<SystemTime>, out: S) -> Result<S::Ok, S::Error> {
    match time {
        Some(time) => out.serialize_str(&rfc3339(*time)),
        None => out.serialize_none(),
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
            backoff_until: None,
            state_since: None,
            last_check: None,
            agent: None,
            consecutive_failures: 0,
            weight: 1,
            active: 1,
            max_active: 2,
            requests,
            failures: 0,
            retries: Retries::default(),
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

    #[test]
    fn retries_add_up_by_kind() {
        let mut one = backend("a", 1, 1);
        one.retries = Retries {
            reused: 1,
            fresh: 2,
        };
        let mut two = backend("a", 1, 1);
        two.retries.fresh = 5;
        let parts = [one, two].map(|b| Snapshot {
            backends: vec![b],
            ..Snapshot::default()
        });
        let retries = Snapshot::sum(&parts).backends[0].retries;
        assert_eq!((retries.reused, retries.fresh, retries.total()), (1, 7, 8));
    }

    #[test]
    fn times_are_written_as_rfc3339_utc() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let time = UNIX_EPOCH + Duration::from_millis(1_700_000_000_250);
        assert_eq!(rfc3339(time), "2023-11-14T22:13:20.250Z");
        let leap_day = UNIX_EPOCH + Duration::from_secs(1_709_208_000);
        assert_eq!(rfc3339(leap_day), "2024-02-29T12:00:00.000Z");
    }

    #[test]
    fn a_backoff_in_any_worker_shows_until_the_last_one_ends() {
        let start = UNIX_EPOCH + Duration::from_secs(1_000);
        let mut backing_off = backend("a", 1, 1);
        backing_off.state = BACKOFF.into();
        backing_off.backoff_until = Some(start + Duration::from_secs(4));
        backing_off.consecutive_failures = 3;
        let one = Snapshot {
            backends: vec![backend("a", 1, 1)],
            ..Snapshot::default()
        };
        let two = Snapshot {
            backends: vec![backing_off],
            ..Snapshot::default()
        };
        let sum = Snapshot::sum(&[one, two]);
        let a = &sum.clone().settled(start).backends[0];
        assert_eq!(a.state, BACKOFF);
        assert_eq!(a.backoff_until, Some(start + Duration::from_secs(4)));
        assert_eq!(a.consecutive_failures, 3);
        let later = sum.settled(start + Duration::from_secs(4)).backends[0].clone();
        assert_eq!((later.state.as_str(), later.backoff_until), ("up", None));
    }

    #[test]
    fn a_backoff_does_not_hide_a_down_or_drained_backend() {
        let start = UNIX_EPOCH + Duration::from_secs(1_000);
        let mut down = backend("a", 1, 1);
        down.state = "down".into();
        let mut backing_off = backend("a", 1, 1);
        backing_off.state = BACKOFF.into();
        backing_off.backoff_until = Some(start + Duration::from_secs(4));
        let parts = [
            Snapshot {
                backends: vec![down],
                ..Snapshot::default()
            },
            Snapshot {
                backends: vec![backing_off],
                ..Snapshot::default()
            },
        ];
        let a = &Snapshot::sum(&parts).settled(start).backends[0];
        assert_eq!(a.state, "down");
        assert_eq!(a.backoff_until, Some(start + Duration::from_secs(4)));
    }
}
