//! The balancer's validated configuration and its limits.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use super::backend_spec::BackendSpec;
use super::health::HealthConfig;
use super::strategy::Strategy;

/// Give up on a backend connect after this long.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Close a TCP session after this long with no byte in either direction.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Each direction of a session buffers at most this many bytes.
pub const DEFAULT_BUFFER_BYTES: usize = 32 * 1024;
/// On SIGTERM, wait at most this long for open sessions to finish.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest drain timeout accepted.
pub const MAX_DRAIN_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);
/// The longest any other timeout, interval or backoff may be: longer is a typo.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);
/// Client connections served at once; further ones wait in the listen backlog.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// The most event-loop workers one balancer process runs.
pub const MAX_WORKERS: usize = 64;
/// HTTP: a request head must arrive whole within this long (slowloris).
pub const DEFAULT_HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// HTTP: a backend silent this long while a request is in flight gets a 504.
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);
/// HTTP: the largest request head, in bytes (431 beyond).
pub const DEFAULT_MAX_HEAD_BYTES: usize = 64 * 1024;
/// HTTP: kept-alive backend connections parked per backend at most.
pub const DEFAULT_MAX_IDLE_PER_BACKEND: usize = 256;
/// HTTP: a parked backend connection unused this long is closed.
pub const DEFAULT_POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(15);

/// Which layer the balancer works at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Layer 4: one backend per client connection, bytes piped both ways.
    Tcp,
    /// Layer 7: HTTP/1.1 requests balanced one by one.
    Http,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Tcp => "tcp",
            Mode::Http => "http",
        })
    }
}

/// What `consistent-hash` balances on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HashOn {
    /// The client's IP address: a client sticks to one backend.
    #[default]
    ClientIp,
    /// HTTP: the request target: a resource sticks to one backend (cache
    /// affinity). TCP mode has no target and uses the client's IP.
    Uri,
}

/// Everything a balancer needs to run, already checked.
#[derive(Debug, Clone)]
pub struct LbConfig {
    /// Where clients connect.
    pub listen: SocketAddr,
    /// The backends, in list order (the order the strategies break ties by).
    pub backends: Vec<BackendSpec>,
    /// How backends are chosen.
    pub strategy: Strategy,
    /// What `consistent-hash` hashes.
    pub hash_on: HashOn,
    /// Layer 4 or layer 7.
    pub mode: Mode,
    /// Backend connect deadline.
    pub connect_timeout: Duration,
    /// Inactivity deadline of a session.
    pub idle_timeout: Duration,
    /// First passive-check backoff after a failed connect.
    pub backoff: Duration,
    /// Bytes buffered per direction per session.
    pub buffer_bytes: usize,
    /// Longest wait for sessions to finish on shutdown.
    pub drain_timeout: Duration,
    /// Client connections served at once.
    pub max_connections: usize,
    /// HTTP: deadline for a whole request head.
    pub head_timeout: Duration,
    /// HTTP: deadline for backend activity while a request is in flight.
    pub response_timeout: Duration,
    /// HTTP: largest request head in bytes.
    pub max_head_bytes: usize,
    /// HTTP: largest request body in bytes (413 beyond); `None` for no limit.
    pub max_body_bytes: Option<u64>,
    /// HTTP: parked backend connections per backend.
    pub max_idle_per_backend: usize,
    /// Read buffers a worker lends at once (reads wait beyond); `None` for
    /// two per allowed connection (see [`LbConfig::buffer_count`]).
    pub max_buffers: Option<usize>,
    /// HTTP: how long a parked backend connection is kept.
    pub pool_idle_timeout: Duration,
    /// How long a request (TCP: connection) waits for a backend under its
    /// `maxconn`; zero refuses at once.
    pub queue_timeout: Duration,
    /// Active health checks and agent checks.
    pub health: HealthConfig,
    /// Event-loop workers, each with its own listener (SO_REUSEPORT).
    pub workers: usize,
    /// Where the admin listener serves stats and commands.
    pub admin: Option<SocketAddr>,
    /// The access log's path (`-` for standard output).
    pub access_log: Option<String>,
    /// Terminate TLS for clients with these certificates.
    pub tls: Option<super::tls::TlsTermination>,
}

