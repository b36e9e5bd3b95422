//! The load balancer: a reverse proxy in front of a set of backends.
//!
//! - [`strategy`] and [`backend_set`] are the sans-IO core: which backend
//!   next, and the counters (active, durations, failures, backoff) the
//!   strategies read. (The *idle pool* of the HTTP adapter keeps kept-alive
//!   backend connections; the *buffer pool* lends I/O buffers.)
//! - [`tcp`] is the layer-4 adapter on the reactor: it owns the sockets and
//!   asks the backend set for backends; [`http`] is the layer-7 adapter, which
//!   balances each request and keeps backend connections alive.
//! - [`queue`] is where requests wait when every backend they may use is at
//!   its connection cap (`maxconn`).
//! - [`config`] holds the validated configuration and its default limits.
//! - [`cli`] is the command line and config file of `distloop lb`.
//!   (`distloop cluster`, which runs a balancer over local Pi backends, is
//!   composed above the services, in `crate::cluster::pi`.)

pub mod access_log;
pub mod admin;
pub mod backend_set;
pub mod backend_spec;
pub mod backends;
pub mod cli;
pub mod config;
pub mod handover;
pub mod health;
pub mod http;
pub mod queue;
mod runtime;
pub mod stats;
pub mod strategy;
pub mod tcp;
pub mod tls;
pub mod worker;

pub use backend_set::{BackendSet, Pick};
pub use backend_spec::BackendSpec;
pub use config::{ConfigError, LbConfig, Mode};
pub use health::HealthConfig;
pub use runtime::Balancer;
pub use strategy::Strategy;

use std::fmt;
use std::io;
use std::net::SocketAddr;

/// Why a balancer could not start or stopped with an error.
#[derive(Debug)]
pub enum LbError {
    /// The configuration was refused.
    Config(ConfigError),
    /// The listen address could not be bound.
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the operating system said.
        source: io::Error,
    },
    /// The event loop failed.
    Io(io::Error),
}

impl fmt::Display for LbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LbError::Config(e) => write!(f, "invalid configuration: {e}"),
            LbError::Bind { addr, source } => write!(f, "cannot listen on {addr}: {source}"),
            LbError::Io(e) => write!(f, "event loop failed: {e}"),
        }
    }
}

impl std::error::Error for LbError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LbError::Config(e) => Some(e),
            LbError::Bind { source, .. } => Some(source),
            LbError::Io(e) => Some(e),
        }
    }
}

impl From<io::Error> for LbError {
    fn from(e: io::Error) -> Self {
        LbError::Io(e)
    }
}
