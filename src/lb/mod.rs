//! The load balancer: a reverse proxy in front of a pool of backends.
//!
//! - [`strategy`] and [`pool`] are the sans-IO core: which backend next, and
//!   the counters (active, durations, failures, backoff) the strategies read.
//! - [`tcp`] is the layer-4 adapter on the reactor: it owns the sockets and
//!   asks the pool for backends; [`http`] is the layer-7 adapter, which
//!   balances each request and keeps backend connections alive.
//! - [`config`] holds the validated configuration and its default limits.

pub mod access_log;
pub mod admin;
pub mod backend;
pub mod backends;
pub mod config;
pub mod health;
pub mod http;
pub mod pool;
pub mod stats;
pub mod strategy;
pub mod tcp;

pub use backend::BackendSpec;
pub use config::{ConfigError, LbConfig, Mode};
pub use pool::{BackendPool, Pick};
pub use strategy::Strategy;

use std::fmt;
use std::io;
use std::net::SocketAddr;

use crate::reactor::{self, Context, ListenOptions, Reactor, Readiness, Service, TimerId, Token};

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

/// The balancer of either mode, as one service.
enum Proxy {
    Tcp(tcp::TcpBalancer),
    Http(http::HttpBalancer),
}

impl Service for Proxy {
    fn on_ready(&mut self, ctx: &mut Context<'_>, token: Token, readiness: Readiness) {
        match self {
            Proxy::Tcp(s) => s.on_ready(ctx, token, readiness),
            Proxy::Http(s) => s.on_ready(ctx, token, readiness),
        }
    }
    fn on_timer(&mut self, ctx: &mut Context<'_>, id: TimerId, payload: u64) {
        match self {
            Proxy::Tcp(s) => s.on_timer(ctx, id, payload),
            Proxy::Http(s) => s.on_timer(ctx, id, payload),
        }
    }
    fn on_shutdown(&mut self, ctx: &mut Context<'_>) {
        match self {
            Proxy::Tcp(s) => s.on_shutdown(ctx),
            Proxy::Http(s) => s.on_shutdown(ctx),
        }
    }
    fn is_drained(&self) -> bool {
        match self {
            Proxy::Tcp(s) => s.is_drained(),
            Proxy::Http(s) => s.is_drained(),
        }
    }
}

/// A bound balancer, ready to run on its own reactor.
pub struct Balancer {
    reactor: Reactor,
    service: Proxy,
    local_addr: SocketAddr,
}

impl Balancer {
    /// Validates `config`, binds the listener and prepares the event loop.
    pub fn bind(config: LbConfig) -> Result<Self, LbError> {
        config.validate().map_err(LbError::Config)?;
        let listener =
            reactor::listen(config.listen, ListenOptions::default()).map_err(|source| {
                LbError::Bind {
                    addr: config.listen,
                    source,
                }
            })?;
        let local_addr = listener.local_addr()?;
        let mut reactor = Reactor::new()?;
        reactor.set_drain_timeout(config.drain_timeout);
        let service = match config.mode {
            Mode::Tcp => {
                let mut service = tcp::TcpBalancer::new(config, listener);
                service.register(reactor.registry())?;
                Proxy::Tcp(service)
            }
            Mode::Http => {
                let mut service = http::HttpBalancer::new(config, listener);
                service.register(reactor.registry())?;
                Proxy::Http(service)
            }
        };
        Ok(Self {
            reactor,
            service,
            local_addr,
        })
    }

    /// The address clients connect to (the real port when 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Lets SIGINT and SIGTERM stop this balancer gracefully.
    pub fn watch_signals(&mut self) -> io::Result<()> {
        self.reactor.watch_signals()
    }

    /// A handle to stop the balancer from another thread.
    pub fn handle(&self) -> reactor::Handle {
        self.reactor.handle()
    }

    /// Serves until shut down and drained.
    pub fn run(mut self) -> Result<(), LbError> {
        self.reactor.run(&mut self.service)?;
        Ok(())
    }
}
