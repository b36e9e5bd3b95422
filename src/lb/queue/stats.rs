//! What the wait queue counts, as the stats show it: how many wait now and
//! at most, how many waited, were served, timed out or left, and how long
//! the served ones waited (a histogram like the backends' latencies, read
//! as p50/p99, with the mean and the longest).

use std::time::Duration;

use serde::Serialize;

use crate::lb::backend_set::LatencyHistogram;
use crate::lb::stats::to_ms;

/// The queue's counters, one worker's or the sum of all workers'.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct QueueStats {
    /// Waiting now.
    pub waiting: u64,
    /// The most waiting at once since start (summed over workers).
    pub max_waiting: u64,
    /// Requests (connections, in TCP mode) that had to wait.
    pub queued: u64,
    /// Of those, served once a slot freed.
    pub admitted: u64,
    /// Of those, refused after the queue timeout (503 or closed).
    pub timed_out: u64,
    /// Of those, gone before either: the client left, or a shutdown or
    /// reload refused the request.
    pub abandoned: u64,
    /// Mean wait of the served ones, in milliseconds.
    pub wait_mean_ms: Option<f64>,
    /// Median wait of the served ones, in milliseconds.
    pub wait_p50_ms: Option<f64>,
    /// 99th percentile wait of the served ones, in milliseconds.
    pub wait_p99_ms: Option<f64>,
    /// Longest wait of a served one, in milliseconds.
    pub wait_max_ms: Option<f64>,
    /// The waits behind the percentiles (not serialized).
    #[serde(skip)]
    pub wait: LatencyHistogram,
    /// Sum of the waits (not serialized).
    #[serde(skip)]
    pub wait_total: Duration,
    /// Longest wait (not serialized).
    #[serde(skip)]
    pub wait_longest: Duration,
}

impl QueueStats {
    /// Counts one waiter served after waiting `waited`.
    pub(super) fn note_wait(&mut self, waited: Duration) {
        self.admitted += 1;
        self.wait.record(waited);
        self.wait_total = self.wait_total.saturating_add(waited);
        self.wait_longest = self.wait_longest.max(waited);
    }

    /// Adds another worker's counters to these.
    pub fn add(&mut self, other: &QueueStats) {
        self.waiting += other.waiting;
        self.max_waiting += other.max_waiting;
        self.queued += other.queued;
        self.admitted += other.admitted;
        self.timed_out += other.timed_out;
        self.abandoned += other.abandoned;
        self.wait.merge(&other.wait);
        self.wait_total = self.wait_total.saturating_add(other.wait_total);
        self.wait_longest = self.wait_longest.max(other.wait_longest);
    }

    /// Fills in the millisecond figures from the histogram and sums.
    pub fn settle(&mut self) {
        let served = u32::try_from(self.admitted).unwrap_or(u32::MAX);
        let some = |d: Duration| (served > 0).then_some(d);
        self.wait_mean_ms = to_ms(some(
            self.wait_total.checked_div(served).unwrap_or_default(),
        ));
        self.wait_p50_ms = to_ms(self.wait.percentile(0.5));
        self.wait_p99_ms = to_ms(self.wait.percentile(0.99));
        self.wait_max_ms = to_ms(some(self.wait_longest));
    }
}
