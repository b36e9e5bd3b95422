//! The load generator's bookkeeping, without sockets or clocks: when each
//! client sends next ([`Pacer`]) and what the round trips took
//! ([`LatencyLog`]).
//!
//! At a fixed offered load a client sends on a schedule, not when its last
//! echo came back. A send that had to wait for the previous echo is timed
//! from the moment it was *due*, so a server that stalls shows up as latency
//! for every send it delayed, not only for the one it held (no coordinated
//! omission). A send that waited only for its slot is timed from when it
//! went out: the generator's own timer lateness (the poll sleeps in whole
//! milliseconds) is not the server's.

use std::time::{Duration, Instant};

/// When one client's sends are due.
#[derive(Debug, Clone)]
pub enum Pacer {
    /// Closed loop: send again as soon as the echo is back.
    Closed,
    /// Open loop: one send every `interval`, the next at `next`.
    Fixed {
        /// Time between two sends of this client.
        interval: Duration,
        /// When the next send is due.
        next: Instant,
    },
}

impl Pacer {
    /// The pacer of client `index` of `clients` that together offer
    /// `rate` round trips per second (closed loop when `None`), starting at
    /// `start`. Clients' first sends are spread over one interval.
    pub fn new(rate: Option<f64>, index: usize, clients: usize, start: Instant) -> Self {
        match rate {
            None => Pacer::Closed,
            Some(rate) => {
                let interval = Duration::from_secs_f64(clients as f64 / rate);
                let offset = interval.mul_f64(index as f64 / clients.max(1) as f64);
                Pacer::Fixed {
                    interval,
                    next: start + offset,
                }
            }
        }
    }

    /// When the next send is due, or `None` for "now" (closed loop).
    pub fn due(&self) -> Option<Instant> {
        match self {
            Pacer::Closed => None,
            Pacer::Fixed { next, .. } => Some(*next),
        }
    }

    /// A send at `now` is allowed (the schedule says it is due, or the
    /// loop is closed). Returns the instant its round trip counts from and
    /// moves the schedule on; `None` when it is not due yet.
    /// `after_echo` says the client is sending as its previous echo came
    /// back: if the send is overdue, the server held it, and it counts from
    /// its due time; otherwise it counts from `now`.
    pub fn take(&mut self, now: Instant, after_echo: bool) -> Option<Instant> {
        match self {
            Pacer::Closed => Some(now),
            Pacer::Fixed { interval, next } => {
                if now < *next {
                    return None;
                }
                let due = *next;
                *next += *interval;
                Some(if after_echo { due } else { now })
            }
        }
    }
}

/// Round-trip times, in microseconds.
#[derive(Debug, Clone, Default)]
pub struct LatencyLog {
    micros: Vec<u32>,
    sorted: bool,
}

impl LatencyLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one round trip.
    pub fn record(&mut self, took: Duration) {
        self.micros
            .push(u32::try_from(took.as_micros()).unwrap_or(u32::MAX));
        self.sorted = false;
    }

    /// Adds every round trip of `other`.
    pub fn merge(&mut self, other: &LatencyLog) {
        self.micros.extend_from_slice(&other.micros);
        self.sorted = false;
    }

    /// Round trips recorded.
    pub fn len(&self) -> usize {
        self.micros.len()
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.micros.is_empty()
    }

    /// The `p`-th percentile (0 to 100, nearest rank), or zero when empty.
    pub fn percentile(&mut self, p: f64) -> Duration {
        if self.micros.is_empty() {
            return Duration::ZERO;
        }
        if !self.sorted {
            self.micros.sort_unstable();
            self.sorted = true;
        }
        let rank = (p / 100.0 * self.micros.len() as f64).ceil() as usize;
        let index = rank.clamp(1, self.micros.len()) - 1;
        Duration::from_micros(u64::from(self.micros[index]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let mut log = LatencyLog::new();
        for ms in (1..=100).rev() {
            log.record(Duration::from_millis(ms));
        }
        assert_eq!(log.percentile(50.0), Duration::from_millis(50));
        assert_eq!(log.percentile(99.0), Duration::from_millis(99));
        assert_eq!(log.percentile(100.0), Duration::from_millis(100));
        assert_eq!(log.percentile(0.0), Duration::from_millis(1));
        assert_eq!(LatencyLog::new().percentile(99.0), Duration::ZERO);
    }

    #[test]
    fn fixed_rate_clients_are_spread_over_one_interval() {
        let t0 = Instant::now();
        // 4 clients offering 400 round trips/s: each sends every 10 ms.
        let dues: Vec<Instant> = (0..4)
            .map(|i| Pacer::new(Some(400.0), i, 4, t0).due().unwrap())
            .collect();
        let offsets: Vec<u128> = dues.iter().map(|d| (*d - t0).as_micros()).collect();
        assert_eq!(offsets, vec![0, 2500, 5000, 7500]);
    }

    #[test]
    fn a_late_send_counts_from_when_it_was_due() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new(Some(100.0), 0, 1, t0);
        assert_eq!(pacer.take(t0, false), Some(t0));
        let early = t0 + Duration::from_millis(5);
        assert_eq!(pacer.take(early, true), None, "not due");
        // The echo came back 25 ms late: the two sends it held are both due,
        // each timed from its own slot.
        let late = t0 + Duration::from_millis(25);
        assert_eq!(pacer.take(late, true), Some(t0 + Duration::from_millis(10)));
        assert_eq!(pacer.take(late, true), Some(t0 + Duration::from_millis(20)));
        assert_eq!(pacer.take(late, true), None);
    }

    #[test]
    fn a_send_that_waited_only_for_its_timer_counts_from_when_it_went_out() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new(Some(100.0), 0, 1, t0);
        let woke = t0 + Duration::from_micros(900);
        assert_eq!(pacer.take(woke, false), Some(woke));
        assert_eq!(pacer.due(), Some(t0 + Duration::from_millis(10)));
    }

    #[test]
    fn a_closed_loop_sends_whenever_asked() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new(None, 3, 10, t0);
        assert_eq!(pacer.due(), None);
        assert_eq!(pacer.take(t0, true), Some(t0));
        assert_eq!(pacer.take(t0, false), Some(t0));
    }
}
