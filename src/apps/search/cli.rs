//! `distloop search ...`: the command line of the search app, turned into
//! configurations and run.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use distloop_http::blocking::ServerLimits;

use super::cpu::CpuSampler;
use super::serve::serve_until_signalled;
use super::worker::{MAX_CHUNK_BODY_BYTES, WorkerHandler};

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
