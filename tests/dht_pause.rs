//! A node that hangs (SIGSTOP) while the ring takes new values for its keys,
//! then comes back (SIGCONT): real `distloop dht node` processes on loopback.
//! The ring must never serve an older value than it acknowledged, and once
//! settled must hold exactly `replicas` copies of every key.

#[path = "support/dht.rs"]
mod dht_ring;
mod support;

use std::net::SocketAddr;
use std::thread;
use std::time::Duration;

use dht_ring::{addrs, copies, start_ring, wait_for_ring, wait_for_ring_where};
use distloop::dht::client::Client;
use support::{SIGCONT, SIGSTOP};

const NODES: usize = 6;
const KEYS: usize = 200;
/// Copies of every key (the nodes' default `--replicas`).
const REPLICAS: u64 = 3;
/// Longest wait for the extra copies made while the node hung to go.
const COPIES_TIMEOUT: Duration = Duration::from_secs(90);

fn key(i: usize) -> String {
    format!("key-{i}")
}

fn value(round: &str, i: usize) -> Vec<u8> {
    format!("{round}-{i}").into_bytes()
}

fn put_all(via: &[SocketAddr], round: &str) {
    let mut client = Client::new(via[0]).unwrap();
    for i in 0..KEYS {
        let node = via[i % via.len()];
        client
            .put(node, &key(i), &value(round, i))
            .unwrap_or_else(|e| panic!("put {} through {node}: {e}", key(i)));
    }
}

/// Reads every key through every node in `via` (one thread each) and
/// returns the reads that did not give `round`'s value.
fn wrong_reads(via: &[SocketAddr], round: &'static str) -> Vec<String> {
    let threads: Vec<_> = via
        .iter()
        .map(|&node| {
            thread::spawn(move || {
                let mut client = Client::new(node).unwrap();
                let mut wrong = Vec::new();
                for i in 0..KEYS {
                    let got = client.get(node, &key(i));
                    match got {
                        Ok(Some(v)) if v == value(round, i) => {}
                        other => wrong.push(format!(
                            "{} through {node}: {:?}",
                            key(i),
                            other.map(|v| v.map(|v| String::from_utf8_lossy(&v).into_owned()))
                        )),
                    }
                }
                wrong
            })
        })
        .collect();
    threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect()
}

#[test]
fn a_node_that_hung_never_serves_or_spreads_the_values_it_missed() {
    let nodes = start_ring(NODES);
    let all = addrs(&nodes);
    put_all(&all, "old");

    // Not the bootstrap, through which the ring is walked.
    let victim = &nodes[NODES / 2];
    let others: Vec<SocketAddr> = all.iter().copied().filter(|&a| a != victim.addr).collect();
    victim.signal(SIGSTOP);
    put_all(&others, "new");
    assert!(
        wrong_reads(&others, "new").is_empty(),
        "the ring without the hung node answers the new values"
    );
    victim.signal(SIGCONT);

    // From the moment it runs again, reads through any node, the returned
    // one included, give the values the ring acknowledged last.
    let wrong = wrong_reads(&all, "new");
    assert!(
        wrong.is_empty(),
        "{} stale or failed reads right after the node came back, e.g. {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(5)]
    );
    wait_for_ring(all[0], NODES);
    let wrong = wrong_reads(&all, "new");
    assert!(
        wrong.is_empty(),
        "{} stale or failed reads once the ring is whole again, e.g. {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(5)]
    );

    // The copies the others made while it hung are dropped once the right
    // nodes hold them: every key on its owner and the next two nodes only.
    let ring = wait_for_ring_where(
        all[0],
        NODES,
        COPIES_TIMEOUT,
        "came back to three copies of every key",
        |ring| copies(ring) == KEYS as u64 * REPLICAS,
    );
    assert_eq!(ring.iter().map(|n| n.owned).sum::<u64>(), KEYS as u64);
    assert!(wrong_reads(&all, "new").is_empty());
}
