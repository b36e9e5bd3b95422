//! `distloop cluster`: Pi backends and a balancer in one process, the whole
//! demonstration setup in one command, with the balancer's admin listener
//! (stats page, `/stats`, `/metrics`) so that a newcomer finds the numbers.

use std::net::{IpAddr, SocketAddr};
use std::thread;

use clap::Args;

use crate::cli::parse_addr;
use crate::lb::cli::ModeArg;
use crate::lb::{BackendSpec, Balancer, LbConfig, LbError, Mode, Strategy};

/// Where the admin listener serves the stats unless `--admin` moves it.
pub const DEFAULT_ADMIN: &str = "127.0.0.1:9000";

/// `distloop cluster`: local Pi backends behind a balancer.
#[derive(Debug, Clone, Args)]
pub struct ClusterArgs {
    /// How many Pi backends to start.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub backends: u16,
    /// The first backend's port; the others follow (0 picks free ports).
    #[arg(long, default_value_t = 5000)]
    pub base_port: u16,
    /// The address the backends bind to.
    #[arg(long, default_value = "127.0.0.1")]
    pub backend_ip: IpAddr,
    /// Where the balancer accepts clients.
    #[arg(long, default_value = "127.0.0.1:8080", value_parser = parse_addr)]
    pub listen: SocketAddr,
    /// Where the balancer serves its stats page (/, /stats, /metrics) and
    /// drain/ready commands (port 0 picks a free port).
    #[arg(long, default_value = DEFAULT_ADMIN, value_parser = parse_addr)]
    pub admin: SocketAddr,
    /// The balancing strategy (see `distloop lb --help`).
    #[arg(long, default_value = "round-robin")]
    pub strategy: Strategy,
    /// http or tcp.
    #[arg(long, value_enum, default_value = "http")]
    pub mode: ModeArg,
    /// Threads computing π in each backend.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
}

/// Why the cluster could not run.
#[derive(Debug)]
pub enum ClusterError {
    /// A backend could not start.
    Backend {
        /// The address it was to listen on.
        addr: SocketAddr,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The balancer could not start or failed.
    Balancer(LbError),
}

impl std::fmt::Display for ClusterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClusterError::Backend { addr, source } => {
                write!(f, "cannot start a Pi backend on {addr}: {source}")
            }
            ClusterError::Balancer(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ClusterError {}

/// Starts the backends, runs the balancer until SIGINT/SIGTERM, then stops
/// the backends.
pub fn run(args: &ClusterArgs) -> Result<(), ClusterError> {
    let mut servers = Vec::new();
    for i in 0..args.backends {
        let port = if args.base_port == 0 {
            0
        } else {
            args.base_port.saturating_add(i)
        };
        let addr = SocketAddr::new(args.backend_ip, port);
        let mut config = pi_backend::Config::new(addr);
        config.name = Some(format!("pi{i}"));
        config.threads = args.threads.max(1);
        let server = pi_backend::Server::bind(config)
            .map_err(|source| ClusterError::Backend { addr, source })?;
        servers.push(server);
    }
    let backends: Vec<SocketAddr> = servers.iter().map(|s| s.local_addr()).collect();
    let stoppers: Vec<_> = servers.iter().map(|s| s.stopper()).collect();
    for (server, addr) in servers.iter().zip(&backends) {
        println!("backend {} on {addr}", server.name());
    }
    let threads: Vec<_> = servers
        .into_iter()
        .map(|server| thread::spawn(move || server.run()))
        .collect();
    let mode: Mode = args.mode.into();
    let specs = servers_specs(&backends);
    let mut config = LbConfig::new(args.listen, specs, args.strategy, mode);
    config.admin = Some(args.admin);
    let outcome = Balancer::bind(config).and_then(|balancer| {
        println!("listening on {}", balancer.local_addr());
        if let Some(admin) = balancer.admin_addr() {
            println!("admin on http://{admin}/");
        }
        crate::info!(
            "{} mode, {} over {} Pi backends; Ctrl-C stops everything",
            args.mode_name(),
            args.strategy,
            args.backends
        );
        balancer.run(|| Err("the cluster has no configuration file to reload".into()))
    });
    for stopper in &stoppers {
        stopper.stop();
    }
    for thread in threads {
        let _ = thread.join();
    }
    outcome.map_err(ClusterError::Balancer)
}

impl ClusterArgs {
    fn mode_name(&self) -> &'static str {
        match self.mode {
            ModeArg::Tcp => "tcp",
            ModeArg::Http => "http",
        }
    }
}

/// The backends as the balancer names them: `pi0`, `pi1`, ...
fn servers_specs(addrs: &[SocketAddr]) -> Vec<BackendSpec> {
    addrs
        .iter()
        .enumerate()
        .map(|(i, &addr)| BackendSpec {
            name: format!("pi{i}"),
            ..BackendSpec::new(addr)
        })
        .collect()
}
