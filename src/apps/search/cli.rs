//! `distloop search ...`: the command line of the search app, turned into
//! configurations and run.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::builder::RangedU64ValueParser;
use clap::{Args, Subcommand};
use distloop_http::blocking::ServerLimits;

use super::DEFAULT_CHUNK_BYTES;
use super::cpu::CpuSampler;
use super::master::health::HealthChecker;
use super::master::{DispatchSettings, MasterHandler, MasterState};
use super::run::{RunArgs, run as run_client};
use super::serve::serve_until_signalled;
use super::worker::{MAX_CHUNK_BODY_BYTES, WorkerHandler};
use crate::cli::{DURATION_HELP, parse_positive_duration};

/// Largest upload by default: 8 GiB.
const DEFAULT_MAX_UPLOAD_BYTES: u64 = 8 * 1024 * 1024 * 1024;
/// Largest chunk size a master may be given (a worker takes at most
/// `MAX_CHUNK_BODY_BYTES` with the overlap).
const MAX_CHUNK_BYTES: u64 = 64 * 1024 * 1024;
/// How long the master waits for the next bytes of an upload.
const UPLOAD_READ_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a worker waits for the next bytes of a chunk body.
const WORKER_BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Distributed keyword search.
#[derive(Debug, Args)]
pub struct SearchArgs {
    #[command(subcommand)]
    command: SearchCommand,
}

#[derive(Debug, Subcommand)]
enum SearchCommand {
    /// Count keywords in chunks of text for a master (and the original's
    /// POST /jsonrpc).
    Worker(WorkerArgs),
    /// Serve the web page and the JSON API, and send jobs to workers.
    Master(MasterArgs),
    /// Search a file through a master: progress on stderr, counts on stdout.
    Run(RunArgs),
}

#[derive(Debug, Args)]
#[command(after_help = DURATION_HELP)]
struct MasterArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8000")]
    listen: SocketAddr,
    /// A worker to send chunks to (repeat for more; more can be added on /hosts).
    #[arg(long = "worker")]
    workers: Vec<SocketAddr>,
    /// Owned bytes per chunk.
    #[arg(long, default_value_t = DEFAULT_CHUNK_BYTES, value_parser = RangedU64ValueParser::<usize>::new().range(1..=MAX_CHUNK_BYTES))]
    chunk_bytes: usize,
    /// Chunks in flight per worker.
    #[arg(long, default_value_t = 2, value_parser = RangedU64ValueParser::<usize>::new().range(1..=64))]
    window: usize,
    /// Largest upload accepted, in bytes (413 beyond).
    #[arg(long, default_value_t = DEFAULT_MAX_UPLOAD_BYTES)]
    max_upload: u64,
    /// How long a worker may take to answer one chunk before its chunks go to others.
    #[arg(long, default_value = "60s", value_name = "DURATION", value_parser = parse_positive_duration)]
    chunk_timeout: Duration,
}

#[derive(Debug, Args)]
struct WorkerArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:4000")]
    listen: SocketAddr,
}

/// Runs `distloop search ...`.
pub fn run(args: SearchArgs) -> ExitCode {
    let outcome = match args.command {
        SearchCommand::Worker(worker) => run_worker(&worker),
        SearchCommand::Master(master) => run_master(&master),
        SearchCommand::Run(run) => {
            return match run_client(&run) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("distloop search run: {error}");
                    ExitCode::FAILURE
                }
            };
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("distloop search: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run_worker(args: &WorkerArgs) -> std::io::Result<()> {
    let sampler = CpuSampler::start();
    let limits = ServerLimits {
        max_body_bytes: MAX_CHUNK_BODY_BYTES,
        body_read_timeout: WORKER_BODY_READ_TIMEOUT,
        ..ServerLimits::default()
    };
    serve_until_signalled(
        "worker",
        args.listen,
        limits,
        WorkerHandler::new(sampler.gauge()),
    )
}

fn run_master(args: &MasterArgs) -> std::io::Result<()> {
    let state = std::sync::Arc::new(MasterState::new(&args.workers));
    let _health = HealthChecker::start(state.clone());
    let settings = DispatchSettings {
        chunk_bytes: args.chunk_bytes,
        window: args.window,
        chunk_timeout: args.chunk_timeout,
    };
    let limits = ServerLimits {
        max_body_bytes: args.max_upload,
        body_read_timeout: UPLOAD_READ_TIMEOUT,
        ..ServerLimits::default()
    };
    serve_until_signalled(
        "master",
        args.listen,
        limits,
        MasterHandler::new(state, settings),
    )
}
