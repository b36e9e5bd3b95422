//! `distloop lb`: flags and config file, merged into a validated
//! [`LbConfig`] (flags win over the file), then the balancer run.

pub mod check;
pub mod config_file;
pub mod tls;
pub mod upgrade;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::cli::{DURATION_HELP, parse_addr, parse_duration};
use crate::lb::config::HashOn;
use crate::lb::health::config::default_timeout;
use crate::lb::health::{CheckKind, HealthConfig};
use crate::lb::{BackendSpec, LbConfig, Mode, Strategy};
use config_file::{ConfigFile, FileError, FileSettings};

/// The layer the balancer works at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// Layer 4: each client connection is piped to one backend.
    Tcp,
    /// Layer 7: HTTP/1.1 requests are balanced one by one.
    Http,
}

impl From<ModeArg> for Mode {
    fn from(mode: ModeArg) -> Mode {
        match mode {
            ModeArg::Tcp => Mode::Tcp,
            ModeArg::Http => Mode::Http,
        }
    }
}

/// What `consistent-hash` balances on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HashOnArg {
    /// The client's IP address.
    ClientIp,
    /// HTTP: the request target.
    Uri,
}

impl From<HashOnArg> for HashOn {
    fn from(on: HashOnArg) -> HashOn {
        match on {
            HashOnArg::ClientIp => HashOn::ClientIp,
            HashOnArg::Uri => HashOn::Uri,
        }
    }
}

/// `distloop lb`: a reverse proxy in front of backends. Every setting can
/// also come from `--config FILE` (TOML); flags win over the file.
#[derive(Debug, Clone, Default, Args)]
#[command(after_help = DURATION_HELP)]
pub struct LbArgs {
    /// Check the configuration (file and flags) and exit: 0 and `configuration
    /// is valid`, or 2 and each problem with its file and line. Binds nothing.
    #[arg(long)]
    pub check: bool,
    /// Zero-downtime upgrade: take the listening sockets over from the
    /// balancer answering on this Unix socket (it then drains and exits),
    /// and answer the next upgrade here.
    #[arg(long, value_name = "PATH")]
    pub upgrade_socket: Option<PathBuf>,
    /// A TOML file with the same settings (`[[backend]]` tables, `[health]`);
    /// SIGHUP rereads it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to accept clients on (port 0 picks a free port) [default: 127.0.0.1:8080].
    #[arg(long, value_parser = parse_addr)]
    pub listen: Option<SocketAddr>,
    /// A backend, `ADDR[,name=NAME][,weight=N][,agent=PORT][,maxconn=N]`;
    /// repeat for each, in priority order. `maxconn=N`: at most N requests
    /// (connections in TCP mode) at once, the excess queued.
    #[arg(long = "backend", value_name = "SPEC")]
    pub backends: Vec<BackendSpec>,
    /// n-to-1, round-robin, least-connections, least-response-time,
    /// weighted-round-robin, power-of-two, peak-ewma, consistent-hash, random
    /// or least-load (also N2One, RoundRobin, LeastConnections,
    /// LeastResponseTime) [default: round-robin].
    #[arg(long)]
    pub strategy: Option<Strategy>,
    /// What consistent-hash balances on [default: client-ip].
    #[arg(long, value_enum)]
    pub hash_on: Option<HashOnArg>,
    /// http (layer 7: each request balanced on its own) or tcp (layer 4) [default: http].
    #[arg(long, value_enum)]
    pub mode: Option<ModeArg>,
    /// Event-loop workers, each with its own listener on SO_REUSEPORT [default: 1].
    #[arg(long)]
    pub workers: Option<usize>,
    /// Serve stats (/, /stats, /metrics) and drain/ready commands here.
    #[arg(long, value_parser = parse_addr)]
    pub admin: Option<SocketAddr>,
    /// Write one line per request (connection, in TCP mode) here; `-` for stdout.
    #[arg(long, value_name = "PATH")]
    pub access_log: Option<String>,
    /// Active health check: `tcp`, `http` or `http:/PATH` [default: none].
    #[arg(long, value_parser = CheckKind::from_str)]
    pub health_check: Option<CheckKind>,
    /// Time between health (and agent) checks [default: 2s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub health_interval: Option<Duration>,
    /// Longest one check may take [default: 1s, or the interval if shorter].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub health_timeout: Option<Duration>,
    /// Passed checks in a row that bring a backend back [default: 2].
    #[arg(long)]
    pub rise: Option<u32>,
    /// Failed checks in a row that take a backend down [default: 3].
    #[arg(long)]
    pub fall: Option<u32>,
    /// Give up on a backend connect after this long [default: 3s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub connect_timeout: Option<Duration>,
    /// TCP: close a connection idle this long; HTTP: a kept-alive client [default: 60s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub idle_timeout: Option<Duration>,
    /// A backend that refused sits out this long, doubling per failure [default: 1s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub backoff: Option<Duration>,
    /// On SIGINT/SIGTERM, wait at most this long for work in flight [default: 30s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub drain_timeout: Option<Duration>,
    /// Bytes buffered per direction per connection [default: 32768].
    #[arg(long)]
    pub buffer_bytes: Option<usize>,
    /// Client connections served at once [default: 10000].
    #[arg(long)]
    pub max_connections: Option<usize>,
    /// HTTP: a request head must arrive whole within this long [default: 10s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub head_timeout: Option<Duration>,
    /// HTTP: answer 504 when the backend is silent this long [default: 30s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub response_timeout: Option<Duration>,
    /// HTTP: largest request head in bytes, 431 beyond [default: 65536].
    #[arg(long)]
    pub max_head_bytes: Option<usize>,
    /// HTTP: largest request body in bytes, 413 beyond [default: no limit].
    #[arg(long)]
    pub max_body_bytes: Option<u64>,
    /// HTTP: kept-alive backend connections parked per backend [default: 256].
    #[arg(long)]
    pub max_idle_per_backend: Option<usize>,
    /// Read buffers a worker lends at once; reads wait beyond
    /// [default: 2 x max-connections].
    #[arg(long)]
    pub max_buffers: Option<usize>,
    /// HTTP: close a parked backend connection unused this long [default: 15s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub pool_idle_timeout: Option<Duration>,
    /// A request (TCP: connection) waiting for a backend under its maxconn
    /// gets a 503 (TCP: is closed) after this long; 0 refuses at once [default: 5s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub queue_timeout: Option<Duration>,
    /// TLS termination (`--tls-cert`, `--tls-key`).
    #[command(flatten)]
    pub tls: tls::TlsArgs,
}

