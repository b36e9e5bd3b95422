//! What the HTTP proxy's exchanges are run under: the running
//! configuration, the request head limits taken from it, its generation (a
//! reload bumps it, and each client reads its next request head under the
//! new limits) and whether the balancer is shutting down. Also the
//! per-wake-up work caps and the linger after an error answer.

use std::time::Duration;

use crate::http::HeadLimits;
use crate::lb::config::LbConfig;
use crate::reactor::buffer_pool::PoolLimits;

/// Bytes read per socket per wake-up before a connection yields to others.
pub(super) const BYTES_PER_WAKE: usize = 256 * 1024;
/// Rounds of progress per wake-up for one client before it yields.
pub(super) const ROUNDS_PER_WAKE: usize = 64;
/// After an error response, how long the client may take to read it.
pub(super) const LINGER: Duration = Duration::from_secs(2);

/// The configuration as the exchanges see it.
#[derive(Debug)]
pub(super) struct Settings {
    pub config: LbConfig,
    pub limits: HeadLimits,
    /// Bumped by each reload: clients read their next head under the new
    /// limits, and backend connections of older generations are not parked.
    pub generation: u64,
    pub shutting_down: bool,
}

impl Settings {
    pub fn new(config: LbConfig) -> Self {
        Self {
            limits: head_limits(&config),
            config,
            generation: 0,
            shutting_down: false,
        }
    }

    /// Switches to a reloaded configuration.
    pub fn reload(&mut self, config: LbConfig) {
        self.limits = head_limits(&config);
        self.config = config;
        self.generation += 1;
    }
}

/// The request head limits of `config`.
fn head_limits(config: &LbConfig) -> HeadLimits {
    HeadLimits {
        max_head_bytes: config.max_head_bytes,
        max_content_length: config.max_body_bytes.unwrap_or(u64::MAX),
        ..HeadLimits::default()
    }
}

/// A client's read buffer: the whole request head must fit in it to be
/// parsed in place.
fn client_buffer_bytes(config: &LbConfig) -> usize {
    config.buffer_bytes.max(config.max_head_bytes)
}

/// The worker's read buffers: one size for clients and backends (a client's
/// must hold the largest head; buffers change hands between the two sides
/// at an upgrade; a backend connection fills at most `buffer_bytes` of
/// one), as many as the configuration lends at once.
pub(super) fn buffer_limits(config: &LbConfig) -> PoolLimits {
    PoolLimits::new(client_buffer_bytes(config).max(1), config.buffer_count())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lb::{Mode, Strategy};

    fn config(max_head_bytes: usize, buffer_bytes: usize, max_body: Option<u64>) -> LbConfig {
        let mut config = LbConfig::new(
            "127.0.0.1:0".parse().unwrap(),
            vec!["127.0.0.1:1".parse().unwrap()],
            Strategy::RoundRobin,
            Mode::Http,
        );
        config.max_head_bytes = max_head_bytes;
        config.buffer_bytes = buffer_bytes;
        config.max_body_bytes = max_body;
        config
    }

    #[test]
    fn head_limits_follow_the_configuration() {
        let limits = head_limits(&config(2048, 1024, Some(100)));
        assert_eq!(limits.max_head_bytes, 2048);
        assert_eq!(limits.max_content_length, 100);
        let unlimited = head_limits(&config(2048, 1024, None));
        assert_eq!(unlimited.max_content_length, u64::MAX, "no body limit");
    }

    #[test]
    fn the_read_buffer_holds_the_largest_head_allowed() {
        assert_eq!(client_buffer_bytes(&config(8192, 1024, None)), 8192);
        assert_eq!(client_buffer_bytes(&config(2048, 32768, None)), 32768);
    }
}
