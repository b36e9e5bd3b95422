//! Finished picks' samples: a finish appends one to a list, and the list is
//! counted in one go every [`PENDING_SAMPLES`] finishes (and before anything
//! that needs every sample counted: a reload, a change of strategy).
//!
//! A finish thus writes one backend's 16-byte member and a line of the list,
//! not the backend's histogram, counters and peak-EWMA estimate, which with
//! 10,000 backends lie outside the core's cache; counted together, their
//! cache misses overlap instead of each holding up its finish. A strategy
//! that orders by one of those figures has it counted at once instead
//! (least-response-time the counts, peak-ewma the estimate). Readers of a
//! backend's figures add its pending samples.

use std::time::{Duration, Instant};

use super::latency::{self, LatencyHistogram};
use super::member::BackendStats;
use super::{BackendSet, PENDING_SAMPLES};
use crate::lb::strategy::Strategy;

/// One finished pick, not yet counted.
#[derive(Debug, Clone, Copy)]
pub(super) struct Sample {
    backend: u32,
    bucket: u8,
    /// Its duration in nanoseconds.
    elapsed: u64,
    /// When it finished, in nanoseconds since the set's epoch.
    at: u64,
}

fn nanos(time: Duration) -> u64 {
    u64::try_from(time.as_nanos()).unwrap_or(u64::MAX)
}

impl Sample {
    fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.elapsed)
    }

    fn at(&self) -> Duration {
        Duration::from_nanos(self.at)
    }
}

/// Whether `strategy` reads the completed picks' counts (mean duration).
fn reads_counts(strategy: Strategy) -> bool {
    strategy == Strategy::LeastResponseTime
}

/// Whether `strategy` reads the peak-EWMA estimates.
fn reads_ewma(strategy: Strategy) -> bool {
    strategy == Strategy::PeakEwma
}

impl BackendSet {
    /// Notes the pick of `backend` from `started` that finished at `now`.
    pub(super) fn record_sample(&mut self, backend: usize, started: Instant, now: Instant) {
        let elapsed = now.saturating_duration_since(started);
        let at = self.since_epoch(now);
        if reads_counts(self.strategy) {
            self.tallies[backend].add(nanos(elapsed));
        }
        if reads_ewma(self.strategy) {
            self.ewmas[backend].observe(elapsed, at);
        }
        self.pending.push(Sample {
            backend: backend as u32,
            bucket: latency::bucket_of_sample(elapsed),
            elapsed: nanos(elapsed),
            at: nanos(at),
        });
        if self.pending.len() >= PENDING_SAMPLES {
            self.count_pending();
        }
    }

    /// Counts the pending samples in their backends' figures.
    pub(super) fn count_pending(&mut self) {
        let counts = !reads_counts(self.strategy);
        let ewma = !reads_ewma(self.strategy);
        for sample in self.pending.drain(..) {
            let i = sample.backend as usize;
            self.latency.add(i, sample.bucket);
            if counts {
                self.tallies[i].add(sample.elapsed);
            }
            if ewma {
                self.ewmas[i].observe(sample.elapsed(), sample.at());
            }
        }
    }

    /// The pending samples of `backend`, oldest first.
    fn pending_of(&self, backend: usize) -> impl Iterator<Item = &Sample> {
        self.pending
            .iter()
            .filter(move |s| s.backend as usize == backend)
    }

    /// Adds the pending samples of `backend` to its counters.
    pub(super) fn add_pending_counts(&self, backend: usize, stats: &mut BackendStats) {
        if reads_counts(self.strategy) {
            return;
        }
        for sample in self.pending_of(backend) {
            stats.completed += 1;
            stats.total_time = stats.total_time.saturating_add(sample.elapsed());
        }
    }

    /// The peak-EWMA latency estimate of one backend at `now`.
    pub fn latency_ewma(&self, backend: usize, now: Instant) -> Option<Duration> {
        let since = now.saturating_duration_since(self.epoch?);
        let mut ewma = self.ewmas[backend].clone();
        if !reads_ewma(self.strategy) {
            for sample in self.pending_of(backend) {
                ewma.observe(sample.elapsed(), sample.at());
            }
        }
        ewma.estimate(since)
    }

