//! `distloop calc server` and `distloop calc client`: their flags and the
//! functions that run them. (`distloop calc cluster`, which puts servers
//! behind the balancer, is composed above the services, in
//! `crate::cluster::calc`.)

use std::net::SocketAddr;
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use clap::{Args, Subcommand};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use super::client::{ClientConfig, run_client};
use super::number::{DEFAULT_DIGITS, MAX_DIGITS, Notation};
use super::server::{CalcServer, ServerConfig};
use crate::cli::{DURATION_HELP, parse_addr, parse_duration};

/// The calculator's own subcommands of `distloop calc`.
#[derive(Debug, Subcommand)]
pub enum CalcCommand {
    /// Run a calculator server (a calculator port and a status port).
    Server(ServerArgs),
    /// Send expressions to a server (or a balancer in front of servers).
    Client(ClientArgs),
}

/// The flags of `distloop calc server`.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// The calculator port (printed first: `listening on ADDR`).
    #[arg(long, default_value = "127.0.0.1:6000", value_parser = parse_addr)]
    listen: SocketAddr,
    /// The status port (printed second: `status listening on ADDR`).
    #[arg(long, default_value = "127.0.0.1:6100", value_parser = parse_addr)]
    status: SocketAddr,
    /// The name in the log and the status JSON (default: calc@PORT).
    #[arg(long)]
    name: Option<String>,
    /// Fraction digits of non-integer results.
    #[arg(long, default_value_t = DEFAULT_DIGITS, value_parser = clap::value_parser!(u32).range(0..=MAX_DIGITS as i64))]
    digits: u32,
    /// Show non-integer results as exact fractions (1/3) by default.
    #[arg(long)]
    fraction: bool,
    /// Keep this percent of one core busy, to demonstrate least-load.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=100))]
    burn: u8,
}

/// The flags of `distloop calc client`.
#[derive(Debug, Args)]
#[command(after_help = DURATION_HELP)]
pub struct ClientArgs {
    /// The server (or balancer) to talk to.
    #[arg(long, default_value = "127.0.0.1:6000", value_parser = parse_addr)]
    server: SocketAddr,
    /// Speak the original JSON wire: each expression must be `V1 OP V2`.
    #[arg(long)]
    json: bool,
    /// Ask for exact fractions instead of decimals.
    #[arg(long)]
    fraction: bool,
    /// How long to wait for the connection and for each answer.
    #[arg(long, default_value = "10s", value_name = "DURATION", value_parser = parse_duration)]
    timeout: Duration,
    /// Expressions to send; without any, lines are read from stdin (an
    /// interactive prompt when stdin is a terminal).
    expressions: Vec<String>,
}

/// Runs `distloop calc server` or `client`; the exit code is the command's.
pub fn run(command: CalcCommand) -> ExitCode {
    match command {
        CalcCommand::Server(args) => run_server(args),
        CalcCommand::Client(args) => run_client(&ClientConfig {
            server: args.server,
            json: args.json,
            fraction: args.fraction,
            timeout: args.timeout,
            expressions: args.expressions,
        }),
    }
}

fn run_server(args: ServerArgs) -> ExitCode {
    let notation = if args.fraction {
        Notation::Fraction
    } else {
        Notation::Decimal {
            digits: args.digits,
        }
    };
    let config = ServerConfig {
        listen: args.listen,
        status: args.status,
        name: args.name,
        notation,
        burn: args.burn,
    };
    let server = match CalcServer::bind(config) {
        Ok(server) => server,
        Err(error) => {
            eprintln!(
                "distloop calc server: cannot listen on {} and {}: {error}",
                args.listen, args.status
            );
            return ExitCode::FAILURE;
        }
    };
    let mut signals = match Signals::new([SIGINT, SIGTERM]) {
        Ok(signals) => signals,
        Err(error) => {
            eprintln!("distloop calc server: cannot watch signals: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!("listening on {}", server.calculator_addr());
    println!("status listening on {}", server.status_addr());
    crate::info!(
        "calculator {} on {}, status on {}{}",
        server.name(),
        server.calculator_addr(),
        server.status_addr(),
        if args.burn > 0 {
            format!(", burning {}% of a core", args.burn)
        } else {
            String::new()
        }
    );
    let stopper = server.stopper();
    thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            crate::info!("signal {signal}: stopping");
            stopper.stop();
        }
    });
    match server.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("distloop calc server: {error}");
            ExitCode::FAILURE
        }
    }
}
