//! `distloop echo server|client|bench`: flags to configs, and the runs.
//! Errors go back to `main`, which prints them.

use std::error::Error;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};

use super::bench::{self, BenchConfig};
use super::client::{self, Client};
use super::line::{Framing, MAX_LINE_BYTES};
use super::{DEFAULT_LISTEN, DEFAULT_SERVER, Model, ServerConfig};
use crate::cli::{DURATION_HELP, parse_addr, parse_duration, parse_positive_duration};
use crate::info;

/// `distloop echo ...`
#[derive(Debug, Args)]
pub struct EchoArgs {
    /// What to run.
    #[command(subcommand)]
    pub command: EchoCommand,
}

/// Subcommands of `distloop echo`.
#[derive(Debug, Subcommand)]
pub enum EchoCommand {
    /// Run an echo server in one of four models.
    Server(ServerArgs),
    /// Send lines (standard input's, or one --message) and print the echoes.
    Client(ClientArgs),
    /// Measure round trips/s and latency with many concurrent clients.
    Bench(BenchArgs),
}

/// `--model` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModelFlag {
    /// Accept one client, echo one message, exit.
    Simple,
    /// One client at a time, each until it sends `fim`.
    Sequential,
    /// A thread per client.
    Threaded,
    /// Every client on the one-thread event loop.
    Evented,
}

impl From<ModelFlag> for Model {
    fn from(flag: ModelFlag) -> Self {
        match flag {
            ModelFlag::Simple => Model::Simple,
            ModelFlag::Sequential => Model::Sequential,
            ModelFlag::Threaded => Model::Threaded,
            ModelFlag::Evented => Model::Evented,
        }
    }
}

/// `distloop echo server`
#[derive(Debug, Args)]
#[command(after_help = DURATION_HELP)]
pub struct ServerArgs {
    /// How clients are served.
    #[arg(long, value_enum)]
    pub model: ModelFlag,
    /// Address to listen on (0.0.0.0:50007 listens on every address; port 0 picks a free port).
    #[arg(long, default_value = DEFAULT_LISTEN, value_parser = parse_addr)]
    pub listen: SocketAddr,
    /// Echo bytes as they arrive, without lines or `fim` (for benchmarks).
    #[arg(long)]
    pub raw: bool,
    /// The longest line accepted, its newline included, in bytes.
    #[arg(long, default_value_t = MAX_LINE_BYTES as u32,
          value_parser = clap::value_parser!(u32).range(8..=16 * 1024 * 1024))]
    pub max_line_bytes: u32,
    /// Disconnect a client silent this long (500ms, 30s, 5m).
    #[arg(long, default_value = "300s", value_name = "DURATION", value_parser = parse_positive_duration)]
    pub idle_timeout: Duration,
}

/// `distloop echo client`
#[derive(Debug, Args)]
pub struct ClientArgs {
    /// The server, `HOST:PORT`.
    #[arg(long, default_value = DEFAULT_SERVER)]
    pub server: String,
    /// Send this one message instead of standard input's lines.
    #[arg(long)]
    pub message: Option<String>,
}

/// `distloop echo bench`
#[derive(Debug, Args)]
#[command(after_help = DURATION_HELP)]
pub struct BenchArgs {
    /// The server, `HOST:PORT`.
    #[arg(long, default_value = DEFAULT_SERVER, value_parser = parse_addr)]
    pub server: SocketAddr,
    /// Concurrent clients, one connection each.
    #[arg(long, default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub clients: u32,
    /// Bytes per line, its newline included.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(2..=65_536))]
    pub line_bytes: u32,
    /// Total offered round trips per second (default: closed loop, each
    /// client sends again as soon as its echo is back).
    #[arg(long, value_parser = parse_rate)]
    pub rate: Option<f64>,
    /// Round trips in this first stretch are not counted.
    #[arg(long, default_value = "1s", value_name = "DURATION", value_parser = parse_duration)]
    pub warmup: Duration,
    /// How long round trips are counted.
    #[arg(long, default_value = "5s", value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Duration,
}

fn parse_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
        _ => Err(format!(
            "`{text}` is not a positive number of round trips per second"
        )),
    }
}

impl ServerArgs {
    /// The server configuration these flags describe.
    pub fn config(&self) -> ServerConfig {
        let mut config = ServerConfig::new(self.model.into(), self.listen);
        config.framing = if self.raw {
            Framing::Raw
        } else {
            Framing::Lines
        };
        config.max_line_bytes = self.max_line_bytes as usize;
        config.idle_timeout = self.idle_timeout;
        config
    }
}

/// Runs `distloop echo ...`.
pub fn run(args: EchoArgs) -> Result<(), Box<dyn Error>> {
    match args.command {
        EchoCommand::Server(a) => run_server(&a),
        EchoCommand::Client(a) => run_client(&a),
        EchoCommand::Bench(a) => run_bench(&a),
    }
}

fn run_server(args: &ServerArgs) -> Result<(), Box<dyn Error>> {
    let config = args.config();
    // Thousands of clients need thousands of descriptors; the soft limit
    // is often far below the hard one.
    let open_files = super::raise_open_files_limit().unwrap_or(0);
    let model = config.model;
    super::serve(config, |addr| {
        println!("listening on {addr}");
        let _ = io::stdout().flush();
        info!("echo: {model} server on {addr} (open files limit {open_files})");
    })?;
    info!("echo: stopped");
    Ok(())
}

fn run_client(args: &ClientArgs) -> Result<(), Box<dyn Error>> {
    let mut connection = Client::connect(&args.server)?;
    match &args.message {
        Some(message) => {
            if message.contains('\n') {
                return Err("--message must be one line".into());
            }
            println!("{}", connection.round_trip(message)?);
        }
        None => client::send_lines(&mut connection, io::stdin().lock(), crate::cli::stdout())?,
    }
    connection.finish()?;
    Ok(())
}

fn run_bench(args: &BenchArgs) -> Result<(), Box<dyn Error>> {
    let _ = super::raise_open_files_limit();
    let report = bench::run(BenchConfig {
        server: args.server,
        clients: args.clients as usize,
        line_bytes: args.line_bytes as usize,
        rate: args.rate,
        warmup: args.warmup,
        duration: args.duration,
    })?;
    println!("{report}");
    if report.connected == 0 {
        return Err(format!("no client could connect to {}", args.server).into());
    }
    Ok(())
}
