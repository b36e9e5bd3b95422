//! Latency percentiles without keeping every sample: a log-linear histogram
//! of nanoseconds (64 buckets per power of two, so any value is reported
//! within 1/64 = 1.6 % of itself). Each subscriber thread fills its own and
//! they are merged at the end; fixed memory however long the run.

use std::time::Duration;

/// Linear buckets per power of two, as a power of two itself.
const SUB_BUCKET_BITS: u32 = 6;
const SUB_BUCKETS: u64 = 1 << SUB_BUCKET_BITS;
/// Values below `SUB_BUCKETS` get one bucket each; each higher power of two
/// (up to 2^63) gets `SUB_BUCKETS`.
const BUCKETS: usize = (SUB_BUCKETS + (64 - SUB_BUCKET_BITS as u64) * SUB_BUCKETS) as usize;

/// Counts of nanosecond values.
#[derive(Debug, Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            total: 0,
            max: 0,
        }
    }
}

fn bucket_of(value: u64) -> usize {
    if value < SUB_BUCKETS {
        return value as usize;
    }
    let power = 63 - value.leading_zeros(); // at least SUB_BUCKET_BITS
    let shift = power - SUB_BUCKET_BITS;
    let sub = (value >> shift) - SUB_BUCKETS;
    (SUB_BUCKETS + (shift as u64) * SUB_BUCKETS + sub) as usize
}

/// The largest value that falls in `bucket`.
fn highest_in(bucket: usize) -> u64 {
    let bucket = bucket as u64;
    if bucket < SUB_BUCKETS {
        return bucket;
    }
    let shift = (bucket - SUB_BUCKETS) / SUB_BUCKETS;
    let sub = (bucket - SUB_BUCKETS) % SUB_BUCKETS;
    let low = (SUB_BUCKETS + sub) << shift;
    low + ((1u64 << shift) - 1)
}

impl Histogram {
    /// Counts one value.
    pub fn record(&mut self, nanos: u64) {
        self.counts[bucket_of(nanos)] += 1;
        self.total += 1;
        self.max = self.max.max(nanos);
    }

    /// Adds everything `other` counted.
    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
    }

    /// Values counted.
    pub fn len(&self) -> u64 {
        self.total
    }

    /// The value below or at which a fraction `q` (0 to 1) of the values
    /// fall, rounded up to its bucket's top (never above the largest value
    /// counted); zero when nothing was counted.
    pub fn quantile(&self, q: f64) -> Duration {
        if self.total == 0 {
            return Duration::ZERO;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (bucket, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Duration::from_nanos(highest_in(bucket).min(self.max));
            }
        }
        Duration::from_nanos(self.max)
    }

    /// p50, p90, p99, p99.9 and the largest value.
    pub fn summary(&self) -> [Duration; 5] {
        [
            self.quantile(0.5),
            self.quantile(0.9),
            self.quantile(0.99),
            self.quantile(0.999),
            Duration::from_nanos(self.max),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_values_are_exact_and_large_ones_within_one_sixty_fourth() {
        for v in [0, 1, 63, 64, 65, 1_000, 123_456_789, u64::MAX / 3, u64::MAX] {
            let top = highest_in(bucket_of(v));
            assert!(top >= v, "{v}");
            assert!((top - v) as f64 <= v as f64 / 64.0, "{v} -> {top}");
            if v < 64 {
                assert_eq!(top, v);
            }
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn buckets_are_contiguous_and_ordered() {
        for bucket in 1..BUCKETS {
            assert_eq!(bucket_of(highest_in(bucket - 1) + 1), bucket);
            assert_eq!(bucket_of(highest_in(bucket)), bucket);
        }
    }

    #[test]
    fn percentiles_of_one_to_a_thousand_microseconds() {
        let mut h = Histogram::default();
        for us in 1..=1_000u64 {
            h.record(us * 1_000);
        }
        let close = |d: Duration, us: u64| {
            let want = us as f64 * 1e3;
            (d.as_nanos() as f64 - want).abs() <= want / 64.0
        };
        let [p50, p90, p99, p999, max] = h.summary();
        assert!(close(p50, 500), "{p50:?}");
        assert!(close(p90, 900), "{p90:?}");
        assert!(close(p99, 990), "{p99:?}");
        assert!(close(p999, 999), "{p999:?}");
        assert_eq!(max, Duration::from_micros(1_000));
    }

    #[test]
    fn one_stall_among_many_fast_messages_shows_at_the_tail() {
        let mut h = Histogram::default();
        for _ in 0..9_980 {
            h.record(100_000);
        }
        for _ in 0..20 {
            h.record(50_000_000);
        }
        assert!(h.quantile(0.99) < Duration::from_millis(1));
        assert!(h.quantile(0.999) >= Duration::from_millis(49));
    }

    #[test]
    fn merged_histograms_count_both_and_an_empty_one_reports_zero() {
        let mut a = Histogram::default();
        assert_eq!(a.quantile(0.99), Duration::ZERO);
        let mut b = Histogram::default();
        a.record(10);
        b.record(20);
        b.record(30);
        a.merge(&b);
        assert_eq!(a.len(), 3);
        assert_eq!(a.quantile(0.5), Duration::from_nanos(20));
        assert_eq!(a.quantile(1.0), Duration::from_nanos(30));
    }
}
