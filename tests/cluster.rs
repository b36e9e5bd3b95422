//! The one-command setup: `distloop cluster` answers π through the balancer
//! and shows its stats on the admin address it prints.

#[path = "support/operations.rs"]
mod operations;
#[path = "support/pi.rs"]
mod pi;
mod support;

use std::net::SocketAddr;
use std::time::Duration;

use operations::{admin, stats, wait_for};
use pi::{Conn, reference_pi};
use support::{SIGINT, STARTUP_TIMEOUT, Server, distloop_bin};

/// Every port ephemeral, so that the tests never meet a running cluster.
const EPHEMERAL: [&str; 6] = [
    "--base-port",
    "0",
    "--listen",
    "127.0.0.1:0",
    "--admin",
    "127.0.0.1:0",
];

/// Starts `distloop cluster ARGS` with every port ephemeral.
fn start_cluster(args: &[&str]) -> Server {
    let mut all = vec!["cluster"];
    all.extend(EPHEMERAL);
    all.extend(args);
    Server::start(distloop_bin(), &all)
}

/// The address of the `admin on http://ADDR/` line that follows the
/// listening line.
fn admin_addr(cluster: &Server) -> SocketAddr {
    let line = cluster
        .next_line(STARTUP_TIMEOUT)
        .expect("a line after the listening line");
    line.strip_prefix("admin on http://")
        .and_then(|rest| rest.strip_suffix('/'))
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("not an admin line: {line:?}"))
}

#[test]
fn cluster_serves_a_thousand_correct_digits_and_stops_on_sigint() {
    let mut cluster = start_cluster(&[]);
    let mut conn = Conn::open(cluster.addr);
    let (status, backend, digits) = conn.get("/1000", false);
    assert_eq!(status, 200);
    assert!(backend.starts_with("pi"), "answered by {backend}");
    assert_eq!(digits, reference_pi(1000));
    // curl, as the README shows it, through the same balancer.
    let out = support::tool("curl")
        .args([
            "-s",
            "-H",
            "Accept: text/plain",
            &format!("http://{}/1000", cluster.addr),
        ])
        .output()
        .expect("curl runs");
    assert_eq!(String::from_utf8(out.stdout).unwrap(), digits);
    drop(conn);
    cluster.signal(SIGINT);
    assert_eq!(cluster.wait_exit(Duration::from_secs(15)), Some(0));
}

#[test]
fn cluster_prints_its_admin_address_and_serves_the_stats_there() {
    let mut cluster = start_cluster(&["--backends", "2"]);
    let admin_at = admin_addr(&cluster);
    assert_ne!(admin_at.port(), 0, "the bound address, not the asked one");
    let mut conn = Conn::open(cluster.addr);
    let (status, _, digits) = conn.get("/10", false);
    assert_eq!((status, digits.len()), (200, 12));
    drop(conn);
    // The workers publish their figures about once a second.
    wait_for("both backends on /stats", STARTUP_TIMEOUT, || {
        let names: Vec<String> = stats(admin_at)["backends"]
            .as_array()
            .map(|backends| backends.iter().map(|b| b["name"].to_string()).collect())
            .unwrap_or_default();
        names == [r#""pi0""#, r#""pi1""#]
    });
    let (status, page) = admin(admin_at, "GET", "/");
    assert_eq!(status, 200);
    assert!(page.contains("<html"), "{page}");
    cluster.signal(SIGINT);
    assert_eq!(cluster.wait_exit(Duration::from_secs(15)), Some(0));
}

#[test]
fn cluster_refuses_an_admin_flag_that_is_not_an_address() {
    let (code, _, stderr) = support::run_distloop(&["cluster", "--admin", "nowhere"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--admin"), "{stderr}");
}

#[test]
fn calc_and_backup_list_their_cluster_beside_their_own_commands() {
    for (command, own) in [
        ("calc", &["server", "client"][..]),
        (
            "backup",
            &["manager", "server", "put", "get", "ls", "rm", "status"][..],
        ),
    ] {
        let (code, help, stderr) = support::run_distloop(&[command, "--help"]);
        assert_eq!(code, 0, "{stderr}");
        let listed: Vec<&str> = help
            .lines()
            .skip_while(|line| !line.starts_with("Commands:"))
            .skip(1)
            .take_while(|line| line.starts_with("  "))
            .filter_map(|line| line.split_whitespace().next())
            .collect();
        let mut want: Vec<&str> = own.to_vec();
        want.extend(["cluster", "help"]);
        assert_eq!(listed, want, "{command}: {help}");
    }
}
