//! The Chord core driven by the deterministic simulation: rings built by
//! joins, lookups measured against the paper, failures, leaves and joins
//! that move keys.

use std::time::Duration;

use distloop::dht::sim::{self, Experiment, Failure, NetworkConfig, Simulation};
use distloop::dht::{ClientRequest, Config, Outcome, Ring};

fn small_ring_config() -> Config {
    Config::with(Ring::new(32).unwrap(), 3)
}

#[test]
fn mean_lookup_path_is_about_half_log2_n() {
    for nodes in [8, 64, 512] {
        let mut experiment = Experiment::new(nodes, 500);
        experiment.keys = 0;
        experiment.config = small_ring_config();
        let report = sim::run(&experiment).unwrap();
        eprintln!("{report}");
        assert_eq!(report.lookup_failures, 0);
        assert!(
            (report.mean_hops - report.half_log2_n).abs() < 1.0,
            "{nodes} nodes: mean {} vs {}",
            report.mean_hops,
            report.half_log2_n
        );
    }
}

#[test]
fn same_seed_gives_the_same_measurements() {
    let mut experiment = Experiment::new(32, 200);
    experiment.keys = 50;
    experiment.config = small_ring_config();
    let first = sim::run(&experiment).unwrap();
    let second = sim::run(&experiment).unwrap();
    assert_eq!(first, second);
    experiment.seed = 2;
    assert_ne!(sim::run(&experiment).unwrap(), first);
}

#[test]
fn every_key_survives_fewer_adjacent_failures_than_replicas() {
    for failed in [1, 2] {
        let mut experiment = Experiment::new(64, 200);
        experiment.keys = 500;
        experiment.config = small_ring_config();
        experiment.failure = Failure::Adjacent(failed);
        experiment.seed = 10 + failed as u64;
        let report = sim::run(&experiment).unwrap();
        assert_eq!(report.failed_nodes, failed);
        assert_eq!(report.keys_without_live_copy, 0);
        assert_eq!(report.keys_lost, 0, "{failed} adjacent failures");
        assert_eq!(report.lookup_failures, 0);
    }
}

#[test]
fn losing_as_many_adjacent_nodes_as_replicas_loses_exactly_their_keys() {
    let mut experiment = Experiment::new(32, 100);
    experiment.keys = 1000;
    experiment.config = small_ring_config();
    experiment.failure = Failure::Adjacent(3);
    let report = sim::run(&experiment).unwrap();
    assert!(report.keys_without_live_copy > 0, "1000 keys over 32 nodes");
    assert_eq!(report.keys_lost, report.keys_without_live_copy);
}

#[test]
fn lookups_succeed_after_a_fifth_of_the_nodes_fail_at_once() {
    let mut experiment = Experiment::new(128, 300);
    experiment.keys = 300;
    experiment.config = small_ring_config();
    experiment.failure = Failure::Fraction(0.2);
    let report = sim::run(&experiment).unwrap();
    assert!(report.failed_nodes > 10);
    assert_eq!(report.lookup_failures, 0);
    // Only keys whose three holders all crashed may be gone.
    assert_eq!(report.keys_lost, report.keys_without_live_copy);
}

#[test]
fn operations_complete_despite_message_loss() {
    let mut experiment = Experiment::new(32, 300);
    experiment.keys = 200;
    experiment.config = small_ring_config();
    experiment.network = NetworkConfig {
        loss: 0.05,
        ..NetworkConfig::default()
    };
    let report = sim::run(&experiment).unwrap();
    // Three lost attempts in a row make a live peer look dead for a
    // stabilization period, so a rare lookup may name the wrong owner; the
    // data operations fall back on the replicas and lose nothing.
    assert!(report.lookup_failures * 100 <= report.lookups, "{report:?}");
    assert_eq!(report.put_failures, 0, "{report:?}");
    assert_eq!(report.keys_lost, 0, "{report:?}");
}

fn put_all(sim: &mut Simulation, keys: usize) {
    let mut ops = Vec::new();
    for i in 0..keys {
        let from = sim.live()[i % sim.live().len()];
        let request = ClientRequest::Put {
            key: sim::key_name(i),
            value: sim::key_name(i).into_bytes(),
        };
        ops.push(sim.start(from, request));
    }
    assert!(sim.run_until_done(&ops, Duration::from_secs(30)));
    for op in ops {
        assert_eq!(sim.outcome(op), Some(&Outcome::Stored));
    }
    sim.run_for(Duration::from_secs(2));
}

fn stable_ring(nodes: usize) -> Simulation {
    let mut experiment = Experiment::new(nodes, 0);
    experiment.config = small_ring_config();
    sim::build_ring(&experiment).unwrap().0
}

