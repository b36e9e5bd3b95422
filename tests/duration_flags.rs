//! Every duration flag of every binary takes the one syntax (`500ms`, `2s`,
//! `1m`, `1h`, a plain number): each server below starts with its duration
//! flags in units and prints `listening on`, and a bad duration is a
//! one-line error with exit code 2.

mod support;

use support::{Server, distloop_bin, pi_backend_bin, run_distloop, temp_path};

/// Starts `distloop args...` and asserts it comes up.
fn starts(args: &[&str]) {
    let server = Server::start(distloop_bin(), args);
    assert!(server.addr.port() != 0, "{args:?}");
}

#[test]
fn backup_flags_take_units() {
    let state = temp_path("duration-flags-backup-state");
    let dir = temp_path("duration-flags-backup-dir");
    let manager = Server::start(
        distloop_bin(),
        &[
            "backup",
            "manager",
            "--listen",
            "127.0.0.1:0",
            "--state",
            state.to_str().unwrap(),
            "--dead-after",
            "2s",
            "--orphan-grace",
            "500ms",
        ],
    );
    let manager_addr = manager.addr.to_string();
    starts(&[
        "backup",
        "server",
        "--listen",
        "127.0.0.1:0",
        "--manager",
        &manager_addr,
        "--dir",
        dir.to_str().unwrap(),
        "--heartbeat-interval",
        "500ms",
        "--scrub-interval",
        "1h",
    ]);
    drop(manager);
    let _ = std::fs::remove_dir_all(state);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn backup_flags_keep_plain_seconds() {
    let state = temp_path("duration-flags-backup-plain");
    starts(&[
        "backup",
        "manager",
        "--listen",
        "127.0.0.1:0",
        "--state",
        state.to_str().unwrap(),
        "--dead-after",
        "2",
        "--orphan-grace",
        "0.5",
    ]);
    let _ = std::fs::remove_dir_all(state);
}

#[test]
fn search_master_chunk_timeout_takes_units() {
    starts(&[
        "search",
        "master",
        "--listen",
        "127.0.0.1:0",
        "--chunk-timeout",
        "2s",
    ]);
    starts(&[
        "search",
        "master",
        "--listen",
        "127.0.0.1:0",
        "--chunk-timeout",
        "90",
    ]);
}

#[test]
fn dht_millisecond_flags_take_units_and_plain_milliseconds() {
    for period in ["2s", "500ms", "250"] {
        starts(&[
            "dht",
            "node",
            "--listen",
            "127.0.0.1:0",
            "--stabilize-ms",
            period,
        ]);
    }
    // Nothing answers there: the client gives up after its 3 attempts.
    let nobody = support::dead_addr().to_string();
    for wait in ["100ms", "100"] {
        let (code, _, stderr) = run_distloop(&[
            "dht",
            "get",
            "--node",
            &nobody,
            "--attempt-timeout-ms",
            wait,
            "key",
        ]);
        assert_eq!(code, 3, "--attempt-timeout-ms {wait}: {stderr}");
    }
}

#[test]
fn broker_echo_and_balancer_durations_take_units() {
    starts(&[
        "broker",
        "--listen",
        "127.0.0.1:0",
        "--slow-consumer-timeout",
        "500ms",
        "--error-linger",
        "1m",
    ]);
    starts(&[
        "echo",
        "server",
        "--model",
        "threaded",
        "--listen",
        "127.0.0.1:0",
        "--idle-timeout",
        "2s",
    ]);
    starts(&[
        "lb",
        "--listen",
        "127.0.0.1:0",
        "--backend",
        "127.0.0.1:1",
        "--connect-timeout",
        "500ms",
        "--drain-timeout",
        "2",
    ]);
}

#[test]
fn pi_backend_delay_takes_units_and_plain_milliseconds() {
    for delay in ["500ms", "1s", "5"] {
        let server = Server::start(
            pi_backend_bin(),
            &["--listen", "127.0.0.1:0", "--delay", delay],
        );
        assert!(server.addr.port() != 0, "--delay {delay}");
    }
}

#[test]
fn a_bad_duration_is_one_line_and_exit_code_2() {
    let state = temp_path("duration-flags-refused");
    let state = state.to_str().unwrap();
    for (flag, value) in [
        ("--dead-after", "soon"),
        ("--dead-after", "0s"),
        ("--orphan-grace", "-1s"),
        ("--dead-after", "2 weeks"),
    ] {
        // `=` so that `-1s` is read as the flag's value, not as a flag.
        let setting = format!("{flag}={value}");
        let (code, _, stderr) = run_distloop(&[
            "backup",
            "manager",
            "--listen",
            "127.0.0.1:0",
            "--state",
            state,
            &setting,
        ]);
        assert_eq!(code, 2, "{flag} {value}: {stderr}");
        assert!(stderr.contains(flag), "{flag} {value}: {stderr}");
        assert!(!stderr.contains("positive number of seconds"), "{stderr}");
    }
    let (code, _, stderr) = run_distloop(&[
        "search",
        "master",
        "--listen",
        "127.0.0.1:0",
        "--chunk-timeout",
        "0",
    ]);
    assert_eq!(code, 2, "{stderr}");
}
