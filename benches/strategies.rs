//! Criterion benches of the balancing core: one pick plus its finish, for
//! every strategy, with 4, 64, 1024 and 10,000 backends of weights 1 to 4, and
//! a mixed set of 10,000 where a quarter are down and an eighth draining.
//! Half as many picks as backends stay open, so that the load-aware
//! strategies have something to compare.
//!
//! Time is the bench thread's time on a CPU (from `/proc/thread-self/schedstat`),
//! not the wall clock: on a shared machine the wall clock also counts the
//! time other processes held the CPU. The kernel updates the figure at least
//! once per scheduler tick, a few milliseconds, well below one sample.

use std::time::{Duration, Instant};

use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use distloop::lb::backend_set::{BackendState, hash_key};
use distloop::lb::{BackendSet, Strategy};

/// Pool sizes with every backend up.
const POOL_SIZES: [usize; 4] = [4, 64, 1024, 10_000];
/// Size of the mixed set.
const MIXED_SIZE: usize = 10_000;

/// Criterion's measure: nanoseconds this thread spent on a CPU.
struct OnCpuTime;

fn thread_cpu_nanos() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat")
        .expect("/proc/thread-self/schedstat (Linux)");
    let first = stat.split_whitespace().next().unwrap_or("0");
    first.parse().expect("nanoseconds on the CPU")
}

impl Measurement for OnCpuTime {
    type Intermediate = u64;
    type Value = u64;

    fn start(&self) -> u64 {
        thread_cpu_nanos()
    }

    fn end(&self, started: u64) -> u64 {
        thread_cpu_nanos().saturating_sub(started)
    }

    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }

    fn zero(&self) -> u64 {
        0
    }

    fn to_f64(&self, value: &u64) -> f64 {
        *value as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        &Nanoseconds
    }
}

/// Shows nanoseconds as ns, µs or ms.
struct Nanoseconds;

impl ValueFormatter for Nanoseconds {
    fn scale_values(&self, typical: f64, values: &mut [f64]) -> &'static str {
        let (factor, unit) = if typical < 1e3 {
            (1.0, "ns")
        } else if typical < 1e6 {
            (1e-3, "µs")
        } else {
            (1e-6, "ms")
        };
        values.iter_mut().for_each(|v| *v *= factor);
        unit
    }

    fn scale_throughputs(&self, _: f64, _: &Throughput, _: &mut [f64]) -> &'static str {
        "ns"
    }

    fn scale_for_machines(&self, _: &mut [f64]) -> &'static str {
        "ns"
    }
}

/// A set of `size` backends of weights 1 to 4; with `mixed`, every fourth
/// is down and every eighth (another one) draining.
fn set_of(size: usize, strategy: Strategy, mixed: bool) -> BackendSet {
    let weights: Vec<u16> = (0..size).map(|i| 1 + (i % 4) as u16).collect();
    let mut backends = BackendSet::from_weights(&weights, strategy);
    if mixed {
        for i in 0..size {
            match i % 8 {
                1 | 5 => backends.set_state(i, BackendState::Down),
                2 => backends.set_state(i, BackendState::Drain),
                _ => {}
            }
        }
    }
    backends
}

fn pick_and_finish(c: &mut Criterion<OnCpuTime>) {
    let mut group = c.benchmark_group("pick_finish");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    let cases = POOL_SIZES
        .iter()
        .map(|&size| (size, false, size.to_string()))
        .chain([(MIXED_SIZE, true, "mixed".to_string())]);
    let cases: Vec<_> = cases.collect();
    for strategy in Strategy::ALL {
        for (size, mixed, label) in &cases {
            let mut backends = set_of(*size, strategy, *mixed);
            let _open: Vec<_> = (0..size / 2)
                .filter_map(|_| backends.pick(Instant::now(), &[], 0))
                .collect();
            let mut now = Instant::now();
            let mut counter: u64 = 0;
            group.bench_function(BenchmarkId::new(strategy.name(), label), |b| {
                b.iter(|| {
                    counter += 1;
                    now += Duration::from_micros(10);
                    let key = hash_key(&counter.to_le_bytes());
                    let pick = backends.pick(now, &[], key).expect("a backend");
                    let backend = pick.backend;
                    backends.finish(pick, now + Duration::from_micros(5 + backend as u64 % 7));
                    backend
                })
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(OnCpuTime);
    targets = pick_and_finish
}
criterion_main!(benches);
