//! The limits a client's requests are read under, taken from the running
//! configuration, and how a reload reaches clients already connected: each
//! reads its next request head under the new limits.

use super::HttpBalancer;
use crate::http::{HeadLimits, RequestParser};
use crate::lb::config::LbConfig;
use crate::reactor::Buffer;

impl HttpBalancer {
    /// Gives a client the limits of a configuration reloaded since it
    /// connected: a fresh head parser (it rescans what is buffered, so a head
    /// already begun is judged by the new limits as a whole) and a read
    /// buffer that holds the largest head now allowed.
    pub(super) fn refresh_limits(&mut self, ck: usize) {
        let client = &mut self.clients[ck];
        if client.generation == self.generation {
            return;
        }
        client.generation = self.generation;
        client.parser = RequestParser::new(self.limits);
        let capacity = client_buffer_bytes(&self.config);
        if client.io.inbuf.capacity() < capacity {
            let mut larger = Buffer::with_capacity(capacity);
            larger.push(client.io.inbuf.as_slice());
            client.io.inbuf = larger;
        }
    }
}

/// The request head limits of `config`.
pub(super) fn head_limits(config: &LbConfig) -> HeadLimits {
    HeadLimits {
        max_head_bytes: config.max_head_bytes,
        max_content_length: config.max_body_bytes.unwrap_or(u64::MAX),
        ..HeadLimits::default()
    }
}

/// A client's read buffer: the whole request head must fit in it to be
/// parsed in place.
pub(super) fn client_buffer_bytes(config: &LbConfig) -> usize {
    config.buffer_bytes.max(config.max_head_bytes)
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
