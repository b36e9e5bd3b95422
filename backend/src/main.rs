//! `pi-backend`: parses flags, binds, prints `listening on ADDR`, serves
//! until SIGINT or SIGTERM.

use std::io::Write;
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use clap::Parser;
use pi_backend::{Config, Server};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// A small threaded HTTP/1.1 server that computes π.
#[derive(Debug, Parser)]
#[command(name = "pi-backend", version, after_help = distloop_cmdline::DURATION_OR_MILLIS_HELP)]
struct Args {
    /// Address to listen on, e.g. 127.0.0.1:8080 (port 0 picks a free port).
    #[arg(long, value_parser = parse_listen)]
    listen: SocketAddr,
    /// The X-Backend header value (default: the bound address).
    #[arg(long)]
    name: Option<String>,
    /// How many π computations may run at once (default: number of cores).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=4096))]
    threads: Option<u32>,
    /// Every request takes this many times as long (a number >= 1).
    #[arg(long, default_value_t = 1.0, value_parser = parse_slowdown)]
    slowdown: f64,
    /// Fixed delay added to every request (a plain number is milliseconds).
    #[arg(long, default_value = "0ms", value_name = "DURATION",
          value_parser = distloop_cmdline::parse_duration_or_millis)]
    delay: Duration,
}

fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    text.to_socket_addrs()
        .map_err(|error| format!("cannot resolve {text:?}: {error}"))?
        .next()
        .ok_or_else(|| format!("{text:?} resolves to no address"))
}

fn parse_slowdown(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(value) if value.is_finite() && value >= 1.0 => Ok(value),
        _ => Err(format!("expected a number >= 1, not {text:?}")),
    }
}

fn main() -> ExitCode {
    distloop_cmdline::end_quietly_on_closed_stdout();
    let args = Args::parse();
    let mut config = Config::new(args.listen);
    config.name = args.name;
    if let Some(threads) = args.threads {
        config.threads = threads as usize;
    }
    config.slowdown = args.slowdown;
    config.delay = args.delay;
    if let Err(error) = config.validate() {
        eprintln!("pi-backend: {error}");
        return ExitCode::from(2);
    }
    let threads = config.threads;
    let server = match Server::bind(config) {
        Ok(server) => server,
        Err(error) => {
            eprintln!("pi-backend: cannot listen on {}: {error}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    let mut signals = match Signals::new([SIGINT, SIGTERM]) {
        Ok(signals) => signals,
        Err(error) => {
            eprintln!("pi-backend: cannot watch signals: {error}");
            return ExitCode::FAILURE;
        }
    };
    let stopper = server.stopper();
    thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            eprintln!("pi-backend: signal {signal}, stopping");
            stopper.stop();
        }
    });
    let addr = server.local_addr();
    let mut stdout = distloop_cmdline::stdout();
    if writeln!(stdout, "listening on {addr}")
        .and_then(|()| stdout.flush())
        .is_err()
    {
        return ExitCode::FAILURE;
    }
    eprintln!(
        "pi-backend: {} serving on {addr} with {threads} compute threads",
        server.name()
    );
    match server.run() {
        Ok(()) => {
            eprintln!("pi-backend: stopped");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("pi-backend: {error}");
            ExitCode::FAILURE
        }
    }
}
