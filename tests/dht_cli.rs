//! The exit codes and messages of `distloop dht get`, `put` and `delete`:
//! absent key 1, unreachable node 3, failed lookup 4, each with its own
//! message on stderr.

#[path = "support/dht.rs"]
mod dht_ring;
mod support;

use std::net::UdpSocket;

use dht_ring::{start_node_with, start_ring, wait_for_ring};
use distloop::dht::Ring;
use distloop::dht::id::in_half_open;
use support::{SIGCONT, SIGSTOP, run_distloop};

#[test]
fn an_absent_key_exits_1() {
    let nodes = start_ring(1);
    let node = nodes[0].addr.to_string();
    let (code, out, err) = run_distloop(&["dht", "get", "--node", &node, "absent"]);
    assert_eq!((code, out.as_str()), (1, ""));
    assert!(err.contains("absent: no such key"), "{err}");
    assert_eq!(
        run_distloop(&["dht", "delete", "--node", &node, "absent"]).0,
        1
    );
}

#[test]
fn a_node_that_never_answers_exits_3() {
    // A bound port where nobody answers (no ICMP error either).
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let node = silent.local_addr().unwrap().to_string();
    for command in ["get", "delete"] {
        let (code, _, err) = run_distloop(&[
            "dht",
            command,
            "--node",
            &node,
            "--attempt-timeout-ms",
            "100",
            "colour",
        ]);
        assert_eq!(code, 3, "{command}: {err}");
        assert!(
            err.contains(&format!("node {node} is unreachable")),
            "{err}"
        );
    }
    let (code, _, err) = run_distloop(&[
        "dht",
        "put",
        "--node",
        &node,
        "--attempt-timeout-ms",
        "100",
        "colour",
        "green",
    ]);
    assert_eq!(code, 3, "{err}");
}

#[test]
fn a_lookup_that_fails_exits_4() {
    // One copy of each key, and slow maintenance: the surviving node keeps
    // the hung one as its successor long enough to try it for the key.
    let options = ["--replicas", "1", "--stabilize-ms", "2000"];
    let first = start_node_with(None, &options);
    let second = start_node_with(Some(first.addr), &options);
    let ring = wait_for_ring(first.addr, 2);
    let hung = ring.iter().find(|n| n.node.addr == second.addr).unwrap();
    let before = hung.predecessor.unwrap().id;
    let key = (0..)
        .map(|i| format!("key-{i}"))
        .find(|k| {
            in_half_open(
                Ring::new(64).unwrap().key_id(k.as_bytes()),
                before,
                hung.node.id,
            )
        })
        .unwrap();

    second.signal(SIGSTOP);
    let node = first.addr.to_string();
    let (code, out, err) = run_distloop(&["dht", "get", "--node", &node, &key]);
    second.signal(SIGCONT);
    assert_eq!((code, out.as_str()), (4, ""), "{err}");
    assert!(err.contains("the operation failed"), "{err}");
    assert!(err.contains("timed out"), "names the cause: {err}");
}
