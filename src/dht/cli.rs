//! The `distloop dht` command line: clap types and the function that runs
//! them. Parsing and output only; the work is done by the node, the client
//! and the simulation.

use std::error::Error;
use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};

use super::client::{Client, ClientError};
use super::config::{Config, DEFAULT_REPLICAS};
use super::id::Ring;
use super::sim::{self, Experiment, Failure, NetworkConfig, Report};
use super::udp::UdpNode;
use crate::cli::{DURATION_OR_MILLIS_HELP, parse_positive_duration_or_millis};
use crate::reactor::Reactor;

/// `distloop dht ...`
#[derive(Debug, Args)]
pub struct DhtArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: DhtCommand,
}

/// The `dht` subcommands.
#[derive(Debug, Subcommand)]
pub enum DhtCommand {
    /// Run a node: start a ring, or join one with --join.
    Node(NodeArgs),
    /// Store a value under a key.
    Put(PutArgs),
    /// Print the value of a key (exit code 1 when absent, 3 when the node
    /// cannot be reached, 4 when the ring could not complete the lookup).
    Get(KeyArgs),
    /// Delete a key (exit codes as for get).
    Delete(KeyArgs),
    /// Walk the ring and print each node's id, address and key counts.
    Ring(RingWalkArgs),
    /// Simulate a ring in one process and measure lookups and key loss.
    Simulate(SimulateArgs),
    /// Measure put and get operations per second on a loopback ring.
    Bench(BenchArgs),
}

/// `distloop dht bench`
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Nodes in the loopback ring (each on its own reactor thread).
    #[arg(long, default_value_t = 16)]
    pub nodes: usize,
    /// Puts, then as many gets.
    #[arg(long, default_value_t = 20_000)]
    pub operations: usize,
    /// Client threads issuing operations at once.
    #[arg(long, default_value_t = 4)]
    pub clients: usize,
    /// Ring settings.
    #[command(flatten)]
    pub ring: RingArgs,
}

/// Ring-wide settings shared by the commands that create nodes.
#[derive(Debug, Clone, Copy, Args)]
pub struct RingArgs {
    /// Width of the ring's ids in bits (10 to 64).
    #[arg(long, default_value_t = 64)]
    pub bits: u32,
    /// Copies of every key in all, the owner included.
    #[arg(long, default_value_t = DEFAULT_REPLICAS)]
    pub replicas: usize,
}

impl RingArgs {
    fn config(&self) -> Result<Config, Box<dyn Error>> {
        if self.replicas == 0 {
            return Err("--replicas must be at least 1".into());
        }
        Ok(Config::with(Ring::new(self.bits)?, self.replicas))
    }
}

/// `distloop dht node`
#[derive(Debug, Args)]
#[command(after_help = DURATION_OR_MILLIS_HELP)]
pub struct NodeArgs {
    /// UDP address to serve on (port 0: any free port).
    #[arg(long)]
    pub listen: SocketAddr,
    /// Address of any node of the ring to join.
    #[arg(long)]
    pub join: Option<SocketAddr>,
    /// Period of stabilize, fix_fingers and check_predecessor (a plain number
    /// is milliseconds).
    #[arg(long, default_value = "500ms", value_name = "DURATION",
          value_parser = parse_positive_duration_or_millis)]
    pub stabilize_ms: Duration,
    /// Ring settings (every node of a ring must agree).
    #[command(flatten)]
    pub ring: RingArgs,
}

/// Exit code of `get` and `delete` when the key is absent.
pub const EXIT_ABSENT: u8 = 1;
/// Exit code of `put`, `get` and `delete` when the node never answered.
pub const EXIT_UNREACHABLE: u8 = 3;
/// Exit code of `put`, `get` and `delete` when the node answered that the
/// ring could not complete the operation (lookup failed, replicas unreachable).
pub const EXIT_FAILED: u8 = 4;

