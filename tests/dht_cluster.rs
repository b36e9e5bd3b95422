//! Chord rings of real `distloop dht node` processes on loopback: keys put
//! and read through every node, crashes (SIGKILL), graceful leaves
//! (SIGTERM), joins that move keys, and a lost datagram retried.

#[path = "support/dht.rs"]
mod dht_ring;
mod support;

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use dht_ring::{addrs, start_node, start_ring, wait_for_ring};
use distloop::dht::client::Client;
use support::{SIGTERM, run_distloop};

fn key(i: usize) -> String {
    format!("key-{i}")
}

fn value(i: usize) -> Vec<u8> {
    format!("value-{i}").into_bytes()
}

fn put_keys(nodes: &[SocketAddr], count: usize) {
    let mut client = Client::new(nodes[0]).unwrap();
    for i in 0..count {
        // Through a different node each time.
        let via = nodes[(i * 7 + 3) % nodes.len()];
        client.put(via, &key(i), &value(i)).unwrap();
    }
}

/// Reads every key through every node in `via`, one thread per node.
fn assert_all_readable(via: &[SocketAddr], count: usize) {
    let threads: Vec<_> = via
        .iter()
        .map(|&node| {
            thread::spawn(move || {
                let mut client = Client::new(node).unwrap();
                for i in 0..count {
                    let got = client.get(node, &key(i)).unwrap();
                    assert_eq!(got, Some(value(i)), "{} through {node}", key(i));
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
}

#[test]
fn eight_nodes_serve_every_key_from_every_node_and_survive_two_adjacent_crashes() {
    let mut nodes = start_ring(8);
    put_keys(&addrs(&nodes), 1000);
    assert_all_readable(&addrs(&nodes), 1000);

    let ring = wait_for_ring(nodes[0].addr, 8);
    let total: u64 = ring.iter().map(|n| n.stored).sum();
    let owned: u64 = ring.iter().map(|n| n.owned).sum();
    assert_eq!(owned, 1000, "each key has exactly one owner");
    // Copies made while successor lists were still filling up go only once
    // their lease runs out, so there may still be a few more than three.
    assert!(total >= 3000, "every key is stored at least three times");

    // Crash two nodes adjacent on the ring (not the bootstrap, for simplicity).
    let victims = [ring[3].node.addr, ring[4].node.addr];
    for server in nodes.iter_mut().filter(|s| victims.contains(&s.addr)) {
        server.child.kill().unwrap();
        server.child.wait().unwrap();
    }
    nodes.retain(|s| !victims.contains(&s.addr));
    wait_for_ring(nodes[0].addr, 6);
    assert_all_readable(&addrs(&nodes), 1000);
}

#[test]
fn a_graceful_leave_hands_the_keys_to_the_successor() {
    let mut nodes = start_ring(4);
    put_keys(&addrs(&nodes), 300);
    let ring = wait_for_ring(nodes[0].addr, 4);
    let leaver = ring[1].node.addr;
    let successor = ring[2].node.addr;
    let owned_before = ring[1].owned + ring[2].owned;
    assert!(ring[1].owned > 0);

    let index = nodes.iter().position(|s| s.addr == leaver).unwrap();
    nodes[index].signal(SIGTERM);
    assert_eq!(nodes[index].wait_exit(Duration::from_secs(15)), Some(0));
    nodes.remove(index);

    let ring = wait_for_ring(nodes[0].addr, 3);
    let after = ring.iter().find(|n| n.node.addr == successor).unwrap();
    assert_eq!(
        after.owned, owned_before,
        "the successor owns the leaver's keys too"
    );
    assert_all_readable(&addrs(&nodes), 300);
}

#[test]
fn a_joining_node_receives_the_keys_it_now_owns() {
    let mut nodes = start_ring(4);
    put_keys(&addrs(&nodes), 400);
    let newcomer = start_node(Some(nodes[0].addr));
    let newcomer_addr = newcomer.addr;
    nodes.push(newcomer);
    let ring = wait_for_ring(nodes[0].addr, 5);
    let info = ring.iter().find(|n| n.node.addr == newcomer_addr).unwrap();
    assert!(
        info.owned > 0,
        "400 keys over 5 nodes: the newcomer owns some"
    );
    assert!(info.stored >= info.owned);
    // Every key answered by the newcomer as well as by the others.
    assert_all_readable(&[newcomer_addr, nodes[0].addr], 400);
}

/// Forwards datagrams between a client and a node, dropping the first one
/// the client sends.
fn lossy_proxy(node: SocketAddr, seen: Arc<AtomicUsize>) -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    thread::spawn(move || {
        let mut client: Option<SocketAddr> = None;
        let mut buffer = vec![0; 65536];
        while let Ok((len, from)) = socket.recv_from(&mut buffer) {
            if from == node {
                if let Some(client) = client {
                    socket.send_to(&buffer[..len], client).unwrap();
                }
                continue;
            }
            client = Some(from);
            if seen.fetch_add(1, Ordering::SeqCst) > 0 {
                socket.send_to(&buffer[..len], node).unwrap();
            }
        }
    });
    addr
}

#[test]
fn a_lost_datagram_is_retried() {
    let nodes = start_ring(1);
    let mut client = Client::new(nodes[0].addr).unwrap();
    client.put(nodes[0].addr, "k", b"v").unwrap();

    let seen = Arc::new(AtomicUsize::new(0));
    let proxy = lossy_proxy(nodes[0].addr, Arc::clone(&seen));
    client.set_attempt_timeout(Duration::from_millis(300));
    assert_eq!(client.get(proxy, "k").unwrap(), Some(b"v".to_vec()));
    assert_eq!(
        seen.load(Ordering::SeqCst),
        2,
        "the first request was dropped, its retry answered"
    );
}

/// Runs `distloop args...`: exit code and stdout.
fn cli(args: &[&str]) -> (i32, String) {
    let (code, stdout, _) = run_distloop(args);
    (code, stdout)
}

#[test]
fn the_command_line_puts_gets_deletes_and_walks_the_ring() {
    let nodes = start_ring(3);
    let a = nodes[0].addr.to_string();
    let b = nodes[2].addr.to_string();
    assert_eq!(cli(&["dht", "put", "--node", &a, "colour", "green"]).0, 0);
    assert_eq!(
        cli(&["dht", "get", "--node", &b, "colour"]),
        (0, "green\n".to_string())
    );
    assert_eq!(cli(&["dht", "get", "--node", &b, "absent"]).0, 1);
    let (code, table) = cli(&["dht", "ring", "--node", &b]);
    assert_eq!(code, 0);
    assert_eq!(
        table.lines().count(),
        4,
        "a header and three nodes:\n{table}"
    );
    for node in &nodes {
        assert!(table.contains(&node.addr.to_string()));
    }
    assert_eq!(cli(&["dht", "delete", "--node", &a, "colour"]).0, 0);
    assert_eq!(cli(&["dht", "get", "--node", &a, "colour"]).0, 1);
    assert_eq!(cli(&["dht", "delete", "--node", &a, "colour"]).0, 1);
}

#[test]
fn the_bench_command_measures_puts_and_gets_on_a_loopback_ring() {
    let (code, out) = cli(&[
        "dht",
        "bench",
        "--nodes",
        "4",
        "--operations",
        "300",
        "--clients",
        "2",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("4 nodes, 2 clients: put "), "{out}");
    assert!(out.contains(" 0 wrong gets"), "{out}");
}
