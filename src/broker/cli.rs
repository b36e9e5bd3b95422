//! The `distloop broker` command line: run a broker, or talk to one
//! (`pub`, `sub`, `topics`); `broker-bench` measures one. Parsing only builds
//! configs; errors are returned to `main`, which decides how to show them.

use std::error::Error;
use std::io::{self, BufRead, Write};
use std::net::SocketAddr;

use clap::{Args, Subcommand, ValueEnum};

use super::client::Client;
use super::codec::Serializer;
use super::core::{BrokerConfig, DEFAULT_MAX_MQTT_PACKET_BYTES, DEFAULT_OUTBOUND_LIMIT_BYTES};
use super::frame::DEFAULT_MAX_FRAME_BYTES;
use super::outbox::SlowConsumerPolicy;
use super::server::DEFAULT_MAX_CONNECTIONS;
use super::value::Value;
use crate::cli::{DURATION_HELP, parse_duration};

/// The broker's default address, the original's port.
pub const DEFAULT_ADDR: &str = "127.0.0.1:5000";

/// `distloop broker [--listen ADDR ...] [pub|sub|topics ...]`
#[derive(Debug, Args)]
#[command(after_help = DURATION_HELP)]
pub struct BrokerArgs {
    /// What to do; without one, run the broker.
    #[command(subcommand)]
    pub command: Option<BrokerCommand>,
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = DEFAULT_ADDR)]
    pub listen: SocketAddr,
    /// Largest frame accepted, in bytes after the 4-byte length prefix.
    #[arg(long, default_value_t = DEFAULT_MAX_FRAME_BYTES)]
    pub max_frame_bytes: usize,
    /// Bound of each connection's outbound queue, in bytes.
    #[arg(long, default_value_t = DEFAULT_OUTBOUND_LIMIT_BYTES)]
    pub outbound_limit_bytes: usize,
    /// What to do with a subscriber whose queue passes the bound.
    #[arg(long, value_enum, default_value_t = SlowConsumerFlag::Disconnect)]
    pub slow_consumer: SlowConsumerFlag,
    /// A subscriber whose pending output has not drained for this long gets
    /// the slow-consumer error and a close, under either policy.
    #[arg(long, default_value = "10s", value_name = "DURATION", value_parser = parse_duration)]
    pub slow_consumer_timeout: std::time::Duration,
    /// How long a client that was sent an error (and will be closed) may go
    /// without reading before the close.
    #[arg(long, default_value = "2s", value_name = "DURATION", value_parser = parse_duration)]
    pub error_linger: std::time::Duration,
    /// Also speak MQTT 3.1.1 on this address (off by default); its
    /// `listening on ADDR` line follows the native one.
    #[arg(long, value_name = "ADDR")]
    pub mqtt: Option<SocketAddr>,
    /// Largest MQTT packet accepted, in bytes with its fixed header.
    #[arg(long, default_value_t = DEFAULT_MAX_MQTT_PACKET_BYTES)]
    pub mqtt_max_packet_bytes: usize,
    /// Clients served at once (both listeners together); further ones wait
    /// in the listen backlog until one leaves.
    #[arg(long, default_value_t = DEFAULT_MAX_CONNECTIONS,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_connections: usize,
}

/// `--slow-consumer` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SlowConsumerFlag {
    /// Send an error frame and close the connection (as NATS does).
    Disconnect,
    /// Drop the oldest queued messages (as mosquitto does).
    DropOldest,
}

/// `--serialization` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SerializationFlag {
    /// JSON (id 0).
    Json,
    /// XML (id 1).
    Xml,
    /// Pickle (id 2).
    Pickle,
}

impl From<SerializationFlag> for Serializer {
    fn from(flag: SerializationFlag) -> Self {
        match flag {
            SerializationFlag::Json => Serializer::Json,
            SerializationFlag::Xml => Serializer::Xml,
            SerializationFlag::Pickle => Serializer::Pickle,
        }
    }
}

/// Subcommands of `distloop broker`.
#[derive(Debug, Subcommand)]
pub enum BrokerCommand {
    /// Publish values (JSON text; anything else is sent as a string) to a topic.
    Pub(PubArgs),
    /// Subscribe to a topic and print `TOPIC VALUE` lines (VALUE as JSON).
    Sub(SubArgs),
    /// Print the topics that have had a publish, one per line.
    Topics(TopicsArgs),
}

/// `distloop broker pub`
#[derive(Debug, Args)]
pub struct PubArgs {
    /// Broker address.
    #[arg(long, default_value = DEFAULT_ADDR)]
    pub addr: String,
    /// Topic to publish to, like `/weather/temperature`.
    #[arg(long)]
    pub topic: String,
    /// Serialization used on the wire.
    #[arg(long, value_enum, default_value_t = SerializationFlag::Json)]
    pub serialization: SerializationFlag,
    /// Values to publish; without any, one per line of standard input.
    pub values: Vec<String>,
}

