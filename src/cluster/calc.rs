//! `distloop calc cluster`: the Discal setup in one command. Calculator
//! servers run as child processes (each its own process, so that each one's
//! CPU load is its own; the last one burns CPU), and the balancer runs in
//! this process, *configured* through its public [`LbConfig`] (the
//! calculator never imports it) with `--mode tcp --strategy least-load` and
//! each server's status port as its agent. Every couple of seconds a line
//! says how many requests each server has answered and the load it reports.
//!
//! The `distloop calc` command line is put together here too: the
//! calculator's own commands ([`crate::apps::calc::cli`]) and `cluster`.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::Value;

use crate::apps::calc::cli::{self as calculator, CalcCommand};
use crate::cli::{DURATION_HELP, parse_addr, parse_duration};
use crate::lb::{BackendSpec, Balancer, HealthConfig, LbConfig, LbError, Mode, Strategy};

/// How often the cluster prints where requests went.
pub const REPORT_INTERVAL: Duration = Duration::from_secs(2);
/// How long a child server may take to print its listening lines.
pub const SERVER_START_TIMEOUT: Duration = Duration::from_secs(10);

/// `distloop calc`: the distributed calculator.
#[derive(Debug, Args)]
pub struct CalcArgs {
    #[command(subcommand)]
    command: CalcSubcommand,
}

#[derive(Debug, Subcommand)]
enum CalcSubcommand {
    #[command(flatten)]
    Calculator(CalcCommand),
    /// Run 3 servers (one burning 80% CPU) behind the balancer with least-load.
    Cluster(ClusterArgs),
}

/// The flags of `distloop calc cluster`.
#[derive(Debug, Args)]
#[command(after_help = DURATION_HELP)]
pub struct ClusterArgs {
    /// Where the balancer accepts clients.
    #[arg(long, default_value = "127.0.0.1:7000", value_parser = parse_addr)]
    listen: SocketAddr,
    /// How many servers to start.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=16))]
    servers: u8,
    /// The CPU percent the last server burns.
    #[arg(long, default_value_t = 80, value_parser = clap::value_parser!(u8).range(0..=100))]
    burn: u8,
    /// How often the balancer asks each server's status port.
    #[arg(long, default_value = "500ms", value_name = "DURATION", value_parser = parse_duration)]
    agent_interval: Duration,
}

