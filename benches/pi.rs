//! How long `pi_digits` takes for 1k, 10k and 100k decimal places.
//!
//! Run with `cargo bench --bench pi`.

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use pi_backend::pi_digits;

fn pi_digits_by_length(c: &mut Criterion) {
    let mut group = c.benchmark_group("pi_digits");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    for places in [1_000usize, 10_000, 100_000] {
        group.bench_with_input(
            BenchmarkId::from_parameter(places),
            &places,
            |b, &places| {
                b.iter(|| pi_digits(std::hint::black_box(places)));
            },
        );
    }
    group.finish();
}

criterion_group!(benches, pi_digits_by_length);
criterion_main!(benches);
