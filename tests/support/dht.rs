//! Rings of real `distloop dht node` processes for the DHT's integration
//! tests: start nodes with fast maintenance, wait until the ring is whole,
//! and count the copies the nodes hold.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use distloop::dht::client::{Client, NodeInfo};

use crate::support::{Server, distloop_bin};

/// Fast maintenance so that rings settle within a second or two.
pub const STABILIZE_MS: &str = "100";
/// Longest wait for a ring to settle.
pub const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Starts one node that creates a ring, or joins the ring of `join`.
pub fn start_node(join: Option<SocketAddr>) -> Server {
    start_node_with(join, &["--stabilize-ms", STABILIZE_MS])
}

/// Starts one node with further `options`.
pub fn start_node_with(join: Option<SocketAddr>, options: &[&str]) -> Server {
    let mut args = vec!["dht", "node", "--listen", "127.0.0.1:0"];
    args.extend_from_slice(options);
    let join = join.map(|a| a.to_string());
    if let Some(join) = &join {
        args.extend(["--join", join.as_str()]);
    }
    Server::start(distloop_bin(), &args)
}

/// Starts `count` nodes, all joining through the first, and waits until
/// they form one ring.
pub fn start_ring(count: usize) -> Vec<Server> {
    let first = start_node(None);
    let bootstrap = first.addr;
    let mut nodes = vec![first];
    for _ in 1..count {
        nodes.push(start_node(Some(bootstrap)));
    }
    wait_for_ring(bootstrap, count);
    nodes
}

/// Waits until walking from `start` finds `count` nodes, each the
/// predecessor of the next: the ring is whole and consistent.
pub fn wait_for_ring(start: SocketAddr, count: usize) -> Vec<NodeInfo> {
    wait_for_ring_where(start, count, SETTLE_TIMEOUT, "settled", |_| true)
}

/// Waits until the ring from `start` is whole with `count` nodes and
/// `accept` holds for it, at most `timeout`; panics naming `what` after that.
pub fn wait_for_ring_where(
    start: SocketAddr,
    count: usize,
    timeout: Duration,
    what: &str,
    accept: impl Fn(&[NodeInfo]) -> bool,
) -> Vec<NodeInfo> {
    let mut client = Client::new(start).unwrap();
    client.set_attempt_timeout(Duration::from_millis(300));
    let deadline = Instant::now() + timeout;
    let mut last = Vec::new();
    loop {
        if let Ok(ring) = client.walk(start) {
            let linked = ring.len() == 1
                || (0..ring.len()).all(|i| {
                    let prev = &ring[(i + ring.len() - 1) % ring.len()];
                    ring[i].predecessor.map(|p| p.addr) == Some(prev.node.addr)
                });
            if ring.len() == count && linked && accept(&ring) {
                return ring;
            }
            last = ring;
        }
        assert!(
            Instant::now() < deadline,
            "the ring of {count} never {what}; last walk: {last:?}"
        );
        thread::sleep(Duration::from_millis(100));
    }
}

/// Copies held by the whole ring (owned and replicas).
pub fn copies(ring: &[NodeInfo]) -> u64 {
    ring.iter().map(|n| n.stored).sum()
}

/// The addresses of `nodes`.
pub fn addrs(nodes: &[Server]) -> Vec<SocketAddr> {
    nodes.iter().map(|n| n.addr).collect()
}
