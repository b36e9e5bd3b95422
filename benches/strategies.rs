//! Criterion benches of the balancing core: one pick plus its finish, for
//! every strategy, with 4, 64 and 1024 backends of weights 1 to 4.

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use distloop::lb::pool::hash_key;
use distloop::lb::{BackendPool, Strategy};

const POOL_SIZES: [usize; 3] = [4, 64, 1024];

fn pick_and_finish(c: &mut Criterion) {
    let mut group = c.benchmark_group("pick_finish");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(800));
    for strategy in Strategy::ALL {
        for size in POOL_SIZES {
            let weights: Vec<u16> = (0..size).map(|i| 1 + (i % 4) as u16).collect();
            let mut pool = BackendPool::from_weights(&weights, strategy);
            // Some work in flight, so that the load-aware strategies compare.
            let _open: Vec<_> = (0..size / 2)
                .filter_map(|_| pool.pick(Instant::now(), &[], 0))
                .collect();
            let mut now = Instant::now();
            let mut counter: u64 = 0;
            group.bench_function(BenchmarkId::new(strategy.name(), size), |b| {
                b.iter(|| {
                    counter += 1;
                    now += Duration::from_micros(10);
                    let key = hash_key(&counter.to_le_bytes());
                    let pick = pool.pick(now, &[], key).expect("a backend");
                    let backend = pick.backend;
                    pool.finish(pick, now + Duration::from_micros(5 + backend as u64 % 7));
                    backend
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, pick_and_finish);
criterion_main!(benches);
