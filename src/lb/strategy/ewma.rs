//! Finagle's peak-EWMA latency estimate.
//!
//! A sample above the estimate replaces it at once (peak-sensitive: a backend
//! that slows down is avoided immediately); a sample below it is blended in
//! with weight `1 - exp(-elapsed / DECAY)`. When read, the estimate decays
//! towards zero with the time since the last sample, so a backend that was
//! avoided for being slow is tried again after a while and gets a fresh sample.
//!
//! Times are given as the time since an origin of the owner's choosing (the
//! same for every call), so that an estimate takes 16 bytes.
//!
//! The `peak-ewma` strategy draws two candidates and keeps the one of lower
//! [`cost`] (see [`super::two_choices`]).

use std::time::Duration;

/// The EWMA's time constant: after this long without a sample, an estimate has
/// decayed to 1/e of its value (Finagle's default).
pub const DECAY: Duration = Duration::from_secs(10);

/// The cost of a backend with work in flight and no latency sample yet, so
/// that an unmeasured backend gets one pick at a time until it answers
/// (Finagle's penalty).
pub const UNMEASURED_PENALTY: Duration = Duration::from_secs(30);

/// The stamp of an estimate without a sample.
const NO_SAMPLE: u64 = u64::MAX;

/// A latency estimate in nanoseconds, stamped with its last sample.
#[derive(Debug, Clone)]
pub struct PeakEwma {
    nanos: f64,
    /// Nanoseconds since the origin, or [`NO_SAMPLE`].
    stamp: u64,
}

impl Default for PeakEwma {
    fn default() -> Self {
        Self {
            nanos: 0.0,
            stamp: NO_SAMPLE,
        }
    }
}

/// A time since the origin in nanoseconds, short of [`NO_SAMPLE`] (584 years).
fn nanos_of(time: Duration) -> u64 {
    u64::try_from(time.as_nanos()).map_or(NO_SAMPLE - 1, |n| n.min(NO_SAMPLE - 1))
}

impl PeakEwma {
    /// Folds in one measured latency, measured at `now`.
    pub fn observe(&mut self, rtt: Duration, now: Duration) {
        let rtt = rtt.as_nanos() as f64;
        let weight = self.decay_factor(now);
        self.nanos = if rtt > self.nanos {
            rtt
        } else {
            self.nanos * weight + rtt * (1.0 - weight)
        };
        self.stamp = nanos_of(now);
    }

    /// The estimate at `now` in nanoseconds; `None` before the first sample.
    pub fn nanos(&self, now: Duration) -> Option<f64> {
        (self.stamp != NO_SAMPLE).then(|| self.nanos * self.decay_factor(now))
    }

    /// The estimate at `now`; `None` before the first sample.
    pub fn estimate(&self, now: Duration) -> Option<Duration> {
        self.nanos(now).map(|n| Duration::from_nanos(n as u64))
    }

    fn decay_factor(&self, now: Duration) -> f64 {
        if self.stamp == NO_SAMPLE {
            return 0.0;
        }
        let elapsed = Duration::from_nanos(nanos_of(now).saturating_sub(self.stamp));
        (-elapsed.as_secs_f64() / DECAY.as_secs_f64()).exp()
    }
}

/// Peak-EWMA's cost of a backend with `active` picks in flight: its latency
/// estimate at `now` times (active + 1), in nanoseconds.
pub fn cost(active: u32, ewma: &PeakEwma, now: Duration) -> f64 {
    let rtt = ewma.nanos(now).unwrap_or(0.0);
    if rtt <= 0.0 && active > 0 {
        UNMEASURED_PENALTY.as_nanos() as f64
    } else {
        rtt * f64::from(active + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_higher_sample_replaces_the_estimate_at_once() {
        let t0 = Duration::from_secs(5);
        let mut ewma = PeakEwma::default();
        assert_eq!(ewma.estimate(t0), None);
        ewma.observe(10 * MS, t0);
        ewma.observe(500 * MS, t0 + MS);
        assert_eq!(ewma.estimate(t0 + MS), Some(500 * MS));
    }

    #[test]
    fn lower_samples_pull_the_estimate_down_gradually() {
        let t0 = Duration::from_secs(5);
        let mut ewma = PeakEwma::default();
        ewma.observe(500 * MS, t0);
        ewma.observe(10 * MS, t0 + DECAY);
        let after = ewma.estimate(t0 + DECAY).unwrap();
        assert!(after > 10 * MS && after < 500 * MS, "{after:?}");
    }

    #[test]
    fn the_estimate_decays_with_time_without_samples() {
        let t0 = Duration::from_secs(5);
        let mut ewma = PeakEwma::default();
        ewma.observe(1000 * MS, t0);
        let later = ewma.estimate(t0 + DECAY * 5).unwrap();
        assert!(later < 10 * MS, "{later:?}");
    }

    #[test]
    fn an_unmeasured_backend_with_work_in_flight_costs_the_penalty() {
        let none = PeakEwma::default();
        assert_eq!(cost(0, &none, MS), 0.0);
        assert_eq!(cost(1, &none, MS), UNMEASURED_PENALTY.as_nanos() as f64);
        let mut measured = PeakEwma::default();
        measured.observe(2 * MS, MS);
        assert_eq!(cost(2, &measured, MS), 3.0 * (2 * MS).as_nanos() as f64);
    }
}
