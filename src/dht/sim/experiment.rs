//! The paper's experiments on a simulated ring: build a ring of N nodes by
//! joins and stabilization, store keys, optionally crash a fraction of the
//! nodes (or a run of adjacent ones) at once, let the ring stabilize, then
//! measure lookup path lengths, lookup failures and lost keys.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use super::network::{NetworkConfig, Simulation};
use crate::dht::config::Config;
use crate::dht::id::{Id, Ring};
use crate::dht::message::{ClientRequest, NodeRef, Outcome};

/// Virtual time between two joins while the ring is built.
pub const JOIN_SPACING: Duration = Duration::from_millis(10);
/// How often convergence is checked.
pub const STABILITY_CHECK_STEP: Duration = Duration::from_secs(1);
/// Fraction of correct fingers that counts as a stable ring.
pub const STABLE_FINGER_FRACTION: f64 = 0.99;
/// Longest virtual time the ring is given to stabilize.
pub const STABILIZE_LIMIT: Duration = Duration::from_secs(600);
/// Longest virtual time a batch of operations is given to finish.
pub const OPERATIONS_LIMIT: Duration = Duration::from_secs(120);
/// Virtual time between two operations started by the experiment.
pub const OPERATION_SPACING: Duration = Duration::from_micros(500);

/// Which nodes crash after the keys are stored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Failure {
    /// Nobody.
    None,
    /// Each node with this probability, all at the same instant (the paper's p).
    Fraction(f64),
    /// This many nodes adjacent on the ring, starting at a random one.
    Adjacent(usize),
}

/// One run's parameters.
#[derive(Debug, Clone, Copy)]
pub struct Experiment {
    /// Nodes in the ring.
    pub nodes: usize,
    /// Random lookups measured.
    pub lookups: usize,
    /// Keys stored before the failures.
    pub keys: usize,
    /// Crashes after the keys are stored.
    pub failure: Failure,
    /// Node configuration (ring size, replicas, intervals).
    pub config: Config,
    /// Network delays and loss.
    pub network: NetworkConfig,
    /// Decides every random choice.
    pub seed: u64,
}

impl Experiment {
    /// `nodes` nodes and `lookups` lookups with every other setting at its default.
    pub fn new(nodes: usize, lookups: usize) -> Self {
        Self {
            nodes,
            lookups,
            keys: 1000,
            failure: Failure::None,
            config: Config::default(),
            network: NetworkConfig::default(),
            seed: 1,
        }
    }
}

/// What an experiment measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Nodes the ring was built with.
    pub nodes: usize,
    /// Nodes crashed.
    pub failed_nodes: usize,
    /// Lookups measured.
    pub lookups: usize,
    /// Mean hops of the successful lookups.
    pub mean_hops: f64,
    /// 1st percentile of hops.
    pub p1_hops: u32,
    /// 99th percentile of hops.
    pub p99_hops: u32,
    /// The paper's expectation, 1/2 log2 N (of the nodes still alive).
    pub half_log2_n: f64,
    /// Mean timeouts met per lookup.
    pub mean_timeouts: f64,
    /// Lookups that failed or returned a node other than the true owner.
    pub lookup_failures: usize,
    /// Keys stored.
    pub keys: usize,
    /// Puts that did not report the key stored.
    pub put_failures: usize,
    /// Keys no get could read back at the end.
    pub keys_lost: usize,
    /// Keys whose owner and every replica crashed (lost by any design).
    pub keys_without_live_copy: usize,
    /// Virtual seconds the initial ring took to stabilize.
    pub build_seconds: f64,
    /// Virtual seconds the ring took to stabilize after the failures.
    pub recovery_seconds: f64,
    /// Messages sent during the whole run.
    pub messages: u64,
}

impl Report {
    /// The header matching [`Report`]'s `Display` row.
    pub const TABLE_HEADER: &'static str = "| N | failed | lookups | mean hops | 1/2 log2 N | p1 | p99 | lookup failures | keys | keys lost | keys with no live copy |\n|---|---|---|---|---|---|---|---|---|---|---|";
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "| {} | {} | {} | {:.2} | {:.2} | {} | {} | {} | {} | {} | {} |",
            self.nodes,
            self.failed_nodes,
            self.lookups,
            self.mean_hops,
            self.half_log2_n,
            self.p1_hops,
            self.p99_hops,
            self.lookup_failures,
            self.keys,
            self.keys_lost,
            self.keys_without_live_copy
        )
    }
}

