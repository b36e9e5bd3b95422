//! When publishers send, and how long the end of a run may take: the
//! in-flight limit of saturation runs, the fixed schedule of open-loop runs
//! and the drain limit sized from what is still in flight. Plain arithmetic,
//! times in nanoseconds since the run's start; the threads live in `load`.

use std::time::Duration;

/// Saturation runs: deliveries (messages owed to subscribers and not yet
/// received) allowed in flight per subscriber before publishers pause ...
pub const IN_FLIGHT_PER_SUBSCRIBER: u64 = 20_000;
/// ... and never fewer than this in all. With only 20,000 at 1 -> 1 the
/// whole window fits in the loopback socket buffers, the publisher waits on
/// the subscriber's count and a broker can sit idle part of the time; with
/// 200,000 every broker measured is busy for its whole window.
pub const MIN_IN_FLIGHT: u64 = 200_000;

/// After publishing stops, the drain ends once this long passes with no
/// delivery (what is missing then counts as undelivered) ...
pub const DRAIN_QUIET: Duration = Duration::from_secs(2);
/// ... or when the drain limit passes. The limit is the time the broker needs
/// for what is in flight at its measured rate, times this margin ...
const DRAIN_MARGIN: f64 = 2.0;
/// ... at least this long (a short window measures a rate roughly) ...
pub const MIN_DRAIN_LIMIT: Duration = Duration::from_secs(5);
/// ... and at most this long: a broker slower than that is reported with
/// what it did not deliver rather than waited for.
pub const MAX_DRAIN_LIMIT: Duration = Duration::from_secs(120);

/// Deliveries in flight above which saturation publishers pause.
pub fn in_flight_limit(subscribers: usize) -> u64 {
    (IN_FLIGHT_PER_SUBSCRIBER * subscribers as u64).max(MIN_IN_FLIGHT)
}

/// How long to wait for `in_flight` deliveries from a broker that delivered
/// `rate` messages per second while measured (its saturation rate in a
/// saturation run).
pub fn drain_limit(in_flight: u64, rate: f64) -> Duration {
    if in_flight == 0 {
        return MIN_DRAIN_LIMIT;
    }
    if !(rate.is_finite() && rate > 0.0) {
        return MAX_DRAIN_LIMIT;
    }
    let needed = in_flight as f64 / rate * DRAIN_MARGIN;
    Duration::from_secs_f64(needed.min(MAX_DRAIN_LIMIT.as_secs_f64()))
        .clamp(MIN_DRAIN_LIMIT, MAX_DRAIN_LIMIT)
}

/// One publisher's share of an open-loop schedule: the run as a whole sends
/// `rate` messages per second, evenly spaced; publisher `offset` of `stride`
/// sends messages `offset`, `offset + stride`, `offset + 2 * stride`, ... of
/// that sequence. Message `i` of the sequence is due at `i / rate` seconds
/// whether or not earlier ones went out on time, and its latency is counted
/// from then: a stall delays every message due during it, so it shows in
/// the percentiles (no coordinated omission).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    rate: u64,
    stride: u64,
    offset: u64,
}

const NANOS_PER_SECOND: u128 = 1_000_000_000;

impl Schedule {
    /// Publisher `offset` of `stride` publishers sharing `rate` messages/s
    /// (`rate` and `stride` at least 1, `offset` below `stride`).
    pub fn new(rate: u64, stride: usize, offset: usize) -> Self {
        assert!(rate > 0 && stride > 0 && offset < stride);
        Schedule {
            rate,
            stride: stride as u64,
            offset: offset as u64,
        }
    }

    /// When this publisher's message `index` is due: the first whole
    /// nanosecond at or after `global index / rate` seconds.
    pub fn due_at(&self, index: u64) -> u64 {
        let global = (index as u128) * self.stride as u128 + self.offset as u128;
        (global * NANOS_PER_SECOND).div_ceil(self.rate as u128) as u64
    }