/// Why a configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// No `--backend` was given.
    NoBackends,
    /// A limit that must be positive was zero.
    Zero(&'static str),
    /// A setting this build does not support.
    Unsupported(&'static str),
    /// A setting out of its range, with why.
    Invalid(String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::NoBackends => f.write_str("no backend given (use --backend ADDR)"),
            ConfigError::Zero(what) => write!(f, "{what} must be greater than zero"),
            ConfigError::Unsupported(what) => f.write_str(what),
            ConfigError::Invalid(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for ConfigError {}

impl LbConfig {
    /// A configuration with default limits.
    pub fn new(
        listen: SocketAddr,
        backends: Vec<BackendSpec>,
        strategy: Strategy,
        mode: Mode,
    ) -> Self {
        Self {
            listen,
            backends,
            strategy,
            hash_on: HashOn::default(),
            mode,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            backoff: super::backend_set::DEFAULT_BACKOFF,
            buffer_bytes: DEFAULT_BUFFER_BYTES,
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            head_timeout: DEFAULT_HEAD_TIMEOUT,
            response_timeout: DEFAULT_RESPONSE_TIMEOUT,
            max_head_bytes: DEFAULT_MAX_HEAD_BYTES,
            max_body_bytes: None,
            max_idle_per_backend: DEFAULT_MAX_IDLE_PER_BACKEND,
            max_buffers: None,
            pool_idle_timeout: DEFAULT_POOL_IDLE_TIMEOUT,
            queue_timeout: super::queue::DEFAULT_QUEUE_TIMEOUT,
            health: HealthConfig::default(),
            workers: 1,
            admin: None,
            access_log: None,
            tls: None,
        }
    }

    /// Checks the invariants the balancer relies on: the first problem, if any.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match self.problems().into_iter().next() {
            Some((_, problem)) => Err(problem),
            None => Ok(()),
        }
    }

    /// Read buffers a worker lends at once: `max_buffers`, or by default
    /// two per allowed connection (a client's and its backend's, or a TCP
    /// session's two directions), so that the default never refuses a
    /// read the connection limit lets in.
    pub fn buffer_count(&self) -> usize {
        self.max_buffers
            .unwrap_or(self.max_connections.saturating_mul(2))
            .max(1)
    }

    /// Every invariant this configuration breaks, each with the setting it
    /// is about (for `lb --check`, which lists them all).
    pub fn problems(&self) -> Vec<(Setting, ConfigError)> {
        let mut found = Vec::new();
        let mut refuse = |setting, problem| found.push((setting, problem));
        if self.backends.is_empty() {
            refuse(Setting::Backends, ConfigError::NoBackends);
        }
        if self.buffer_bytes == 0 {
            refuse(
                Setting::Key("buffer_bytes"),
                ConfigError::Zero("--buffer-bytes"),
            );
        }
        if self.connect_timeout.is_zero() {
            refuse(
                Setting::Key("connect_timeout"),
                ConfigError::Zero("--connect-timeout"),
            );
        }
        if self.max_connections == 0 {
            refuse(
                Setting::Key("max_connections"),
                ConfigError::Zero("--max-connections"),
            );
        }
        if self.max_buffers == Some(0) {
            refuse(
                Setting::Key("max_buffers"),
                ConfigError::Zero("--max-buffers"),
            );
        }
        if self.max_head_bytes < 1024 {
            refuse(
                Setting::Key("max_head_bytes"),
                ConfigError::Zero("--max-head-bytes (at least 1024)"),
            );
        }
        if self.idle_timeout.is_zero() {
            refuse(
                Setting::Key("idle_timeout"),
                ConfigError::Zero("--idle-timeout"),
            );
        }
        if self.drain_timeout > MAX_DRAIN_TIMEOUT {
            refuse(
                Setting::Key("drain_timeout"),
                ConfigError::Invalid(format!(
                    "--drain-timeout must be at most {}h",
                    MAX_DRAIN_TIMEOUT.as_secs() / 3600
                )),
            );
        }
        let timeouts = [
            ("connect_timeout", "--connect-timeout", self.connect_timeout),
            ("idle_timeout", "--idle-timeout", self.idle_timeout),
            ("backoff", "--backoff", self.backoff),
            ("head_timeout", "--head-timeout", self.head_timeout),
            (
                "response_timeout",
                "--response-timeout",
                self.response_timeout,
            ),
            (
                "pool_idle_timeout",
                "--pool-idle-timeout",
                self.pool_idle_timeout,
            ),
            ("queue_timeout", "--queue-timeout", self.queue_timeout),
            ("health.interval", "--health-interval", self.health.interval),
            ("health.timeout", "--health-timeout", self.health.timeout),
        ];
        for (key, flag, value) in timeouts {
            if value > MAX_TIMEOUT {
                refuse(
                    Setting::Key(key),
                    ConfigError::Invalid(format!(
                        "{flag} must be at most {}h",
                        MAX_TIMEOUT.as_secs() / 3600
                    )),
                );
            }
        }
        if self.workers == 0 || self.workers > MAX_WORKERS {
            refuse(
                Setting::Key("workers"),
                ConfigError::Invalid(format!("--workers must be 1 to {MAX_WORKERS}")),
            );
        }
        for (key, problem) in self.health.problems() {
            refuse(Setting::Key(key), ConfigError::Invalid(problem.to_string()));
        }
        if self.admin == Some(self.listen) && self.listen.port() != 0 {
            refuse(
                Setting::Key("admin"),
                ConfigError::Invalid(format!(
                    "--admin {} is also the --listen address",
                    self.listen
                )),
            );
        }
        for (index, backend) in self.backends.iter().enumerate() {
            if self.backends[..index]
                .iter()
                .any(|b| b.name == backend.name)
            {
                refuse(
                    Setting::Backend(index),
                    ConfigError::Invalid(format!(
                        "two backends are named `{}`; names must differ",
                        backend.name
                    )),
                );
            }
        }
        found
    }
}

/// What a configuration problem is about, so that it can be pointed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    /// A setting by its config-file key (`connect_timeout`, `health.interval`).
    Key(&'static str),
    /// The list of backends as a whole.
    Backends,
    /// One backend, by its place in the list.
    Backend(usize),
}
