//! The `distloop` command line.
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Load balancer, message broker and Chord DHT on one event loop.
#[derive(Parser)]
#[command(name = "distloop")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The Chord distributed hash table.
    Dht(distloop::dht::cli::DhtArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Dht(args) => distloop::dht::cli::run(args),
    };
    result.unwrap_or_else(|e| {
        eprintln!("distloop: {e}");
        ExitCode::from(2)
    })
}