fn parse_mode(text: &str) -> Result<ModeArg, String> {
    ModeArg::from_str(text, true).map_err(|_| format!("`{text}` is not http or tcp"))
}

fn parse_hash_on(text: &str) -> Result<HashOnArg, String> {
    HashOnArg::from_str(text, true).map_err(|_| format!("`{text}` is not client-ip or uri"))
}

impl LbArgs {
    /// The configuration of the flags over the config file (read now), checked.
    pub fn resolve(&self) -> Result<LbConfig, String> {
        let file = self.read_file().map_err(|e| e.to_string())?;
        let mut problems = Vec::new();
        let config = self.merge(&file, &mut problems);
        if let Some(problem) = problems.into_iter().next() {
            return Err(problem.to_string());
        }
        config.validate().map_err(|e| e.to_string())?;
        Ok(config)
    }

    /// The `--config` file, or an empty one.
    pub(super) fn read_file(&self) -> Result<ConfigFile, FileError> {
        match &self.config {
            Some(path) => ConfigFile::load(path),
            None => ConfigFile::parse("(none)", String::new()),
        }
    }

    /// Flags first, then the file, then the defaults. A value that does not
    /// parse is added to `problems` and its default used, so that every
    /// problem is found in one pass.
    pub(super) fn merge(&self, file: &ConfigFile, problems: &mut Vec<FileError>) -> LbConfig {
        let f: &FileSettings = &file.settings;
        let listen = self
            .listen
            .or_else(|| kept(file.value("listen", &f.listen, parse_addr), problems));
        let listen = listen.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
        let admin = self
            .admin
            .or_else(|| kept(file.value("admin", &f.admin, parse_addr), problems));
        let mut durations = |flag: Option<Duration>, key: &str, value, default: Duration| {
            flag.or_else(|| kept(file.value(key, value, parse_duration), problems))
                .unwrap_or(default)
        };
        let connect_timeout = durations(
            self.connect_timeout,
            "connect_timeout",
            &f.connect_timeout,
            crate::lb::config::DEFAULT_CONNECT_TIMEOUT,
        );
        let idle_timeout = durations(
            self.idle_timeout,
            "idle_timeout",
            &f.idle_timeout,
            crate::lb::config::DEFAULT_IDLE_TIMEOUT,
        );
        let backoff = durations(
            self.backoff,
            "backoff",
            &f.backoff,
            crate::lb::backend_set::DEFAULT_BACKOFF,
        );
        let drain_timeout = durations(
            self.drain_timeout,
            "drain_timeout",
            &f.drain_timeout,
            crate::lb::config::DEFAULT_DRAIN_TIMEOUT,
        );
        let head_timeout = durations(
            self.head_timeout,
            "head_timeout",
            &f.head_timeout,
            crate::lb::config::DEFAULT_HEAD_TIMEOUT,
        );
        let response_timeout = durations(
            self.response_timeout,
            "response_timeout",
            &f.response_timeout,
            crate::lb::config::DEFAULT_RESPONSE_TIMEOUT,
        );
        let pool_idle_timeout = durations(
            self.pool_idle_timeout,
            "pool_idle_timeout",
            &f.pool_idle_timeout,
            crate::lb::config::DEFAULT_POOL_IDLE_TIMEOUT,
        );
        let queue_timeout = durations(
            self.queue_timeout,
            "queue_timeout",
            &f.queue_timeout,
            crate::lb::queue::DEFAULT_QUEUE_TIMEOUT,
        );
        let backends = if self.backends.is_empty() {
            let mut parsed = Vec::new();
            for b in &f.backend {
                match b.get_ref().to_flag().parse::<BackendSpec>() {
                    Ok(spec) => parsed.push(spec),
                    Err(e) => problems.push(file.error_at(b.span(), format!("backend: {e}"))),
                }
            }
            parsed
        } else {
            self.backends.clone()
        };
        let strategy = self
            .strategy
            .or_else(|| {
                kept(
                    file.value("strategy", &f.strategy, Strategy::from_str),
                    problems,
                )
            })
            .unwrap_or(Strategy::RoundRobin);
        let mode = self
            .mode
            .or_else(|| kept(file.value("mode", &f.mode, parse_mode), problems))
            .unwrap_or(ModeArg::Http);
        let hash_on = self
            .hash_on
            .or_else(|| kept(file.value("hash_on", &f.hash_on, parse_hash_on), problems))
            .map_or(HashOn::ClientIp, Into::into);
        let mut config = LbConfig::new(listen, backends, strategy, mode.into());
        config.connect_timeout = connect_timeout;
        config.idle_timeout = idle_timeout;
        config.backoff = backoff;
        config.drain_timeout = drain_timeout;
        config.head_timeout = head_timeout;
        config.response_timeout = response_timeout;
        config.pool_idle_timeout = pool_idle_timeout;
        config.queue_timeout = queue_timeout;
        config.hash_on = hash_on;
        config.admin = admin;
        let number = |flag: Option<usize>, value: &Option<toml::Spanned<usize>>, default: usize| {
            flag.or(value.as_ref().map(|v| *v.get_ref()))
                .unwrap_or(default)
        };
        config.buffer_bytes = number(self.buffer_bytes, &f.buffer_bytes, config.buffer_bytes);
        config.max_connections = number(
            self.max_connections,
            &f.max_connections,
            config.max_connections,
        );
        config.max_head_bytes = number(
            self.max_head_bytes,
            &f.max_head_bytes,
            config.max_head_bytes,
        );
        config.max_idle_per_backend = number(
            self.max_idle_per_backend,
            &f.max_idle_per_backend,
            config.max_idle_per_backend,
        );
        config.workers = number(self.workers, &f.workers, config.workers);
        config.max_buffers = self
            .max_buffers
            .or(f.max_buffers.as_ref().map(|v| *v.get_ref()));
        config.max_body_bytes = self
            .max_body_bytes
            .or(f.max_body_bytes.as_ref().map(|v| *v.get_ref()));
        config.access_log = self
            .access_log
            .clone()
            .or(f.access_log.as_ref().map(|v| v.get_ref().clone()));
        config.health = self.merge_health(file, problems);
        config.tls = self.tls.merge(file, config.mode, problems);
        config
    }

