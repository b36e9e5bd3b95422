//! `distloop dht bench`: put and get throughput of a ring of real UDP nodes
//! on loopback, each node on its own reactor thread in this process, driven
//! by blocking clients on further threads. Bounded in operations and time.

use std::error::Error;
use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use super::client::Client;
use super::config::Config;
use super::udp::UdpNode;
use crate::reactor::{Handle, Reactor};

/// Longest wait for the ring to link up before measuring.
pub const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Stabilization period of the benchmark's nodes.
pub const BENCH_STABILIZE_INTERVAL: Duration = Duration::from_millis(100);

/// Throughput measured by [`run`].
#[derive(Debug, Clone, Copy)]
pub struct Throughput {
    /// Puts per second.
    pub puts_per_second: f64,
    /// Gets per second.
    pub gets_per_second: f64,
    /// Gets that did not return the value put.
    pub wrong_gets: usize,
}

fn start_node(
    config: Config,
    join: Option<SocketAddr>,
) -> Result<(SocketAddr, Handle, thread::JoinHandle<()>), Box<dyn Error>> {
    let listen: SocketAddr = "127.0.0.1:0".parse()?;
    let mut reactor = Reactor::new()?;
    let mut node = UdpNode::bind(listen, join, config, Instant::now())?;
    node.register(&mut reactor)?;
    let addr = node.local_addr();
    let handle = reactor.handle();
    reactor.set_drain_timeout(Duration::from_secs(2));
    let thread = thread::spawn(move || {
        if let Err(e) = reactor.run(&mut node) {
            eprintln!("dht bench: node {addr} stopped: {e}");
        }
    });
    Ok((addr, handle, thread))
}

fn wait_for_ring(start: SocketAddr, count: usize) -> Result<(), Box<dyn Error>> {
    let mut client = Client::new(start)?;
    client.set_attempt_timeout(Duration::from_millis(300));
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    while Instant::now() < deadline {
        if let Ok(ring) = client.walk(start) {
            let linked = (0..ring.len()).all(|i| {
                let prev = &ring[(i + ring.len() - 1) % ring.len()];
                ring[i].predecessor.map(|p| p.addr) == Some(prev.node.addr)
            });
            if ring.len() == count && linked {
                return Ok(());
            }
        }
        thread::sleep(Duration::from_millis(100));
    }
    Err(format!("the ring of {count} nodes did not link up within {SETTLE_TIMEOUT:?}").into())
}

/// Runs `operations` puts then as many gets through `clients` threads
/// against a fresh ring of `nodes` nodes.
pub fn run(
    config: Config,
    nodes: usize,
    operations: usize,
    clients: usize,
) -> Result<Throughput, Box<dyn Error>> {
    let mut config = config;
    config.stabilize_interval = BENCH_STABILIZE_INTERVAL;
    config.fix_fingers_interval = BENCH_STABILIZE_INTERVAL;
    config.check_predecessor_interval = BENCH_STABILIZE_INTERVAL;
    let mut running = vec![start_node(config, None)?];
    let bootstrap = running[0].0;
    for _ in 1..nodes.max(1) {
        running.push(start_node(config, Some(bootstrap))?);
    }
    let addrs: Vec<SocketAddr> = running.iter().map(|n| n.0).collect();
    let result = wait_for_ring(bootstrap, addrs.len()).and_then(|()| {
        // Let the fingers fill in so that lookups take their usual paths.
        thread::sleep(BENCH_STABILIZE_INTERVAL * 20);
        let clients = clients.max(1);
        let put_seconds = timed(&addrs, operations, clients, Phase::Put)?.0;
        let (get_seconds, wrong_gets) = timed(&addrs, operations, clients, Phase::Get)?;
        Ok(Throughput {
            puts_per_second: operations as f64 / put_seconds,
            gets_per_second: operations as f64 / get_seconds,
            wrong_gets,
        })
    });
    for (_, handle, _) in &running {
        handle.shutdown();
        // A second request ends the loop without waiting for the hand-over.
        handle.shutdown();
    }
    for (_, _, thread) in running {
        let _ = thread.join();
    }
    result
}

#[derive(Clone, Copy, PartialEq)]
enum Phase {
    Put,
    Get,
}

fn timed(
    addrs: &[SocketAddr],
    operations: usize,
    clients: usize,
    phase: Phase,
) -> Result<(f64, usize), Box<dyn Error>> {
    let start = Instant::now();
    let workers: Vec<_> = (0..clients)
        .map(|worker| {
            let addrs = addrs.to_vec();
            thread::spawn(move || -> Result<usize, String> {
                let mut client = Client::new(addrs[0]).map_err(|e| e.to_string())?;
                let mut wrong = 0;
                for i in (worker..operations).step_by(clients) {
                    let via = addrs[i % addrs.len()];
                    let key = format!("bench-{i}");
                    match phase {
                        Phase::Put => client
                            .put(via, &key, key.as_bytes())
                            .map_err(|e| e.to_string())?,
                        Phase::Get => {
                            let value = client.get(via, &key).map_err(|e| e.to_string())?;
                            wrong += usize::from(value.as_deref() != Some(key.as_bytes()));
                        }
                    }
                }
                Ok(wrong)
            })
        })
        .collect();
    let mut wrong = 0;
    for worker in workers {
        wrong += worker.join().map_err(|_| "a client thread panicked")??;
    }
    Ok((start.elapsed().as_secs_f64(), wrong))
}
