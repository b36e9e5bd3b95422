//! The `distloop` command: one subcommand per service.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use distloop::cli::cluster::{self, ClusterArgs};
use distloop::cli::lb::LbArgs;
use distloop::lb::{Balancer, LbError};
use distloop::logging::{self, Level};

#[derive(Debug, Parser)]
#[command(
    name = "distloop",
    version,
    about = "Load balancer, message broker and Chord DHT on one mio event loop"
)]
struct Cli {
    /// off, error, warn, info or debug (default: RUST_LOG, else info).
    #[arg(long, global = true)]
    log_level: Option<Level>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the load balancer.
    Lb(LbArgs),
    /// Run Pi backends and a balancer in front of them, in one process.
    Cluster(ClusterArgs),
    /// Run or talk to the message broker.
    Broker(distloop::broker::cli::BrokerArgs),
    /// Run or talk to a Chord DHT node, or simulate a ring.
    Dht(distloop::dht::cli::DhtArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init_from_env();
    if let Some(level) = cli.log_level {
        logging::set_level(level);
    }
    match cli.command {
        Command::Lb(args) => run_lb(&args),
        Command::Cluster(args) => match cluster::run(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("distloop cluster: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Broker(args) => match distloop::broker::cli::run(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("distloop broker: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Dht(args) => match distloop::dht::cli::run(args) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("distloop dht: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

fn run_lb(args: &LbArgs) -> ExitCode {
    let config = args.to_config();
    let mut balancer = match Balancer::bind(config.clone()) {
        Ok(balancer) => balancer,
        Err(e @ LbError::Config(_)) => {
            eprintln!("distloop lb: {e}");
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("distloop lb: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = balancer.watch_signals() {
        eprintln!("distloop lb: cannot watch signals: {e}");
        return ExitCode::FAILURE;
    }
    println!("listening on {}", balancer.local_addr());
    distloop::info!(
        "balancing {} mode, {} over {} backend(s)",
        config.mode,
        config.strategy,
        config.backends.len()
    );
    match balancer.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("distloop lb: {e}");
            ExitCode::FAILURE
        }
    }
}
