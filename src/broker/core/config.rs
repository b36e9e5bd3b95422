//! The broker's limits and policies, with their defaults, and the counters
//! it keeps since it started.

use std::time::Duration;

use crate::broker::frame::DEFAULT_MAX_FRAME_BYTES;
use crate::broker::outbox::SlowConsumerPolicy;

/// Default bound of one client's outbound queue: 8 MiB.
pub const DEFAULT_OUTBOUND_LIMIT_BYTES: usize = 8 << 20;
/// Default bound on how long a client's pending output may go without
/// being written out to empty (NATS's write deadline).
pub const DEFAULT_SLOW_CONSUMER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default of [`BrokerConfig::error_linger`].
pub const DEFAULT_ERROR_LINGER: Duration = Duration::from_secs(2);
/// Subscriptions one client may hold at once.
pub const MAX_SUBSCRIPTIONS_PER_CLIENT: usize = 4096;
/// Default bound of an MQTT packet, fixed header included: 1 MiB.
pub const DEFAULT_MAX_MQTT_PACKET_BYTES: usize = 1 << 20;

/// The broker's limits and policies.
#[derive(Debug, Clone, Copy)]
pub struct BrokerConfig {
    /// Largest length field accepted in a frame.
    pub max_frame_bytes: usize,
    /// Bound of each client's outbound queue, in bytes.
    pub outbound_limit_bytes: usize,
    /// What happens past that bound.
    pub slow_consumer: SlowConsumerPolicy,
    /// A client whose pending output has not been written out to empty for
    /// this long is sent the slow-consumer error and closed, whatever the
    /// policy: a reader that stopped reading is found even when its queue
    /// never reaches the bound.
    pub slow_consumer_timeout: Duration,
    /// How long a client that was sent an error may go without reading
    /// before it is closed; while it reads it may read on to its error
    /// frame, behind what the kernel's buffers already hold.
    pub error_linger: Duration,
    /// Largest MQTT packet accepted, in bytes with its fixed header; a
    /// larger one closes the connection.
    pub max_mqtt_packet_bytes: usize,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        Self {
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            outbound_limit_bytes: DEFAULT_OUTBOUND_LIMIT_BYTES,
            slow_consumer: SlowConsumerPolicy::Disconnect,
            slow_consumer_timeout: DEFAULT_SLOW_CONSUMER_TIMEOUT,
            error_linger: DEFAULT_ERROR_LINGER,
            max_mqtt_packet_bytes: DEFAULT_MAX_MQTT_PACKET_BYTES,
        }
    }
}

/// Counters since the broker started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BrokerStats {
    /// Messages accepted from publishers.
    pub published: u64,
    /// Deliveries queued for subscribers.
    pub delivered: u64,
    /// Deliveries dropped by the drop-oldest policy.
    pub dropped: u64,
    /// Clients disconnected for being slow.
    pub slow_disconnects: u64,
    /// Error frames sent.
    pub errors: u64,
}
