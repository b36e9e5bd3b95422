//! Launchers for `distloop lb` on an ephemeral loopback port in front of
//! given backends: one place that knows the balancer's command line.
#![allow(dead_code)]

use std::net::SocketAddr;

use crate::support::{Server, distloop_bin};

/// `lb --listen 127.0.0.1:0`, one `--backend` per entry of `backends`
/// (an address, or an address with `,name=...` options), then `extra`.
fn args(backends: &[impl ToString], extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["lb", "--listen", "127.0.0.1:0"].map(String::from).to_vec();
    for backend in backends {
        args.push("--backend".into());
        args.push(backend.to_string());
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// Starts the balancer (HTTP mode unless `extra` says otherwise) and waits
/// for its `listening on` line.
pub fn balancer(backends: &[impl ToString], extra: &[&str]) -> Server {
    let args = args(backends, extra);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Server::start(distloop_bin(), &args)
}

/// Starts the balancer with `--log-level debug`, its stderr kept for
/// [`Server::next_log_line`].
pub fn balancer_logging_debug(backends: &[impl ToString], extra: &[&str]) -> Server {
    let mut args = args(backends, extra);
    args.extend(["--log-level".to_string(), "debug".to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Server::start_with_logs(distloop_bin(), &args)
}

/// Starts the balancer in TCP mode.
pub fn tcp_balancer(backends: &[impl ToString], extra: &[&str]) -> Server {
    let mut flags = vec!["--mode", "tcp"];
    flags.extend_from_slice(extra);
    balancer(backends, &flags)
}

/// Starts the balancer with an admin port as well; returns the balancer
/// (clients connect to its `addr`) and the admin address.
pub fn balancer_with_admin(backends: &[impl ToString], extra: &[&str]) -> (Server, SocketAddr) {
    let mut args = args(backends, extra);
    args.extend(["--admin".to_string(), "127.0.0.1:0".to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Server::start_expecting(distloop_bin(), &args, 2);
    let admin = server.other_addrs[0].1;
    (server, admin)
}

/// For a balancer that takes its backends from `--config` alone.
pub const NO_BACKENDS: [&str; 0] = [];
