//! Routing costs of the Chord core: choosing the next hop from a full
//! finger table, and whole iterative lookups on a simulated stable ring.

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, black_box, criterion_group, criterion_main};
use distloop::dht::routing::Routing;
use distloop::dht::sim::{self, Experiment, Prng};
use distloop::dht::{Config, NodeRef, Ring};

/// A node's tables as they are in a stable ring of `nodes` random ids.
fn full_routing(nodes: usize) -> Routing<u32> {
    let ring = Ring::new(64).unwrap();
    let mut rng = Prng::new(9);
    let mut ids: Vec<u64> = (0..nodes).map(|_| rng.next_u64()).collect();
    ids.sort_unstable();
    let node = |i: usize| NodeRef {
        id: ids[i % nodes],
        addr: (i % nodes) as u32,
    };
    let mut routing = Routing::new(node(0), ring, 8);
    let rest: Vec<_> = (2..9).map(node).collect();
    routing.set_successors(node(1), &rest);
    for i in 0..64u32 {
        let start = ring.finger_start(ids[0], i);
        let at = ids.partition_point(|&id| id < start) % nodes;
        routing.set_finger(i as usize, node(at));
    }
    routing
}

fn closest_preceding(c: &mut Criterion) {
    let mut group = c.benchmark_group("closest_preceding");
    for nodes in [64, 4096] {
        let routing = full_routing(nodes);
        let mut rng = Prng::new(3);
        group.bench_with_input(
            BenchmarkId::from_parameter(nodes),
            &routing,
            |b, routing| b.iter(|| routing.closest_preceding(black_box(rng.next_u64()), 3)),
        );
    }
    group.finish();
}

fn simulated_lookup(c: &mut Criterion) {
    let mut experiment = Experiment::new(256, 0);
    experiment.config = Config::default();
    let (mut sim, _) = sim::build_ring(&experiment).expect("a stable ring");
    let mut group = c.benchmark_group("simulated_lookup");
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("256_nodes", |b| {
        b.iter(|| {
            let from = sim.rng().below(256) as u32;
            let target = sim.rng().next_u64();
            let op = sim.start_lookup(from, target);
            assert!(sim.run_until_done(&[op], Duration::from_secs(10)));
        })
    });
    group.finish();
}

criterion_group!(benches, closest_preceding, simulated_lookup);
criterion_main!(benches);
