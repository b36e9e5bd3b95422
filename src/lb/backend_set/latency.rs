//! A fixed-size latency histogram for per-backend percentiles.
//!
//! Log-linear buckets over microseconds: four buckets per power of two, so a
//! reported percentile is within 25% of the true value (half that when read
//! at the bucket's middle), from 1 µs up to [`MAX_TRACKED`]; longer samples
//! count in the last bucket. 1.2 KiB per backend, no allocation per sample.

use std::time::Duration;

/// Buckets per power of two.
const SUB_BUCKETS: usize = 4;
/// Powers of two tracked above the first four microseconds: up to 2^36 µs.
const OCTAVES: usize = 35;
/// Number of buckets.
const BUCKETS: usize = SUB_BUCKETS + OCTAVES * SUB_BUCKETS;
/// The longest sample told apart from longer ones (about 19 hours).
pub const MAX_TRACKED: Duration = Duration::from_micros(1 << 36);

/// Counts of samples per latency bucket, since the backend was added.
#[derive(Debug, Clone)]
pub struct LatencyHistogram {
    counts: [u64; BUCKETS],
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self {
            counts: [0; BUCKETS],
        }
    }
}

/// The bucket a sample falls in.
pub(super) fn bucket_of_sample(latency: Duration) -> u8 {
    let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
    bucket_of(micros) as u8
}

fn bucket_of(micros: u64) -> usize {
    if micros < SUB_BUCKETS as u64 {
        return micros as usize;
    }
    let octave = 63 - micros.leading_zeros() as usize; // >= 2
    let shift = octave - 2;
    let sub = ((micros >> shift) & 3) as usize;
    (SUB_BUCKETS + shift * SUB_BUCKETS + sub).min(BUCKETS - 1)
}

/// The middle of a bucket, in microseconds.
fn middle_of(bucket: usize) -> u64 {
    if bucket < SUB_BUCKETS {
        return bucket as u64;
    }
    let shift = (bucket - SUB_BUCKETS) / SUB_BUCKETS;
    let sub = ((bucket - SUB_BUCKETS) % SUB_BUCKETS) as u64;
    let low = (4 | sub) << shift;
    low + (1u64 << shift) / 2
}

impl LatencyHistogram {
    /// Counts one sample.
    pub fn record(&mut self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        let bucket = bucket_of(micros);
        self.counts[bucket] = self.counts[bucket].saturating_add(1);
    }

    /// Counts one sample in bucket `bucket` (from [`bucket_of_sample`]).
    pub(super) fn add(&mut self, bucket: u8) {
        let count = &mut self.counts[usize::from(bucket)];
        *count = count.saturating_add(1);
    }

    /// Number of samples (summed over the buckets: reading is rarer than
    /// recording).
    pub fn count(&self) -> u64 {
        self.counts.iter().fold(0, |sum, &n| sum.saturating_add(n))
    }

    /// The latency below which a fraction `q` (0.0 to 1.0) of the samples
    /// fall, at bucket precision; `None` without samples.
    pub fn percentile(&self, q: f64) -> Option<Duration> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (bucket, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Some(Duration::from_micros(middle_of(bucket)));
            }
        }
        Some(MAX_TRACKED)
    }

    /// Adds another histogram's samples to this one (workers' stats add up).
    pub fn merge(&mut self, other: &LatencyHistogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts.iter()) {
            *mine = mine.saturating_add(*theirs);
        }
    }
}

/// The latency histograms of a set's backends, bucket by bucket: row `b`
/// holds every backend's count in bucket `b`. A backend's samples fall in a
/// few buckets, mostly the same few as its neighbours', so the counts that a
/// set's samples go to lie in a few dense rows (80 KiB each for 10,000
/// backends) instead of in as many 1.2 KiB histograms far apart (12 MiB);
/// rows never written take no memory until read.
#[derive(Debug, Clone, Default)]
pub(super) struct LatencyTable {
    /// Backends per row.
    len: usize,
    counts: Vec<u64>,
}

impl LatencyTable {
    /// Empty histograms for `len` backends.
    pub fn new(len: usize) -> Self {
        Self {
            len,
            counts: vec![0; len * BUCKETS],
        }
    }

