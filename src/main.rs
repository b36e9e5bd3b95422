//! The `distloop` command: one subcommand per service.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use distloop::cluster;
use distloop::lb::cli::LbArgs;
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
    Lb(Box<LbArgs>),
    /// Run Pi backends and a balancer in front of them, in one process.
    Cluster(cluster::pi::ClusterArgs),
    /// Run or talk to the message broker.
    Broker(distloop::broker::cli::BrokerArgs),
    /// Run or talk to a Chord DHT node, or simulate a ring.
    Dht(distloop::dht::cli::DhtArgs),
    /// Run or talk to the distributed calculator.
    Calc(cluster::calc::CalcArgs),
    /// Run echo servers (four models), the echo client or its load generator.
    Echo(distloop::apps::echo::cli::EchoArgs),
    /// Run or use the replicated file backup (manager, servers, client).
    Backup(cluster::backup::BackupArgs),
    /// Distributed keyword search: workers, a master with a web page, a client.
    Search(distloop::apps::search::cli::SearchArgs),
}

fn main() -> ExitCode {
    // First, so that `--help | head -1` ends quietly too.
    distloop::cli::end_quietly_on_closed_stdout();
    let cli = Cli::parse();
    logging::init_from_env();
    if let Some(level) = cli.log_level {
        logging::set_level(level);
    }
    match cli.command {
        Command::Lb(args) => distloop::lb::cli::run(&args),
        Command::Cluster(args) => match cluster::pi::run(&args) {
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
        Command::Calc(args) => cluster::calc::run(args),
        Command::Echo(args) => match distloop::apps::echo::cli::run(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("distloop echo: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Backup(args) => cluster::backup::run(args),
        Command::Search(args) => distloop::apps::search::cli::run(args),
    }
}
