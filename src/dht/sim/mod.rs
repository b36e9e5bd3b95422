//! Deterministic simulation of whole Chord rings in one process: a seeded
//! random generator, a simulated network (delay, loss, crashes) on a virtual
//! clock, and the paper's experiments built on it. No sockets: the nodes are
//! the same [`crate::dht::Node`] state machines the UDP adapter drives.

mod experiment;
mod network;
mod prng;

pub use experiment::{
    Experiment, ExperimentError, Failure, Report, build_ring, count_lost_keys, key_name, run,
};
pub use network::{NetworkConfig, SimNode, Simulation, TICK_INTERVAL, Traffic};
pub use prng::Prng;