/// How a client call ends: which exit code and which message.
fn client_failure(node: SocketAddr, error: &ClientError) -> ExitCode {
    match error {
        ClientError::Timeout(_) | ClientError::Io(_) => {
            eprintln!("node {node} is unreachable: {error}");
            ExitCode::from(EXIT_UNREACHABLE)
        }
        ClientError::Failed(_) | ClientError::Unexpected(_) => {
            eprintln!("the operation failed: {error}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

/// How a client waits for a node.
#[derive(Debug, Clone, Copy, Args)]
pub struct WaitArgs {
    /// Wait this long for one attempt's answer, 3 attempts in all (a plain
    /// number is milliseconds).
    #[arg(long, default_value = "3s", value_name = "DURATION",
          value_parser = parse_positive_duration_or_millis)]
    pub attempt_timeout_ms: Duration,
}

impl WaitArgs {
    fn client(&self, node: SocketAddr) -> Result<Client, ClientError> {
        let mut client = Client::new(node)?;
        client.set_attempt_timeout(self.attempt_timeout_ms);
        Ok(client)
    }
}

/// `distloop dht put`
#[derive(Debug, Args)]
#[command(after_help = DURATION_OR_MILLIS_HELP)]
pub struct PutArgs {
    /// Any node of the ring.
    #[arg(long)]
    pub node: SocketAddr,
    /// How long to wait for the node.
    #[command(flatten)]
    pub wait: WaitArgs,
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
}

/// `distloop dht get` and `delete`
#[derive(Debug, Args)]
#[command(after_help = DURATION_OR_MILLIS_HELP)]
pub struct KeyArgs {
    /// Any node of the ring.
    #[arg(long)]
    pub node: SocketAddr,
    /// How long to wait for the node.
    #[command(flatten)]
    pub wait: WaitArgs,
    /// The key.
    pub key: String,
}

/// `distloop dht ring`
#[derive(Debug, Args)]
pub struct RingWalkArgs {
    /// Any node of the ring.
    #[arg(long)]
    pub node: SocketAddr,
}

/// `distloop dht simulate`
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Ring sizes to simulate, comma-separated (one table row each).
    #[arg(long, value_delimiter = ',', default_value = "1000")]
    pub nodes: Vec<usize>,
    /// Random lookups measured per ring.
    #[arg(long, default_value_t = 10_000)]
    pub lookups: usize,
    /// Keys stored before the failures and read back after.
    #[arg(long, default_value_t = 1000)]
    pub keys: usize,
    /// Fraction of the nodes that crash at once after the keys are stored.
    #[arg(long, conflicts_with = "adjacent")]
    pub fail: Option<f64>,
    /// Instead of --fail: crash this many nodes adjacent on the ring.
    #[arg(long)]
    pub adjacent: Option<usize>,
    /// Probability that the simulated network loses a message.
    #[arg(long, default_value_t = 0.0)]
    pub loss: f64,
    /// Seed of every random choice (same seed, same result).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print the reports as a JSON array instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Ring settings.
    #[command(flatten)]
    pub ring: RingArgs,
}

/// Runs one `distloop dht` command.
pub fn run(args: DhtArgs) -> Result<ExitCode, Box<dyn Error>> {
    match args.command {
        DhtCommand::Node(args) => node(&args),
        DhtCommand::Put(args) => {
            let stored = args
                .wait
                .client(args.node)
                .and_then(|mut c| c.put(args.node, &args.key, args.value.as_bytes()));
            Ok(match stored {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => client_failure(args.node, &e),
            })
        }
        DhtCommand::Get(args) => {
            let found = args
                .wait
                .client(args.node)
                .and_then(|mut c| c.get(args.node, &args.key));
            match found {
                Ok(Some(value)) => {
                    let mut out = crate::cli::stdout();
                    out.write_all(&value)?;
                    out.write_all(b"\n")?;
                    Ok(ExitCode::SUCCESS)
                }
                Ok(None) => {
                    eprintln!("{}: no such key", args.key);
                    Ok(ExitCode::from(EXIT_ABSENT))
                }
                Err(e) => Ok(client_failure(args.node, &e)),
            }
        }
        DhtCommand::Delete(args) => {
            let deleted = args
                .wait
                .client(args.node)
                .and_then(|mut c| c.delete(args.node, &args.key));
            match deleted {
                Ok(true) => Ok(ExitCode::SUCCESS),
                Ok(false) => {
                    eprintln!("{}: no such key", args.key);
                    Ok(ExitCode::from(EXIT_ABSENT))
                }
                Err(e) => Ok(client_failure(args.node, &e)),
            }
        }
        DhtCommand::Ring(args) => {
            let ring = Client::new(args.node)?.walk(args.node)?;
            println!(
                "{:<20}  {:<22}  {:>8}  {:>8}",
                "id", "address", "stored", "owned"
            );
            for info in &ring {
                println!(
                    "{:<20}  {:<22}  {:>8}  {:>8}",
                    info.node.id, info.node.addr, info.stored, info.owned
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        DhtCommand::Simulate(args) => simulate(&args),
        DhtCommand::Bench(args) => {
            let result = super::bench::run(
                args.ring.config()?,
                args.nodes,
                args.operations,
                args.clients,
            )?;
            println!(
                "{} nodes, {} clients: put {:.0} ops/s, get {:.0} ops/s, {} wrong gets",
                args.nodes,
                args.clients,
                result.puts_per_second,
                result.gets_per_second,
                result.wrong_gets
            );
            Ok(if result.wrong_gets == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

/// How long a stopping node may take to hand its keys over.
pub const LEAVE_TIMEOUT: Duration = Duration::from_secs(10);

fn node(args: &NodeArgs) -> Result<ExitCode, Box<dyn Error>> {
    let mut config = args.ring.config()?;
    let period = args.stabilize_ms;
    config.stabilize_interval = period;
    config.fix_fingers_interval = period;
    config.check_predecessor_interval = period;
    config.replica_refresh_interval = config.replica_refresh_interval.max(period * 4);
    let mut reactor = Reactor::new()?;
    reactor.watch_signals()?;
    reactor.set_drain_timeout(LEAVE_TIMEOUT);
    let mut service = UdpNode::bind(args.listen, args.join, config, Instant::now())?;
    service.register(&mut reactor)?;
    let me = service.node().me();
    println!("listening on {}", me.addr);
    std::io::stdout().flush()?;
    eprintln!(
        "dht: node {} at {} ({}-bit ring)",
        me.id,
        me.addr,
        config.ring.bits()
    );
    reactor.run(&mut service)?;
    eprintln!("dht: node {} left the ring", me.id);
    Ok(ExitCode::SUCCESS)
}

fn simulate(args: &SimulateArgs) -> Result<ExitCode, Box<dyn Error>> {
    let config = args.ring.config()?;
    let failure = match (args.fail, args.adjacent) {
        (Some(p), _) if !(0.0..1.0).contains(&p) => {
            return Err(format!("--fail {p} is not a fraction in [0, 1)").into());
        }
        (Some(p), _) => Failure::Fraction(p),
        (None, Some(count)) => Failure::Adjacent(count),
        (None, None) => Failure::None,
    };
    if !(0.0..1.0).contains(&args.loss) {
        return Err(format!("--loss {} is not a probability in [0, 1)", args.loss).into());
    }
    let mut reports: Vec<Report> = Vec::new();
    if !args.json {
        println!("{}", Report::TABLE_HEADER);
    }
    for &nodes in &args.nodes {
        let experiment = Experiment {
            nodes,
            lookups: args.lookups,
            keys: args.keys,
            failure,
            config,
            network: NetworkConfig {
                loss: args.loss,
                ..NetworkConfig::default()
            },
            seed: args.seed,
        };
        let report = sim::run(&experiment)?;
        if !args.json {
            println!("{report}");
        }
        reports.push(report);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dht::client::CLIENT_ATTEMPT_TIMEOUT;
    use crate::dht::config::DEFAULT_STABILIZE_INTERVAL;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Dht {
        #[command(subcommand)]
        command: DhtCommand,
    }

    fn parse(args: &[&str]) -> DhtCommand {
        Dht::try_parse_from(std::iter::once("dht").chain(args.iter().copied()))
            .unwrap()
            .command
    }

    #[test]
    fn the_flag_defaults_are_the_library_defaults() {
        let DhtCommand::Node(node) = parse(&["node", "--listen", "127.0.0.1:0"]) else {
            panic!("not a node");
        };
        assert_eq!(node.stabilize_ms, DEFAULT_STABILIZE_INTERVAL);
        let DhtCommand::Get(get) = parse(&["get", "--node", "127.0.0.1:1", "k"]) else {
            panic!("not a get");
        };
        assert_eq!(get.wait.attempt_timeout_ms, CLIENT_ATTEMPT_TIMEOUT);
    }

    #[test]
    fn millisecond_flags_take_plain_milliseconds_and_units() {
        for (text, expected) in [("250", 250), ("250ms", 250), ("2s", 2000)] {
            let DhtCommand::Node(node) =
                parse(&["node", "--listen", "127.0.0.1:0", "--stabilize-ms", text])
            else {
                panic!("not a node");
            };
            assert_eq!(node.stabilize_ms, Duration::from_millis(expected), "{text}");
        }
        let zero = ["node", "--listen", "127.0.0.1:0", "--stabilize-ms", "0"];
        assert!(Dht::try_parse_from(std::iter::once("dht").chain(zero)).is_err());
    }
}
