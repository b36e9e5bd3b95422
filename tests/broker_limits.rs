//! The broker's connection cap (`--max-connections`) and its retry after an
//! accept error (out of file descriptors), against the real binary.

#[path = "support/broker_limits.rs"]
mod broker_limits;
mod support;

use std::process::Command;
use std::time::Duration;

use broker_limits::{Asker, broker, broker_with_open_files};
use support::distloop_bin;

/// How long a client that should be served may wait for its answer.
const ANSWER_WAIT: Duration = Duration::from_secs(10);
/// How long a client held at the cap is watched for an answer it must not get.
const HELD_WAIT: Duration = Duration::from_millis(300);

#[test]
fn clients_past_the_cap_wait_until_one_leaves() {
    let server = broker(&["--max-connections", "2"]);
    let mut first = Asker::ask(server.addr);
    let mut second = Asker::ask(server.addr);
    assert!(first.answered_within(ANSWER_WAIT));
    assert!(second.answered_within(ANSWER_WAIT));
    let mut third = Asker::ask(server.addr);
    assert!(
        !third.answered_within(HELD_WAIT),
        "a third client is not served while two are"
    );
    drop(first);
    assert!(
        third.answered_within(ANSWER_WAIT),
        "served once a place is free"
    );
}

#[test]
fn accepting_resumes_after_running_out_of_file_descriptors() {
    // Room for a handful of clients beside the broker's own descriptors.
    let server = broker_with_open_files(24);
    let early: Vec<Asker> = (0..40).map(|_| Asker::ask(server.addr)).collect();
    let mut late: Vec<Asker> = (0..3).map(|_| Asker::ask(server.addr)).collect();
    // Every descriptor comes free, but no new client arrives to raise an
    // event on the listener: only the retry timer brings the late ones in.
    drop(early);
    for asker in &mut late {
        assert!(
            asker.answered_within(ANSWER_WAIT),
            "a late client is served"
        );
    }
}

#[test]
fn a_cap_of_zero_is_refused() {
    let out = Command::new(distloop_bin())
        .args([
            "broker",
            "--listen",
            "127.0.0.1:0",
            "--max-connections",
            "0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
