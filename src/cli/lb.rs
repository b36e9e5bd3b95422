//! Flags of `distloop lb`.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::{parse_addr, parse_duration};
use crate::lb::config::{
    DEFAULT_BUFFER_BYTES, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_HEAD_BYTES,
    DEFAULT_MAX_IDLE_PER_BACKEND, HashOn,
};
use crate::lb::{BackendSpec, LbConfig, Mode, Strategy};

/// The layer the balancer works at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// Layer 4: each client connection is piped to one backend.
    Tcp,
    /// Layer 7: HTTP/1.1 requests are balanced one by one.
    Http,
}

/// What `consistent-hash` balances on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HashOnArg {
    /// The client's IP address.
    ClientIp,
    /// HTTP: the request target.
    Uri,
}

/// `distloop lb`: a reverse proxy in front of backends.
#[derive(Debug, Clone, Args)]
pub struct LbArgs {
    /// Address to accept clients on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080", value_parser = parse_addr)]
    pub listen: SocketAddr,
    /// A backend address; repeat for each backend, in priority order.
    /// `ADDR[,name=NAME][,weight=N][,agent=PORT]`.
    #[arg(long = "backend", value_name = "ADDR", required = true)]
    pub backends: Vec<BackendSpec>,
    /// n-to-1, round-robin, least-connections, least-response-time,
    /// weighted-round-robin, power-of-two, peak-ewma, consistent-hash, random
    /// or least-load (also N2One, RoundRobin, LeastConnections, LeastResponseTime).
    #[arg(long, default_value = "round-robin")]
    pub strategy: Strategy,
    /// What consistent-hash balances on: client-ip or uri (HTTP mode).
    #[arg(long, value_enum, default_value = "client-ip")]
    pub hash_on: HashOnArg,
    /// http (layer 7: each request balanced on its own) or tcp (layer 4).
    #[arg(long, value_enum, default_value = "http")]
    pub mode: ModeArg,
    /// Give up on a backend connect after this long (e.g. 3s, 500ms).
    #[arg(long, value_parser = parse_duration, default_value = "3s")]
    pub connect_timeout: Duration,
    /// Close a connection idle this long.
    #[arg(long, value_parser = parse_duration, default_value = "60s")]
    pub idle_timeout: Duration,
    /// Keep a backend that refused out of rotation this long (doubling per failure).
    #[arg(long, value_parser = parse_duration, default_value = "1s")]
    pub backoff: Duration,
    /// On SIGINT/SIGTERM, wait at most this long for open connections.
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    pub drain_timeout: Duration,
    /// Bytes buffered per direction per connection.
    #[arg(long, default_value_t = DEFAULT_BUFFER_BYTES)]
    pub buffer_bytes: usize,
    /// Client connections served at once.
    #[arg(long, default_value_t = DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,
    /// HTTP: a request head must arrive whole within this long.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub head_timeout: Duration,
    /// HTTP: answer 504 when the backend is silent this long.
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    pub response_timeout: Duration,
    /// HTTP: largest request head in bytes (431 beyond).
    #[arg(long, default_value_t = DEFAULT_MAX_HEAD_BYTES)]
    pub max_head_bytes: usize,
    /// HTTP: largest request body in bytes (413 beyond); no limit by default.
    #[arg(long)]
    pub max_body_bytes: Option<u64>,
    /// HTTP: kept-alive backend connections parked per backend.
    #[arg(long, default_value_t = DEFAULT_MAX_IDLE_PER_BACKEND)]
    pub max_idle_per_backend: usize,
    /// HTTP: close a parked backend connection unused this long.
    #[arg(long, value_parser = parse_duration, default_value = "15s")]
    pub pool_idle_timeout: Duration,
}

impl LbArgs {
    /// The configuration these flags describe (checked by the balancer).
    pub fn to_config(&self) -> LbConfig {
        let mode = match self.mode {
            ModeArg::Tcp => Mode::Tcp,
            ModeArg::Http => Mode::Http,
        };
        let mut config = LbConfig::new(self.listen, self.backends.clone(), self.strategy, mode);
        config.hash_on = match self.hash_on {
            HashOnArg::ClientIp => HashOn::ClientIp,
            HashOnArg::Uri => HashOn::Uri,
        };
        config.connect_timeout = self.connect_timeout;
        config.idle_timeout = self.idle_timeout;
        config.backoff = self.backoff;
        config.drain_timeout = self.drain_timeout;
        config.buffer_bytes = self.buffer_bytes;
        config.max_connections = self.max_connections;
        config.head_timeout = self.head_timeout;
        config.response_timeout = self.response_timeout;
        config.max_head_bytes = self.max_head_bytes;
        config.max_body_bytes = self.max_body_bytes;
        config.max_idle_per_backend = self.max_idle_per_backend;
        config.pool_idle_timeout = self.pool_idle_timeout;
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lb::config;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        lb: LbArgs,
    }

    #[test]
    fn flag_defaults_match_the_named_limits() {
        let args = Wrapper::parse_from(["lb", "--backend", "127.0.0.1:1"]).lb;
        let cfg = args.to_config();
        assert_eq!(cfg.connect_timeout, config::DEFAULT_CONNECT_TIMEOUT);
        assert_eq!(cfg.idle_timeout, config::DEFAULT_IDLE_TIMEOUT);
        assert_eq!(cfg.backoff, crate::lb::pool::DEFAULT_BACKOFF);
        assert_eq!(cfg.drain_timeout, config::DEFAULT_DRAIN_TIMEOUT);
        assert_eq!(cfg.strategy, Strategy::RoundRobin);
        assert_eq!(cfg.hash_on, HashOn::ClientIp);
        assert_eq!(cfg.mode, crate::lb::Mode::Http);
        assert_eq!(cfg.head_timeout, config::DEFAULT_HEAD_TIMEOUT);
        assert_eq!(cfg.response_timeout, config::DEFAULT_RESPONSE_TIMEOUT);
        assert_eq!(cfg.pool_idle_timeout, config::DEFAULT_POOL_IDLE_TIMEOUT);
    }

    #[test]
    fn hash_on_uri_reaches_the_config() {
        let args = Wrapper::parse_from(["lb", "--backend", "127.0.0.1:1", "--hash-on", "uri"]).lb;
        assert_eq!(args.to_config().hash_on, HashOn::Uri);
    }

    #[test]
    fn original_strategy_names_parse_on_the_command_line() {
        let args = Wrapper::parse_from([
            "lb",
            "--backend",
            "127.0.0.1:1",
            "--strategy",
            "LeastResponseTime",
        ])
        .lb;
        assert_eq!(args.strategy, Strategy::LeastResponseTime);
    }
}