/// Runs `distloop calc ...`; the exit code is the command's.
pub fn run(args: CalcArgs) -> ExitCode {
    match args.command {
        CalcSubcommand::Calculator(command) => calculator::run(command),
        CalcSubcommand::Cluster(args) => {
            let config = ClusterConfig {
                listen: args.listen,
                servers: args.servers,
                burn: args.burn,
                agent_interval: args.agent_interval,
            };
            match run_cluster(&config) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("distloop calc cluster: {error}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// What the cluster runs.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// Where the balancer accepts clients.
    pub listen: SocketAddr,
    /// How many servers.
    pub servers: u8,
    /// The CPU percent the last server burns.
    pub burn: u8,
    /// How often the balancer reads each status port.
    pub agent_interval: Duration,
}

/// Why the cluster could not run.
#[derive(Debug)]
pub enum ClusterError {
    /// A server process could not start or did not say where it listens.
    Server {
        /// Its name.
        name: String,
        /// What went wrong.
        reason: String,
    },
    /// The balancer could not start or failed.
    Balancer(LbError),
}

impl fmt::Display for ClusterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClusterError::Server { name, reason } => {
                write!(f, "calculator server {name} did not start: {reason}")
            }
            ClusterError::Balancer(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ClusterError {}

/// A child server, killed when dropped.
struct ChildServer {
    name: String,
    child: Child,
    calculator: SocketAddr,
    status: SocketAddr,
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(name: &str, burn: u8) -> Result<ChildServer, ClusterError> {
    let fail = |reason: String| ClusterError::Server {
        name: name.to_string(),
        reason,
    };
    let exe = std::env::current_exe().map_err(|e| fail(e.to_string()))?;
    let mut child = Command::new(exe)
        .args([
            "calc",
            "server",
            "--listen",
            "127.0.0.1:0",
            "--status",
            "127.0.0.1:0",
        ])
        .args(["--name", name, "--burn", &burn.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| fail(e.to_string()))?;
    let stdout = child.stdout.take().expect("a piped stdout");
    let (lines_tx, lines_rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        for _ in 0..2 {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                break;
            }
            let _ = lines_tx.send(line);
        }
        // Keep draining so that the child never blocks on a full pipe.
        let _ = reader.read_to_end(&mut Vec::new());
    });
    let mut server = ChildServer {
        name: name.to_string(),
        child,
        calculator: SocketAddr::from(([127, 0, 0, 1], 0)),
        status: SocketAddr::from(([127, 0, 0, 1], 0)),
    };
    for slot in [&mut server.calculator, &mut server.status] {
        let line = lines_rx
            .recv_timeout(SERVER_START_TIMEOUT)
            .map_err(|_| fail("it printed no listening line".into()))?;
        *slot = line
            .rsplit_once("listening on ")
            .and_then(|(_, addr)| addr.trim().parse().ok())
            .ok_or_else(|| fail(format!("unexpected line {line:?}")))?;
    }
    Ok(server)
}

/// Starts the servers, runs the balancer until SIGINT/SIGTERM, then stops
/// the servers.
pub fn run_cluster(config: &ClusterConfig) -> Result<(), ClusterError> {
    let mut servers = Vec::new();
    for i in 0..config.servers {
        let burn = if i + 1 == config.servers {
            config.burn
        } else {
            0
        };
        let server = start_server(&format!("calc{i}"), burn)?;
        println!(
            "server {} on {} (status {}){}",
            server.name,
            server.calculator,
            server.status,
            if burn > 0 {
                format!(", burning {burn}% CPU")
            } else {
                String::new()
            }
        );
        servers.push(server);
    }
    let backends = servers
        .iter()
        .map(|server| BackendSpec {
            name: server.name.clone(),
            agent_port: Some(server.status.port()),
            ..BackendSpec::new(server.calculator)
        })
        .collect();
    let mut lb_config = LbConfig::new(config.listen, backends, Strategy::LeastLoad, Mode::Tcp);
    lb_config.health = HealthConfig {
        interval: config.agent_interval,
        timeout: config.agent_interval.min(Duration::from_secs(1)),
        ..HealthConfig::default()
    };
    let balancer = Balancer::bind(lb_config).map_err(ClusterError::Balancer)?;
    println!("listening on {}", balancer.local_addr());
    crate::info!(
        "try: distloop calc client --server {} '2 * (3 + 4)'",
        balancer.local_addr()
    );
    let stop = Arc::new(AtomicBool::new(false));
    let reporter = {
        let stop = stop.clone();
        let watched: Vec<(String, SocketAddr)> =
            servers.iter().map(|s| (s.name.clone(), s.status)).collect();
        thread::spawn(move || report_shares(&watched, &stop))
    };
    let outcome = balancer.run(|| Err("the calculator cluster has no configuration file".into()));
    stop.store(true, Ordering::Relaxed);
    let _ = reporter.join();
    drop(servers);
    outcome.map_err(ClusterError::Balancer)
}

/// Prints each server's requests and load whenever the requests changed.
fn report_shares(servers: &[(String, SocketAddr)], stop: &AtomicBool) {
    let mut last = String::new();
    while !stop.load(Ordering::Relaxed) {
        thread::sleep(REPORT_INTERVAL);
        let statuses: Vec<Option<Value>> = servers
            .iter()
            .map(|(_, addr)| fetch_status(*addr).ok())
            .collect();
        let line = servers
            .iter()
            .zip(&statuses)
            .map(|((name, _), status)| match status {
                Some(status) => format!(
                    "{name} {} requests (load {}%)",
                    status["requests"], status["load"]
                ),
                None => format!("{name} unreachable"),
            })
            .collect::<Vec<_>>()
            .join(", ");
        let requests: Vec<String> = statuses
            .iter()
            .map(|s| {
                s.as_ref()
                    .map_or(String::new(), |s| s["requests"].to_string())
            })
            .collect();
        let key = requests.join(",");
        if key != last {
            println!("{line}");
            last = key;
        }
    }
}

/// `GET /` on a status port, as JSON.
pub fn fetch_status(addr: SocketAddr) -> io::Result<Value> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.write_all(b"GET / HTTP/1.1\r\nHost: status\r\nConnection: close\r\n\r\n")?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply)?;
    let body = reply
        .split_once("\r\n\r\n")
        .map(|(_, body)| body)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no HTTP body"))?;
    serde_json::from_str(body).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}
