//! The `distloop` command line.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "distloop",
    about = "Load balancer, message broker and Chord DHT"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run or talk to the message broker.
    Broker(distloop::broker::cli::BrokerArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Broker(args) => distloop::broker::cli::run(args),
    };
    if let Err(e) = result {
        eprintln!("distloop: {e}");
        std::process::exit(1);
    }
}