/// `distloop broker sub`
#[derive(Debug, Args)]
pub struct SubArgs {
    /// Broker address.
    #[arg(long, default_value = DEFAULT_ADDR)]
    pub addr: String,
    /// Topic to subscribe to (its subtopics are included).
    #[arg(long)]
    pub topic: String,
    /// Serialization used on the wire.
    #[arg(long, value_enum, default_value_t = SerializationFlag::Json)]
    pub serialization: SerializationFlag,
    /// Exit after this many messages (default: run until the broker closes).
    #[arg(long)]
    pub count: Option<u64>,
}

/// `distloop broker topics`
#[derive(Debug, Args)]
pub struct TopicsArgs {
    /// Broker address.
    #[arg(long, default_value = DEFAULT_ADDR)]
    pub addr: String,
}

impl BrokerArgs {
    /// The core configuration these flags describe.
    pub fn config(&self) -> Result<BrokerConfig, String> {
        if self.slow_consumer_timeout.is_zero() {
            return Err("--slow-consumer-timeout must be above zero".into());
        }
        if self.mqtt_max_packet_bytes < 2 {
            return Err("--mqtt-max-packet-bytes must be at least 2".into());
        }
        if self.mqtt.is_some() && self.outbound_limit_bytes < self.mqtt_max_packet_bytes + 64 {
            return Err(format!(
                "--outbound-limit-bytes ({}) must hold at least one largest MQTT packet ({} bytes)",
                self.outbound_limit_bytes, self.mqtt_max_packet_bytes
            ));
        }
        if self.outbound_limit_bytes < self.max_frame_bytes + 64 {
            return Err(format!(
                "--outbound-limit-bytes ({}) must hold at least one largest frame ({} bytes)",
                self.outbound_limit_bytes, self.max_frame_bytes
            ));
        }
        Ok(BrokerConfig {
            max_frame_bytes: self.max_frame_bytes,
            outbound_limit_bytes: self.outbound_limit_bytes,
            slow_consumer: match self.slow_consumer {
                SlowConsumerFlag::Disconnect => SlowConsumerPolicy::Disconnect,
                SlowConsumerFlag::DropOldest => SlowConsumerPolicy::DropOldest,
            },
            slow_consumer_timeout: self.slow_consumer_timeout,
            error_linger: self.error_linger,
            max_mqtt_packet_bytes: self.mqtt_max_packet_bytes,
        })
    }
}

/// Runs `distloop broker ...`.
pub fn run(args: BrokerArgs) -> Result<(), Box<dyn Error>> {
    match args.command {
        None => {
            let config = args.config()?;
            let max = args.max_connections;
            super::server::serve(args.listen, args.mqtt, config, max, |addr| {
                println!("listening on {addr}");
                let _ = io::stdout().flush();
            })?;
            Ok(())
        }
        Some(BrokerCommand::Pub(a)) => publish(a),
        Some(BrokerCommand::Sub(a)) => subscribe(a),
        Some(BrokerCommand::Topics(a)) => {
            let mut client = Client::connect(&a.addr, Serializer::Json)?;
            for topic in client.list_topics()? {
                println!("{topic}");
            }
            Ok(())
        }
    }
}

/// A command-line value: JSON text when it parses, a string otherwise.
pub fn parse_value(text: &str) -> Value {
    Serializer::Json
        .decode(text.as_bytes())
        .unwrap_or_else(|_| Value::str(text))
}

fn publish(args: PubArgs) -> Result<(), Box<dyn Error>> {
    let mut client = Client::connect(&args.addr, args.serialization.into())?;
    if args.values.is_empty() {
        for line in io::stdin().lock().lines() {
            client.publish(&args.topic, &parse_value(&line?))?;
        }
    } else {
        for text in &args.values {
            client.publish(&args.topic, &parse_value(text))?;
        }
    }
    // The LIST round trip proves that the broker handled every publish
    // (frames are handled in order) before the connection closes.
    client.list_topics()?;
    Ok(())
}

fn subscribe(args: SubArgs) -> Result<(), Box<dyn Error>> {
    let mut client = Client::connect(&args.addr, args.serialization.into())?;
    client.subscribe(&args.topic)?;
    let mut out = crate::cli::stdout();
    let mut seen = 0;
    while args.count.is_none_or(|n| seen < n) {
        let delivery = client.receive()?;
        let json = String::from_utf8(Serializer::Json.encode(&delivery.value))?;
        writeln!(out, "{} {json}", delivery.topic)?;
        out.flush()?;
        seen += 1;
    }
    Ok(())
}