/// Why an experiment could not run to its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExperimentError {
    /// The ring has fewer ids than nodes.
    RingTooSmall {
        /// Nodes asked for.
        nodes: usize,
        /// Ring size in bits.
        bits: u32,
    },
    /// No node at all.
    NoNodes,
    /// The ring did not stabilize within the limit.
    NoConvergence {
        /// The stage that did not converge.
        stage: &'static str,
    },
}

impl fmt::Display for ExperimentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RingTooSmall { nodes, bits } => {
                write!(
                    f,
                    "{nodes} nodes do not fit a {bits}-bit ring: raise --bits"
                )
            }
            Self::NoNodes => f.write_str("a simulation needs at least one node"),
            Self::NoConvergence { stage } => {
                write!(
                    f,
                    "the ring did not stabilize {stage} within {STABILIZE_LIMIT:?} of virtual time"
                )
            }
        }
    }
}

impl std::error::Error for ExperimentError {}

/// Builds a ring of `experiment.nodes` by joins, each through a random node
/// already in the ring, and runs it until it is stable.
pub fn build_ring(experiment: &Experiment) -> Result<(Simulation, Duration), ExperimentError> {
    let ring = experiment.config.ring;
    if experiment.nodes == 0 {
        return Err(ExperimentError::NoNodes);
    }
    if ring.bits() < 64 && (experiment.nodes as u128) > (1u128 << ring.bits()) {
        return Err(ExperimentError::RingTooSmall {
            nodes: experiment.nodes,
            bits: ring.bits(),
        });
    }
    let mut sim = Simulation::new(experiment.config, experiment.network, experiment.seed);
    let ids = distinct_ids(&mut sim, ring, experiment.nodes);
    sim.add_node(ids[0], None);
    for &id in &ids[1..] {
        sim.run_for(JOIN_SPACING);
        let members: Vec<u32> = sim.ring_order().iter().map(|n| n.addr).collect();
        let via = members[sim.rng().below(members.len() as u64) as usize];
        sim.add_node(id, Some(via));
    }
    let took = sim
        .run_until_stable(
            STABLE_FINGER_FRACTION,
            STABILITY_CHECK_STEP,
            STABILIZE_LIMIT,
        )
        .ok_or(ExperimentError::NoConvergence {
            stage: "after the joins",
        })?;
    Ok((sim, took))
}

fn distinct_ids(sim: &mut Simulation, ring: Ring, count: usize) -> Vec<Id> {
    let mut ids = std::collections::BTreeSet::new();
    let mut order = Vec::with_capacity(count);
    while order.len() < count {
        let id = ring.reduce(sim.rng().next_u64());
        if ids.insert(id) {
            order.push(id);
        }
    }
    order
}

/// The key names an experiment stores.
pub fn key_name(i: usize) -> String {
    format!("key-{i}")
}

/// Runs one experiment from start to end.
pub fn run(experiment: &Experiment) -> Result<Report, ExperimentError> {
    let (mut sim, build) = build_ring(experiment)?;
    let replicas = experiment.config.replicas;

    // Store the keys through random nodes.
    let mut puts = Vec::with_capacity(experiment.keys);
    for i in 0..experiment.keys {
        let from = random_live(&mut sim);
        let request = ClientRequest::Put {
            key: key_name(i),
            value: key_name(i).into_bytes(),
        };
        puts.push(sim.start(from, request));
        sim.run_for(OPERATION_SPACING);
    }
    sim.run_until_done(&puts, OPERATIONS_LIMIT);
    let put_failures = puts
        .iter()
        .filter(|op| sim.outcome(**op) != Some(&Outcome::Stored))
        .count();
    // Let the owners' copies reach their replicas.
    sim.run_for(STABILITY_CHECK_STEP);

    // Which nodes should hold each key (its owner and the next replicas).
    let ring = sim.ring_order();
    let holders: Vec<Vec<u32>> = (0..experiment.keys)
        .map(|i| {
            let id = experiment.config.ring.key_id(key_name(i).as_bytes());
            let at = ring.partition_point(|n| n.id < id);
            (0..replicas.min(ring.len()))
                .map(|k| ring[(at + k) % ring.len()].addr)
                .collect()
        })
        .collect();

    let victims = choose_victims(&mut sim, &ring, experiment.failure);
    for &victim in &victims {
        sim.crash(victim);
    }
    let mut recovery = Duration::ZERO;
    if !victims.is_empty() {
        recovery = sim
            .run_until_stable(
                STABLE_FINGER_FRACTION,
                STABILITY_CHECK_STEP,
                STABILIZE_LIMIT,
            )
            .ok_or(ExperimentError::NoConvergence {
                stage: "after the failures",
            })?;
        // Give the new owners one refresh period to restore the copies.
        sim.run_for(experiment.config.replica_refresh_interval);
    }
    let keys_without_live_copy = holders
        .iter()
        .filter(|h| h.iter().all(|node| victims.contains(node)))
        .count();

    let (hops, timeouts, lookup_failures) = measure_lookups(&mut sim, experiment);
    let keys_lost = count_lost_keys(&mut sim, experiment.keys);

    let mut sorted = hops.clone();
    sorted.sort_unstable();
    let percentile = |p: f64| -> u32 {
        if sorted.is_empty() {
            0
        } else {
            sorted[((sorted.len() - 1) as f64 * p).round() as usize]
        }
    };
    let alive = sim.live().len();
    Ok(Report {
        nodes: experiment.nodes,
        failed_nodes: victims.len(),
        lookups: experiment.lookups,
        mean_hops: mean(&hops),
        p1_hops: percentile(0.01),
        p99_hops: percentile(0.99),
        half_log2_n: 0.5 * (alive as f64).log2(),
        mean_timeouts: mean(&timeouts),
        lookup_failures,
        keys: experiment.keys,
        put_failures,
        keys_lost,
        keys_without_live_copy,
        build_seconds: build.as_secs_f64(),
        recovery_seconds: recovery.as_secs_f64(),
        messages: sim.traffic().sent,
    })
}

