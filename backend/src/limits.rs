//! Every limit of the Pi backend, with its unit, in one place.
//!
//! Nothing here decides behaviour; the modules that enforce a limit import
//! it from here so that a reader finds them all together.

use std::time::Duration;

/// The most decimal places `GET /N` computes.
pub const MAX_PI_DIGITS: usize = 1_000_000;

/// The most terms `GET /leibniz/N` sums (each one sleeps 1 ms).
pub const MAX_LEIBNIZ_TERMS: u64 = 100_000;

/// How long `GET /leibniz/N` sleeps per term, like the original.
pub const LEIBNIZ_SLEEP_PER_TERM: Duration = Duration::from_millis(1);

/// The largest request head (request line and headers) in bytes; beyond it
/// the answer is 431.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

/// The most header fields in one request; beyond it the answer is 431.
pub const MAX_HEADERS: usize = 64;

/// The largest request body, in bytes, read and discarded; beyond it the
/// answer is 413 and the connection closes.
pub const MAX_BODY_BYTES: u64 = 1024 * 1024;

/// The most connections served at once; the next one gets 503 and is closed.
pub const MAX_CONNECTIONS: usize = 4096;

/// How long a kept-alive connection may wait for its next request.
pub const KEEP_ALIVE_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a client may take to send a whole request head (and body) once
/// it has started one.
pub const REQUEST_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long one write to a client may block before the connection is
/// dropped.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a stopping server waits for in-flight requests before it
/// closes the remaining connections and returns.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// After an error answer, how long the server keeps reading (and dropping)
/// what the client still sends before it closes.
pub const LINGER_TIMEOUT: Duration = Duration::from_secs(2);

/// After an error answer, the most bytes read and dropped before closing.
pub const LINGER_MAX_BYTES: usize = 256 * 1024;
