//! `broker-bench`: publishers and subscribers on threads, over loopback,
//! against the distloop broker (in this process, or a running one with
//! `--addr`), or an anchor broker speaking MQTT 3.1.1 (mosquitto) or NATS
//! (`--target`). Same code for every target; only the wire codec differs.
//!
//! Two modes. **Saturation** (the default): publishers pipeline and pause
//! only while more than [`pacing::in_flight_limit`] deliveries are in
//! flight, so the figure is the delivery rate the broker sustains without
//! dropping anything, printed with the share of one core the broker
//! (`--broker-pid`) and the bench ran, and waited for a core, in the window; the time a message waits there is backlog, not
//! latency, and is printed as such. **Open loop** (`--rate N`): publishers
//! follow a fixed schedule of N messages/s whatever the broker does, and
//! latency is counted from each message's scheduled send time, so a stall
//! shows in the percentiles instead of hiding behind a paused sender.
//!
//! It lives outside the `distloop` library (it uses the library's frame and
//! MQTT codecs, so broker and bench share one codec of each).

#![forbid(unsafe_code)]
#![warn(missing_docs, rust_2018_idioms)]

mod cpu;
mod latency;
mod load;
mod pacing;
mod payload;
mod run;
mod wire;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use distloop::broker::Serializer;
use distloop::broker::cli::SerializationFlag;
use distloop::cli::{DURATION_HELP, parse_duration};

use run::{MAX_PAYLOAD_BYTES, Report};
use wire::Target;

/// Load generator for the distloop broker, mosquitto and NATS.
#[derive(Debug, Clone, Parser)]
#[command(name = "broker-bench", version, after_help = DURATION_HELP)]
pub struct BenchArgs {
    /// Which protocol to speak: distloop, mqtt (3.1.1, QoS 0) or nats.
    #[arg(long, value_enum, default_value_t = Target::Distloop)]
    pub target: Target,
    /// A running broker to measure; by default (distloop only) one is
    /// started in this process.
    #[arg(long)]
    pub addr: Option<SocketAddr>,
    /// Publishing connections.
    #[arg(long, default_value_t = 1)]
    pub publishers: usize,
    /// Subscribing connections (all on one topic).
    #[arg(long, default_value_t = 1)]
    pub subscribers: usize,
    /// Payload size in bytes.
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    /// How long to measure.
    #[arg(long, default_value = "5s", value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Duration,
    /// Open loop: publish this many messages per second in all, on a fixed
    /// schedule, and time each from its scheduled send. Without it, saturate.
    #[arg(long, value_name = "N")]
    pub rate: Option<u64>,
    /// Process id of the broker under test, to report its CPU use.
    #[arg(long, value_name = "PID")]
    pub broker_pid: Option<u32>,
    /// Serialization of every publisher and subscriber (distloop target;
    /// the others carry the same JSON payload bytes raw).
    #[arg(long, value_enum, default_value_t = SerializationFlag::Json)]
    pub serialization: SerializationFlag,
}

impl BenchArgs {
    /// What is wrong with these flags, if anything.
    pub fn check(&self) -> Result<(), String> {
        if self.publishers == 0 || self.subscribers == 0 {
            return Err("--publishers and --subscribers must be at least 1".into());
        }
        if self.size > MAX_PAYLOAD_BYTES {
            return Err(format!("--size must be at most {MAX_PAYLOAD_BYTES} bytes"));
        }
        if self.duration.is_zero() {
            return Err("--duration must be above zero".into());
        }
        if self.rate == Some(0) {
            return Err("--rate must be at least 1 message/s".into());
        }
        if self.addr.is_none() && self.target != Target::Distloop {
            return Err(format!("--target {:?} needs --addr", self.target));
        }
        Ok(())
    }
}

fn main() -> ExitCode {
    distloop::cli::end_quietly_on_closed_stdout();
    let args = BenchArgs::parse();
    if let Err(e) = args.check() {
        eprintln!("broker-bench: {e}");
        return ExitCode::from(2);
    }
    match run::measure(&args) {
        Ok(report) => {
            print_report(&args, &report);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("broker-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn print_report(args: &BenchArgs, report: &Report) {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "target {:?} publishers {} subscribers {} payload {} bytes {} for {:.1}s",
        args.target,
        args.publishers,
        args.subscribers,
        args.size,
        Serializer::from(args.serialization),
        report.elapsed.as_secs_f64()
    );
    match (args.rate, report.in_flight_limit) {
        (Some(rate), _) => println!(
            "mode open loop: {rate} messages/s scheduled, publishers at most {:.3} ms behind schedule",
            ms(report.max_lag)
        ),
        (None, Some(limit)) => {
            println!("mode saturation: publishers pause above {limit} deliveries in flight")
        }
        (None, None) => {}
    }
    println!(
        "delivered {} messages: {:.0} messages/s",
        report.delivered,
        report.rate()
    );
    let broker_cpu = report.broker_cpu.map_or_else(
        || "- waiting -".to_string(),
        |times| {
            let (running, waiting) = report.percent(times);
            format!("{running:.1} waiting {waiting:.1}")
        },
    );
    let (bench, bench_waiting) = report.percent(report.bench_cpu);
    println!(
        "cpu % of one core: broker {broker_cpu} bench {bench:.1} waiting {bench_waiting:.1}{}",
        if args.addr.is_none() {
            " (the broker runs in the bench)"
        } else {
            ""
        }
    );
    let [p50, p90, p99, p999, max] = report.latency.summary();
    let what = match args.rate {
        Some(_) => "latency ms from scheduled send",
        None => "backlog wait ms (at saturation, not latency)",
    };
    println!(
        "{what}: p50 {:.3} p90 {:.3} p99 {:.3} p99.9 {:.3} max {:.3} samples {}",
        ms(p50),
        ms(p90),
        ms(p99),
        ms(p999),
        ms(max),
        report.latency.len()
    );
    println!(
        "published {} delivered {} of {} owed, undelivered {}, subscribers disconnected {}",
        report.published,
        report.delivered_total,
        report.published * args.subscribers as u64,
        report.undelivered,
        report.disconnected.len()
    );
    println!(
        "drain {:.1} s of at most {:.1} s",
        report.drain.as_secs_f64(),
        report.drain_limit.as_secs_f64()
    );
    if let Some(why) = report.disconnected.first() {
        println!("first disconnect: {why}");
    }
}
