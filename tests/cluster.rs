//! The one-command setup: `distloop cluster` answers π through the balancer.

#[path = "support/pi.rs"]
mod pi;
mod support;

use std::time::Duration;

use pi::{Conn, reference_pi};
use support::{SIGINT, Server, distloop_bin};

#[test]
fn cluster_serves_a_thousand_correct_digits_and_stops_on_sigint() {
    let mut cluster = Server::start(
        distloop_bin(),
        &["cluster", "--base-port", "0", "--listen", "127.0.0.1:0"],
    );
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