#[test]
fn every_key_is_on_its_owner_and_the_next_two_successors() {
    let mut sim = stable_ring(16);
    put_all(&mut sim, 200);
    let ring = sim.ring_order();
    let config = small_ring_config();
    for i in 0..200 {
        let key = sim::key_name(i);
        let id = config.ring.key_id(key.as_bytes());
        let at = ring.partition_point(|n| n.id < id);
        for k in 0..3 {
            let holder = ring[(at + k) % ring.len()].addr;
            assert!(
                sim.node(holder).store().contains(config.ring, &key),
                "{key} copy {k}"
            );
        }
        let outsider = ring[(at + 3) % ring.len()].addr;
        assert!(!sim.node(outsider).store().contains(config.ring, &key));
    }
}

#[test]
fn a_joining_node_receives_the_keys_it_now_owns() {
    let mut sim = stable_ring(16);
    put_all(&mut sim, 300);
    let config = small_ring_config();
    // A new id right behind the owner of key-0: it takes over key-0.
    let key_id = config.ring.key_id(sim::key_name(0).as_bytes());
    let newcomer = sim.add_node(key_id, Some(0));
    sim.run_until_stable(0.99, Duration::from_secs(1), Duration::from_secs(120))
        .expect("the ring takes the newcomer in");
    sim.run_for(Duration::from_secs(2));
    assert_eq!(sim.true_owner(key_id).unwrap().addr, newcomer);
    let node = sim.node(newcomer);
    assert!(node.store().contains(config.ring, &sim::key_name(0)));
    assert!(node.owned_count() > 0);
    assert_eq!(node.owned_count(), {
        let pred = node.routing().predecessor().unwrap().id;
        (0..300)
            .filter(|&i| {
                let id = config.ring.key_id(sim::key_name(i).as_bytes());
                distloop::dht::id::in_half_open(id, pred, key_id)
            })
            .count()
    });
    assert_eq!(sim::count_lost_keys(&mut sim, 300), 0);
}

#[test]
fn a_graceful_leave_hands_the_keys_to_the_successor() {
    let mut sim = stable_ring(16);
    put_all(&mut sim, 300);
    let config = small_ring_config();
    let ring = sim.ring_order();
    let leaver = ring[5];
    let successor = ring[6].addr;
    let owned: Vec<String> = (0..300)
        .map(sim::key_name)
        .filter(|k| {
            sim.true_owner(config.ring.key_id(k.as_bytes()))
                .unwrap()
                .addr
                == leaver.addr
        })
        .collect();
    assert!(!owned.is_empty());
    sim.leave(leaver.addr);
    sim.run_for(Duration::from_secs(2));
    assert!(
        !sim.is_alive(leaver.addr),
        "the node stops once handed over"
    );
    for key in &owned {
        assert!(sim.node(successor).store().contains(config.ring, key));
    }
    assert_eq!(
        sim.node(successor).routing().predecessor().map(|p| p.addr),
        Some(ring[4].addr),
        "the successor links straight to the leaver's predecessor"
    );
    assert_eq!(sim.node(ring[4].addr).routing().successor().addr, successor);
    assert_eq!(sim::count_lost_keys(&mut sim, 300), 0);
}

#[test]
fn a_node_alone_owns_everything_and_answers_locally() {
    let mut sim = stable_ring(1);
    let put = sim.start(
        0,
        ClientRequest::Put {
            key: "k".into(),
            value: b"v".to_vec(),
        },
    );
    assert!(sim.run_until_done(&[put], Duration::from_secs(5)));
    let get = sim.start(0, ClientRequest::Get { key: "k".into() });
    let absent = sim.start(0, ClientRequest::Get { key: "nope".into() });
    assert!(sim.run_until_done(&[get, absent], Duration::from_secs(5)));
    let delete = sim.start(0, ClientRequest::Delete { key: "k".into() });
    assert!(sim.run_until_done(&[delete], Duration::from_secs(5)));
    assert_eq!(sim.outcome(put), Some(&Outcome::Stored));
    assert_eq!(sim.outcome(get), Some(&Outcome::Value(Some(b"v".to_vec()))));
    assert_eq!(sim.outcome(absent), Some(&Outcome::Value(None)));
    assert_eq!(sim.outcome(delete), Some(&Outcome::Deleted(true)));
    assert!(sim.node(0).store().is_empty());
}

#[test]
fn a_delete_removes_the_key_from_every_replica() {
    let mut sim = stable_ring(16);
    put_all(&mut sim, 20);
    let delete = sim.start(
        3,
        ClientRequest::Delete {
            key: sim::key_name(7),
        },
    );
    assert!(sim.run_until_done(&[delete], Duration::from_secs(5)));
    assert_eq!(sim.outcome(delete), Some(&Outcome::Deleted(true)));
    sim.run_for(Duration::from_secs(1));
    let config = small_ring_config();
    for node in sim.live() {
        assert!(
            !sim.node(node)
                .store()
                .contains(config.ring, &sim::key_name(7))
        );
    }
    let get = sim.start(
        9,
        ClientRequest::Get {
            key: sim::key_name(7),
        },
    );
    assert!(sim.run_until_done(&[get], Duration::from_secs(5)));
    assert_eq!(sim.outcome(get), Some(&Outcome::Value(None)));
}

