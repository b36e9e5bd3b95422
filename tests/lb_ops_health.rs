//! Health and agent checks as an operator meets them: a killed backend is
//! marked down and no later request fails (HTTP and TCP mode), and agent
//! replies drain, restore, reweigh and load a backend. The real binary on
//! loopback in front of real pi-backends; every wait is a poll with a
//! deadline.

#[path = "support/agent.rs"]
mod agent;
#[path = "support/balancer.rs"]
mod balancer;
#[path = "support/operations.rs"]
mod operations;
#[path = "support/pi.rs"]
mod pi;
mod support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Instant;

use agent::Agent;
use balancer::balancer_with_admin;
use operations::{
    INTERVAL, SETTLE, answers, backend_stats, spec, stats, try_get, wait_for, wait_for_state, who,
};
use pi::start_backends;

/// One request's outcome in a load run.
struct Outcome {
    started: Instant,
    result: Result<(u16, String), String>,
}

/// A client thread sending requests one after another until stopped.
struct LoadRun {
    stop: Arc<AtomicBool>,
    outcomes: Arc<Mutex<Vec<Outcome>>>,
    thread: thread::JoinHandle<()>,
}

impl LoadRun {
    fn start(addr: SocketAddr) -> LoadRun {
        let stop = Arc::new(AtomicBool::new(false));
        let outcomes = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, outcomes) = (Arc::clone(&stop), Arc::clone(&outcomes));
            thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let started = Instant::now();
                    let result = try_get(addr, "/50");
                    outcomes.lock().unwrap().push(Outcome { started, result });
                }
            })
        };
        LoadRun {
            stop,
            outcomes,
            thread,
        }
    }

    fn count(&self) -> usize {
        self.outcomes.lock().unwrap().len()
    }

    fn finish(self) -> Vec<Outcome> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap();
        Arc::try_unwrap(self.outcomes)
            .ok()
            .unwrap()
            .into_inner()
            .unwrap()
    }
}

fn killed_backend_is_taken_out_of_rotation(mode: &str, check: &str) {
    let mut backends = start_backends(&[&[], &[], &[]]);
    let specs: Vec<String> = ["a", "b", "c"]
        .iter()
        .zip(&backends)
        .map(|(name, s)| spec(s, name, ""))
        .collect();
    let (lb, admin_addr) = balancer_with_admin(
        &specs,
        &[
            "--mode",
            mode,
            "--health-check",
            check,
            "--health-interval",
            INTERVAL,
            "--fall",
            "2",
            "--rise",
            "2",
        ],
    );
    let load = LoadRun::start(lb.addr);
    wait_for("requests before the kill", SETTLE, || load.count() >= 20);
    backends[1].child.kill().unwrap();
    backends[1].child.wait().unwrap();
    wait_for_state(admin_addr, "b", "down");
    let down_seen = Instant::now();
    wait_for("requests after b is down", SETTLE, || {
        load.outcomes
            .lock()
            .unwrap()
            .iter()
            .filter(|o| o.started > down_seen)
            .count()
            >= 30
    });
    let outcomes = load.finish();
    let after: Vec<&Outcome> = outcomes.iter().filter(|o| o.started > down_seen).collect();
    for o in &after {
        match &o.result {
            Ok((200, backend)) => assert!(
                backend == "a" || backend == "c",
                "{mode}: a request after the fall went to {backend:?}"
            ),
            other => panic!("{mode}: a request after the fall failed: {other:?}"),
        }
    }
    let before = outcomes.iter().filter(|o| o.started <= down_seen);
    assert!(
        before
            .filter_map(|o| o.result.as_ref().ok())
            .any(|(_, b)| b == "b"),
        "{mode}: b served before it was killed"
    );
}

#[test]
fn http_mode_a_killed_backend_is_marked_down_and_no_later_request_fails() {
    killed_backend_is_taken_out_of_rotation("http", "http:/health");
}

#[test]
fn tcp_mode_a_killed_backend_is_marked_down_and_no_later_request_fails() {
    killed_backend_is_taken_out_of_rotation("tcp", "tcp");
}

#[test]
fn agent_replies_drain_restore_and_reweigh_a_backend() {
    let backends = start_backends(&[&[], &[]]);
    let agent = Agent::start("up");
    let specs = [
        spec(
            &backends[0],
            "a",
            &format!(",weight=4,agent={}", agent.port()),
        ),
        spec(&backends[1], "b", ""),
    ];
    let (lb, admin_addr) = balancer_with_admin(&specs, &["--health-interval", INTERVAL]);
    wait_for("the agent to be asked", SETTLE, || agent.served() > 0);
    wait_for_state(admin_addr, "a", "up");
    assert_eq!(backend_stats(&stats(admin_addr), "a")["weight"], 4);

    agent.set_reply("drain");
    wait_for_state(admin_addr, "a", "drain");
    let drained = answers(lb.addr, 10);
    assert!(drained.iter().all(|b| b == "b"), "{drained:?}");

    agent.set_reply("ready");
    wait_for_state(admin_addr, "a", "up");
    wait_for("a to serve again", SETTLE, || who(lb.addr, "/50") == "a");

    agent.set_reply("50%");
    wait_for("a's weight to halve", SETTLE, || {
        backend_stats(&stats(admin_addr), "a")["weight"] == 2
    });

    agent.set_reply("maint");
    wait_for_state(admin_addr, "a", "maint");
    agent.set_reply("down # disk full");
    wait_for_state(admin_addr, "a", "down");
    let down = answers(lb.addr, 6);
    assert!(down.iter().all(|b| b == "b"), "{down:?}");
    agent.set_reply("up");
    wait_for_state(admin_addr, "a", "up");
    wait_for("a to serve after down", SETTLE, || {
        who(lb.addr, "/50") == "a"
    });
}

#[test]
fn least_load_follows_the_load_the_agents_report() {
    let backends = start_backends(&[&[], &[]]);
    let agents = [Agent::start("80"), Agent::start("10")];
    let specs = [
        spec(&backends[0], "a", &format!(",agent={}", agents[0].port())),
        spec(&backends[1], "b", &format!(",agent={}", agents[1].port())),
    ];
    let (lb, _admin) = balancer_with_admin(
        &specs,
        &["--strategy", "least-load", "--health-interval", INTERVAL],
    );
    let mostly = |name: &str| {
        let seen = answers(lb.addr, 20);
        seen.iter().filter(|b| *b == name).count() >= 18
    };
    wait_for("b, reporting 10, to take the requests", SETTLE, || {
        mostly("b")
    });
    agents[0].set_reply("10");
    agents[1].set_reply("80");
    wait_for("a, now reporting 10, to take the requests", SETTLE, || {
        mostly("a")
    });
}
