//! The knobs of one Chord node, with the defaults every limit starts from.
//! Intervals and timeouts are durations of the clock the caller passes in.

use std::time::Duration;

use super::id::Ring;

/// Copies of every key in all, the owner included (the default 3).
pub const DEFAULT_REPLICAS: usize = 3;
/// Length of the successor list (the paper's `r`, about log2 of the ring's size).
pub const DEFAULT_SUCCESSORS: usize = 8;
/// How often a node asks its successor for its predecessor (stabilize).
pub const DEFAULT_STABILIZE_INTERVAL: Duration = Duration::from_millis(500);
/// How often one finger is refreshed (fix_fingers).
pub const DEFAULT_FIX_FINGERS_INTERVAL: Duration = Duration::from_millis(500);
/// How often the predecessor is pinged (check_predecessor).
pub const DEFAULT_CHECK_PREDECESSOR_INTERVAL: Duration = Duration::from_millis(500);
/// How often an owner pushes all its keys to its replicas even when nothing
/// changed, to repair copies lost with a datagram.
pub const DEFAULT_REPLICA_REFRESH_INTERVAL: Duration = Duration::from_secs(5);
/// How long one attempt of a request waits for its answer.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_millis(250);
/// Attempts per request before its peer is taken for dead.
pub const DEFAULT_REQUEST_ATTEMPTS: u32 = 3;
/// Refresh intervals a copy outside a node's own interval is kept without
/// being stored again; owners push to their replicas every interval, so a
/// copy no owner pushes any more is one the right nodes hold without it.
pub const COPY_LEASE_REFRESHES: u32 = 3;
/// Nodes one lookup may query before it gives up (a loop or a broken ring).
pub const MAX_LOOKUP_STEPS: u32 = 128;
/// Alternatives a node offers when it is not the key's predecessor, so that
/// a lookup can route around a dead finger.
pub const CANDIDATES_PER_ANSWER: usize = 3;
/// Bytes of keys and values carried by one message of items (fits a datagram).
pub const MAX_ITEM_BYTES_PER_MESSAGE: usize = 16 * 1024;
/// Largest key accepted, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// Largest value accepted, in bytes.
pub const MAX_VALUE_BYTES: usize = 8 * 1024;

/// How one node behaves.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// The identifier circle.
    pub ring: Ring,
    /// Copies of each key in all: the owner and `replicas - 1` successors.
    pub replicas: usize,
    /// Successors remembered (at least `replicas`).
    pub successors: usize,
    /// Period of stabilize.
    pub stabilize_interval: Duration,
    /// Period of fix_fingers (one finger per period).
    pub fix_fingers_interval: Duration,
    /// Period of check_predecessor.
    pub check_predecessor_interval: Duration,
    /// Period of the unconditional push of owned keys to the replicas.
    pub replica_refresh_interval: Duration,
    /// Wait for one attempt of a request.
    pub request_timeout: Duration,
    /// Attempts of a request before its peer is declared dead.
    pub request_attempts: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            ring: Ring::new(64).expect("64 bits is a valid ring"),
            replicas: DEFAULT_REPLICAS,
            successors: DEFAULT_SUCCESSORS,
            stabilize_interval: DEFAULT_STABILIZE_INTERVAL,
            fix_fingers_interval: DEFAULT_FIX_FINGERS_INTERVAL,
            check_predecessor_interval: DEFAULT_CHECK_PREDECESSOR_INTERVAL,
            replica_refresh_interval: DEFAULT_REPLICA_REFRESH_INTERVAL,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            request_attempts: DEFAULT_REQUEST_ATTEMPTS,
        }
    }
}

impl Config {
    /// How long a node may go without running before it must take itself
    /// for paused: the time after which other nodes give its requests up
    /// and take it for dead (and may have taken puts for its keys).
    pub fn pause_threshold(&self) -> std::time::Duration {
        self.request_timeout * self.request_attempts
    }

    /// How long a copy outside a node's own interval is kept unrefreshed.
    pub fn copy_lease(&self) -> std::time::Duration {
        self.replica_refresh_interval * COPY_LEASE_REFRESHES
    }

    /// The default configuration on a ring of `ring`, keeping `replicas`
    /// copies (the successor list grows to hold them when needed).
    pub fn with(ring: Ring, replicas: usize) -> Self {
        let replicas = replicas.max(1);
        Self {
            ring,
            replicas,
            successors: DEFAULT_SUCCESSORS.max(replicas),
            ..Self::default()
        }
    }
}