    /// The latency below which a fraction `q` (0.0 to 1.0, e.g. 0.99) of one
    /// backend's finished picks fell, within 12.5%; `None` before the first.
    pub fn latency_percentile(&self, backend: usize, q: f64) -> Option<Duration> {
        self.latency_histogram(backend).percentile(q)
    }

    /// All finished picks' latencies of one backend (for stats that add up),
    /// those still pending included.
    pub fn latency_histogram(&self, backend: usize) -> LatencyHistogram {
        let mut histogram = self.latency.histogram(backend);
        for sample in self.pending_of(backend) {
            histogram.add(sample.bucket);
        }
        histogram
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lb::strategy::ewma::PeakEwma;

    const US: Duration = Duration::from_micros(1);

    /// Picks and finishes backends in turn with durations 10, 20, 30 ... µs
    /// for `rounds` picks; returns, per backend, the (count, total, EWMA)
    /// the finishes should leave.
    fn run(backends: &mut BackendSet, t0: Instant, rounds: u32) -> Vec<(u64, Duration, PeakEwma)> {
        let mut want = vec![(0, Duration::ZERO, PeakEwma::default()); backends.len()];
        let mut now = t0;
        for k in 1..=rounds {
            let pick = backends.pick(now, &[], 0).expect("a backend");
            let backend = pick.backend;
            let took = 10 * k * US;
            now += took;
            backends.finish(pick, now);
            let (count, total, ewma) = &mut want[backend];
            *count += 1;
            *total += took;
            ewma.observe(took, now - t0);
            now += US;
        }
        want
    }

    fn assert_figures(
        backends: &BackendSet,
        want: &[(u64, Duration, PeakEwma)],
        at: Instant,
        t0: Instant,
    ) {
        for (i, (count, total, ewma)) in want.iter().enumerate() {
            let stats = backends.stats(i);
            assert_eq!((stats.completed, stats.total_time), (*count, *total), "{i}");
            assert_eq!(backends.latency_histogram(i).count(), *count, "{i}");
            assert_eq!(backends.latency_ewma(i, at), ewma.estimate(at - t0), "{i}");
        }
    }

    #[test]
    fn pending_samples_count_in_every_reading_before_and_after_they_are_counted() {
        for strategy in Strategy::ALL {
            let mut backends = BackendSet::from_weights(&[1, 2, 1], strategy);
            let t0 = Instant::now();
            let want = run(&mut backends, t0, 40);
            let at = t0 + Duration::from_millis(50);
            assert!(!backends.pending.is_empty());
            assert_figures(&backends, &want, at, t0);
            backends.count_pending();
            assert_figures(&backends, &want, at, t0);
        }
    }

    #[test]
    fn a_change_of_strategy_counts_what_waited_first() {
        let mut backends = BackendSet::from_weights(&[1, 1], Strategy::RoundRobin);
        let t0 = Instant::now();
        // Backend 0 takes 10, 30, 50 µs; backend 1 20, 40, 60.
        let want = run(&mut backends, t0, 6);
        assert_eq!(backends.pending.len(), 6);
        backends.set_strategy(Strategy::LeastResponseTime);
        assert!(backends.pending.is_empty());
        let at = t0 + Duration::from_millis(1);
        assert_figures(&backends, &want, at, t0);
        // The lower mean (30 µs against 40) is chosen, as the counts say.
        let now = t0 + Duration::from_millis(2);
        let pick = backends.pick(now, &[], 0).expect("a backend");
        assert_eq!(pick.backend, 0);
        backends.release(pick);
        backends.set_strategy(Strategy::PeakEwma);
        let more = run(&mut backends, now, 5);
        let at = now + Duration::from_millis(1);
        for (i, (count, total, _)) in more.iter().enumerate() {
            let stats = backends.stats(i);
            assert_eq!(stats.completed, want[i].0 + count);
            assert_eq!(stats.total_time, want[i].1 + *total);
            assert!(backends.latency_ewma(i, at).is_some());
        }
    }
}