    /// Counts one sample of `backend` in bucket `bucket` (from [`bucket_of_sample`]).
    pub fn add(&mut self, backend: usize, bucket: u8) {
        let count = &mut self.counts[usize::from(bucket) * self.len + backend];
        *count = count.saturating_add(1);
    }

    /// The histogram of one backend.
    pub fn histogram(&self, backend: usize) -> LatencyHistogram {
        LatencyHistogram {
            counts: std::array::from_fn(|bucket| self.counts[bucket * self.len + backend]),
        }
    }

    /// The table of backends taken from this one's: new backend `k` has the
    /// histogram of old backend `sources[k]`, or an empty one.
    pub fn reordered(&self, sources: &[Option<usize>]) -> Self {
        let mut table = Self::new(sources.len());
        for bucket in 0..BUCKETS {
            let old = &self.counts[bucket * self.len..(bucket + 1) * self.len];
            let new = &mut table.counts[bucket * table.len..(bucket + 1) * table.len];
            for (count, source) in new.iter_mut().zip(sources) {
                *count = source.map_or(0, |i| old[i]);
            }
        }
        table
    }
}

impl Eq for LatencyHistogram {}

impl PartialEq for LatencyHistogram {
    fn eq(&self, other: &Self) -> bool {
        self.counts[..] == other.counts[..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn an_empty_histogram_has_no_percentile() {
        assert_eq!(LatencyHistogram::default().percentile(0.5), None);
    }

    #[test]
    fn percentiles_are_within_an_eighth_of_the_samples() {
        let mut h = LatencyHistogram::default();
        for ms in 1..=100 {
            h.record(ms * MS);
        }
        for (q, want) in [(0.5, 50 * MS), (0.99, 99 * MS), (0.01, MS)] {
            let got = h.percentile(q).unwrap();
            let error = got.abs_diff(want).as_secs_f64() / want.as_secs_f64();
            assert!(error <= 0.125, "p{q}: {got:?} for {want:?}");
        }
    }

    #[test]
    fn one_slow_sample_shows_in_p99_not_in_p50() {
        let mut h = LatencyHistogram::default();
        for _ in 0..99 {
            h.record(2 * MS);
        }
        h.record(3 * Duration::from_secs(1));
        assert!(h.percentile(0.5).unwrap() < 3 * MS);
        assert!(h.percentile(1.0).unwrap() > 2 * Duration::from_secs(1));
    }

    #[test]
    fn merged_histograms_hold_both_sets_of_samples() {
        let mut fast = LatencyHistogram::default();
        let mut slow = LatencyHistogram::default();
        for _ in 0..50 {
            fast.record(MS);
            slow.record(100 * MS);
        }
        fast.merge(&slow);
        assert_eq!(fast.count(), 100);
        assert!(fast.percentile(0.25).unwrap() < 2 * MS);
        assert!(fast.percentile(0.99).unwrap() > 80 * MS);
    }

    #[test]
    fn a_table_keeps_each_backends_histogram_apart_and_through_a_reorder() {
        let mut table = LatencyTable::new(3);
        let mut want = [
            LatencyHistogram::default(),
            LatencyHistogram::default(),
            LatencyHistogram::default(),
        ];
        for (backend, ms) in [(0, 1), (2, 5), (2, 5), (1, 300), (0, 2), (2, 40)] {
            let bucket = bucket_of_sample(ms * MS);
            table.add(backend, bucket);
            want[backend].add(bucket);
        }
        for (backend, histogram) in want.iter().enumerate() {
            assert_eq!(&table.histogram(backend), histogram, "{backend}");
        }
        let moved = table.reordered(&[Some(2), None, Some(0), Some(1)]);
        assert_eq!(moved.histogram(0), want[2]);
        assert_eq!(moved.histogram(1).count(), 0);
        assert_eq!(moved.histogram(2), want[0]);
        assert_eq!(moved.histogram(3), want[1]);
    }

    #[test]
    fn buckets_are_ordered_and_cover_every_sample() {
        let mut last = 0;
        for micros in [0, 1, 3, 4, 5, 7, 8, 1000, 1 << 20, 1 << 36, u64::MAX] {
            let b = bucket_of(micros);
            assert!(b >= last && b < BUCKETS);
            last = b;
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }
}
