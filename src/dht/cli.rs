//! The `distloop dht` command line: clap types and the function that runs
//! them. Parsing and output only; the work is done by the node, the client
//! and the simulation.

use std::error::Error;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::config::{Config, DEFAULT_REPLICAS};
use super::id::Ring;
use super::sim::{self, Experiment, Failure, NetworkConfig, Report};

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
    /// Simulate a ring in one process and measure lookups and key loss.
    Simulate(SimulateArgs),
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
        DhtCommand::Simulate(args) => simulate(&args),
    }
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