    /// How many of this publisher's messages are due at `now` (those with
    /// `due_at(i) <= now`).
    pub fn due_by(&self, now: u64) -> u64 {
        // The run's messages due by `now` are 0..=last.
        let last = (now as u128 * self.rate as u128 / NANOS_PER_SECOND) as u64;
        if last < self.offset {
            0
        } else {
            (last - self.offset) / self.stride + 1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_in_flight_limit_grows_with_subscribers_above_its_floor() {
        assert_eq!(in_flight_limit(1), MIN_IN_FLIGHT);
        assert_eq!(in_flight_limit(10), MIN_IN_FLIGHT);
        assert_eq!(in_flight_limit(100), 2_000_000);
    }

    #[test]
    fn the_drain_limit_covers_the_backlog_at_the_measured_rate_with_margin() {
        // 2 million in flight at 100,000/s is 20 s of work: 40 s allowed.
        assert_eq!(drain_limit(2_000_000, 100_000.0), Duration::from_secs(40));
        // A fast broker still gets the floor.
        assert_eq!(drain_limit(200_000, 8_000_000.0), MIN_DRAIN_LIMIT);
        assert_eq!(drain_limit(0, 1.0), MIN_DRAIN_LIMIT);
    }

    #[test]
    fn a_broker_too_slow_for_its_backlog_gets_the_ceiling_not_a_failure() {
        assert_eq!(drain_limit(2_000_000, 5_000.0), MAX_DRAIN_LIMIT);
        assert_eq!(drain_limit(10, 0.0), MAX_DRAIN_LIMIT);
        assert_eq!(drain_limit(10, f64::NAN), MAX_DRAIN_LIMIT);
    }

    #[test]
    fn one_publisher_sends_evenly_spaced_from_time_zero() {
        let s = Schedule::new(1_000, 1, 0);
        assert_eq!(s.due_at(0), 0);
        assert_eq!(s.due_at(1), 1_000_000);
        assert_eq!(s.due_at(1_000), 1_000_000_000);
        assert_eq!(s.due_by(0), 1);
        assert_eq!(s.due_by(999_999), 1);
        assert_eq!(s.due_by(1_000_000), 2);
        assert_eq!(s.due_by(1_000_000_000), 1_001);
    }

    #[test]
    fn publishers_interleave_so_the_run_as_a_whole_keeps_the_rate() {
        // 3 publishers at 3,000/s in all: one message every 333.3 us.
        let all: Vec<Schedule> = (0..3).map(|p| Schedule::new(3_000, 3, p)).collect();
        let mut times: Vec<u64> = all
            .iter()
            .flat_map(|s| (0..100).map(|i| s.due_at(i)))
            .collect();
        times.sort_unstable();
        for (i, t) in times.iter().enumerate() {
            assert_eq!(*t, (i as u64 * 1_000_000_000).div_ceil(3_000));
        }
        // Together they owe exactly what one publisher at 3,000/s would.
        let single = Schedule::new(3_000, 1, 0);
        for now in [0, 1, 333_333, 333_334, 999_999, 5_000_000_000] {
            let total: u64 = all.iter().map(|s| s.due_by(now)).sum();
            assert_eq!(total, single.due_by(now), "at {now} ns");
        }
    }

    #[test]
    fn due_by_and_due_at_agree_at_every_boundary() {
        let s = Schedule::new(7_919, 4, 3);
        for i in 0..2_000 {
            let t = s.due_at(i);
            assert_eq!(s.due_by(t), i + 1, "message {i} is due at its own time");
            if t > 0 {
                assert_eq!(s.due_by(t - 1), i, "and not a nanosecond before");
            }
        }
    }

    #[test]
    fn a_late_publisher_owes_everything_due_while_it_was_stalled() {
        // Stalled for 50 ms at 10,000/s: 500 messages are due at once, each
        // still stamped with its own due time.
        let s = Schedule::new(10_000, 1, 0);
        assert_eq!(s.due_by(50_000_000) - s.due_by(0), 500);
        assert_eq!(s.due_at(250), 25_000_000);
    }
}