#[test]
fn a_ten_bit_ring_like_the_originals_works() {
    let mut experiment = Experiment::new(100, 300);
    experiment.keys = 300;
    experiment.config = Config::with(Ring::new(10).unwrap(), 3);
    let report = sim::run(&experiment).unwrap();
    assert_eq!(report.lookup_failures, 0);
    assert_eq!(report.keys_lost, 0);
}

#[test]
fn more_nodes_than_ids_is_refused() {
    let mut experiment = Experiment::new(2000, 10);
    experiment.config = Config::with(Ring::new(10).unwrap(), 3);
    let error = sim::run(&experiment).unwrap_err();
    assert!(error.to_string().contains("10-bit ring"));
}

/// Gets every key through every node in `via`; returns the reads that did
/// not give `expected(i)`.
fn wrong_reads(
    sim: &mut Simulation,
    via: &[u32],
    keys: usize,
    expected: impl Fn(usize) -> Vec<u8>,
) -> Vec<String> {
    let mut ops = Vec::new();
    for &node in via {
        for i in 0..keys {
            let get = ClientRequest::Get {
                key: sim::key_name(i),
            };
            ops.push((i, sim.start(node, get)));
        }
    }
    assert!(sim.run_until_done(
        &ops.iter().map(|(_, op)| *op).collect::<Vec<_>>(),
        Duration::from_secs(60)
    ));
    ops.into_iter()
        .filter(|(i, op)| sim.outcome(*op) != Some(&Outcome::Value(Some(expected(*i)))))
        .map(|(i, op)| format!("key {i} through {}: {:?}", op.0, sim.outcome(op)))
        .collect()
}

fn put_round(sim: &mut Simulation, via: &[u32], keys: usize, round: &str) {
    let mut ops = Vec::new();
    for i in 0..keys {
        let request = ClientRequest::Put {
            key: sim::key_name(i),
            value: format!("{round}-{i}").into_bytes(),
        };
        ops.push(sim.start(via[i % via.len()], request));
    }
    assert!(sim.run_until_done(&ops, Duration::from_secs(60)));
    for op in ops {
        assert_eq!(sim.outcome(op), Some(&Outcome::Stored), "{round} put");
    }
}

fn total_copies(sim: &Simulation) -> usize {
    sim.live().iter().map(|&i| sim.node(i).store().len()).sum()
}

#[test]
fn a_paused_node_never_serves_or_spreads_the_values_it_missed() {
    let mut sim = stable_ring(6);
    let all = sim.live();
    put_round(&mut sim, &all, 200, "old");
    sim.run_for(Duration::from_secs(2));
    let victim = sim.ring_order()[3].addr;
    let others: Vec<u32> = all.iter().copied().filter(|&i| i != victim).collect();
    sim.pause(victim);
    sim.run_for(Duration::from_secs(3));
    put_round(&mut sim, &others, 200, "new");
    let new = |i: usize| format!("new-{i}").into_bytes();
    assert!(wrong_reads(&mut sim, &others, 200, new).is_empty());
    sim.resume(victim);

    let wrong = wrong_reads(&mut sim, &all, 200, new);
    assert!(
        wrong.is_empty(),
        "{} stale reads: {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(5)]
    );
    sim.run_until_stable(0.99, Duration::from_secs(1), Duration::from_secs(60))
        .expect("the ring takes the node back");
    let wrong = wrong_reads(&mut sim, &all, 200, new);
    assert!(
        wrong.is_empty(),
        "{} stale reads: {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(5)]
    );
    for _ in 0..120 {
        if total_copies(&sim) == 600 {
            break;
        }
        sim.run_for(Duration::from_secs(1));
    }
    assert_eq!(
        total_copies(&sim),
        600,
        "three copies of each of the 200 keys"
    );
    assert!(wrong_reads(&mut sim, &all, 200, new).is_empty());
}

#[test]
fn a_node_cut_off_long_enough_to_be_alone_rejoins_and_serves_the_newest_values() {
    let mut sim = stable_ring(8);
    let all = sim.live();
    put_round(&mut sim, &all, 200, "old");
    sim.run_for(Duration::from_secs(2));
    let victim = sim.ring_order()[4].addr;
    let others: Vec<u32> = all.iter().copied().filter(|&i| i != victim).collect();
    sim.set_cut_off(victim, true);
    // Long enough for both sides to take the other for dead: the victim
    // is a ring of one and the others have closed the ring without it.
    sim.run_for(Duration::from_secs(20));
    assert!(
        sim.node(victim).routing().successors().is_empty(),
        "alone, it has no successor left"
    );
    put_round(&mut sim, &others, 200, "new");
    sim.set_cut_off(victim, false);
    sim.run_until_stable(0.99, Duration::from_secs(1), Duration::from_secs(60))
        .expect("the ring takes the node back");
    assert!(sim.ring_is_consistent());
    assert!(
        sim.node(victim).routing().predecessor().is_some(),
        "linked back into the ring"
    );
    let new = |i: usize| format!("new-{i}").into_bytes();
    let wrong = wrong_reads(&mut sim, &all, 200, new);
    assert!(
        wrong.is_empty(),
        "{} stale reads: {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(5)]
    );
}