fn mean(values: &[u32]) -> f64 {
    if values.is_empty() {
        0.0
    } else {
        values.iter().map(|&v| f64::from(v)).sum::<f64>() / values.len() as f64
    }
}

fn random_live(sim: &mut Simulation) -> u32 {
    let live = sim.live();
    live[sim.rng().below(live.len() as u64) as usize]
}

fn choose_victims(sim: &mut Simulation, ring: &[NodeRef<u32>], failure: Failure) -> Vec<u32> {
    match failure {
        Failure::None => Vec::new(),
        Failure::Fraction(p) => {
            let mut victims: Vec<u32> = ring
                .iter()
                .map(|n| n.addr)
                .filter(|_| sim.rng().chance(p))
                .collect();
            // Someone must survive to be measured.
            if victims.len() == ring.len() {
                victims.pop();
            }
            victims
        }
        Failure::Adjacent(count) => {
            let count = count.min(ring.len().saturating_sub(1));
            let start = sim.rng().below(ring.len() as u64) as usize;
            (0..count)
                .map(|k| ring[(start + k) % ring.len()].addr)
                .collect()
        }
    }
}

/// Random lookups from random live nodes: (hops, timeouts) of the correct
/// ones and the number of failed or wrong ones.
fn measure_lookups(sim: &mut Simulation, experiment: &Experiment) -> (Vec<u32>, Vec<u32>, usize) {
    let ring = experiment.config.ring;
    let mut started = Vec::with_capacity(experiment.lookups);
    for _ in 0..experiment.lookups {
        let from = random_live(sim);
        let target = ring.reduce(sim.rng().next_u64());
        started.push((target, sim.start_lookup(from, target)));
        sim.run_for(OPERATION_SPACING);
    }
    let ops: Vec<_> = started.iter().map(|(_, op)| *op).collect();
    sim.run_until_done(&ops, OPERATIONS_LIMIT);
    let (mut hops, mut timeouts, mut failures) = (Vec::new(), Vec::new(), 0);
    for (target, op) in started {
        let truth = sim.true_owner(target).map(|n| n.addr);
        match sim.outcome(op) {
            Some(Outcome::Found {
                owner,
                hops: h,
                timeouts: t,
            }) if Some(owner.addr) == truth => {
                hops.push(*h);
                timeouts.push(*t);
            }
            _ => failures += 1,
        }
    }
    (hops, timeouts, failures)
}

/// Reads every key back through a random live node; counts the ones missing.
/// A get that failed (timeouts on a lossy network) is tried once more
/// through another node before its key is counted lost.
pub fn count_lost_keys(sim: &mut Simulation, keys: usize) -> usize {
    let mut missing: Vec<usize> = (0..keys).collect();
    for _ in 0..2 {
        let mut gets = Vec::with_capacity(missing.len());
        for &i in &missing {
            let from = random_live(sim);
            gets.push(sim.start(from, ClientRequest::Get { key: key_name(i) }));
            sim.run_for(OPERATION_SPACING);
        }
        sim.run_until_done(&gets, OPERATIONS_LIMIT);
        missing = missing
            .into_iter()
            .zip(gets)
            .filter(|(i, op)| {
                !matches!(sim.outcome(*op), Some(Outcome::Value(Some(v))) if *v == key_name(*i).into_bytes())
            })
            .map(|(i, _)| i)
            .collect();
    }
    missing.len()
}