    fn merge_health(&self, file: &ConfigFile, problems: &mut Vec<FileError>) -> HealthConfig {
        let empty = Default::default();
        let h = file.settings.health.as_ref().unwrap_or(&empty);
        let mut health = HealthConfig::default();
        health.check = self.health_check.clone().or_else(|| {
            kept(
                file.value("health.check", &h.check, CheckKind::from_str),
                problems,
            )
        });
        health.interval = self
            .health_interval
            .or_else(|| {
                kept(
                    file.value("health.interval", &h.interval, parse_duration),
                    problems,
                )
            })
            .unwrap_or(health.interval);
        health.timeout = self
            .health_timeout
            .or_else(|| {
                kept(
                    file.value("health.timeout", &h.timeout, parse_duration),
                    problems,
                )
            })
            .unwrap_or_else(|| default_timeout(health.interval));
        health.rise = self
            .rise
            .or(h.rise.as_ref().map(|v| *v.get_ref()))
            .unwrap_or(health.rise);
        health.fall = self
            .fall
            .or(h.fall.as_ref().map(|v| *v.get_ref()))
            .unwrap_or(health.fall);
        health
    }
}

/// The value of a file setting, or `None` with its problem noted.
fn kept<T>(result: Result<Option<T>, FileError>, problems: &mut Vec<FileError>) -> Option<T> {
    result.unwrap_or_else(|problem| {
        problems.push(problem);
        None
    })
}

/// Runs `distloop lb`: exit 2 for a bad configuration, 1 when it cannot run.
pub fn run(args: &LbArgs) -> ExitCode {
    if args.check {
        let problems = check::problems(args);
        if problems.is_empty() {
            println!("{}", check::VALID);
            return ExitCode::SUCCESS;
        }
        for problem in problems {
            eprintln!("distloop lb: {problem}");
        }
        return ExitCode::from(2);
    }
    let config = match args.resolve() {
        Ok(config) => config,
        Err(why) => {
            eprintln!("distloop lb: {why}");
            return ExitCode::from(2);
        }
    };
    let balancer = match upgrade::bind_or_take_over(args, &config) {
        Ok(balancer) => balancer,
        Err(code) => return code,
    };
    println!("listening on {}", balancer.local_addr());
    if let Some(admin) = balancer.admin_addr() {
        println!("admin listening on {admin}");
    }
    crate::info!(
        "balancing in {} mode with {} over {} backend(s), {} worker(s)",
        config.mode,
        config.strategy,
        config.backends.len(),
        config.workers
    );
    match balancer.run(|| args.resolve()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("distloop lb: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests;
