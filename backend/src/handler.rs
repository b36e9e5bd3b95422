//! The backend's answer to one request, as the shared blocking server's
//! [`Handler`]: refuses chunked bodies (411), routes, computes the page and
//! paces it (`--slowdown`, `--delay`). Reads no socket itself; the server
//! owns connections, limits and the stop.

use std::cell::Cell;
use std::thread;
use std::time::{Duration, Instant};

use distloop_http::BodyFraming;
use distloop_http::blocking::{Handler, Request, Response};

use crate::compute_permits::ComputePermits;
use crate::pages::{PageContext, answer};
use crate::route::{Method, route};

/// What every request of one backend shares.
#[derive(Debug)]
pub(crate) struct PiHandler {
    /// See [`crate::Config::slowdown`].
    pub slowdown: f64,
    /// See [`crate::Config::delay`].
    pub delay: Duration,
    /// Bounds concurrent π computations.
    pub permits: ComputePermits,
}

impl Handler for PiHandler {
    fn handle(&self, request: &mut Request<'_>) -> Response {
        if request.head.framing == BodyFraming::Chunked {
            return Response::error(411, "chunked request bodies are not supported").closing();
        }
        let wants_text = request
            .head
            .headers
            .get_all("accept")
            .any(|value| String::from_utf8_lossy(value).contains("text/plain"));
        let started = Instant::now();
        let paced = Cell::new(false);
        let pace_computation = |took: Duration| {
            self.pace(took);
            paced.set(true);
        };
        let context = PageContext {
            permits: &self.permits,
            abandoned: request.abandoned(),
            pace: &pace_computation,
        };
        let method = Method::from_name(&request.head.method);
        let response = answer(&route(&method, &request.head.target), wants_text, context);
        if !paced.get() {
            self.pace(started.elapsed());
        }
        response
    }
}

impl PiHandler {
    /// Sleeps so that a request that took `service_time` takes `slowdown`
    /// times as long, plus the fixed delay.
    fn pace(&self, service_time: Duration) {
        let extra = extra_time(service_time, self.slowdown, self.delay);
        if !extra.is_zero() {
            thread::sleep(extra);
        }
    }
}

/// The time to add to a request that took `service_time`: `(slowdown − 1)`
/// times it, plus `delay`. `slowdown` is at least 1 (the config checks it).
fn extra_time(service_time: Duration, slowdown: f64, delay: Duration) -> Duration {
    service_time.mul_f64(slowdown - 1.0) + delay
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_slowdown_and_no_delay_add_nothing() {
        assert_eq!(
            extra_time(Duration::from_millis(70), 1.0, Duration::ZERO),
            Duration::ZERO
        );
    }

    #[test]
    fn slowdown_stretches_the_service_time_and_delay_adds_to_it() {
        let ms = Duration::from_millis;
        assert_eq!(extra_time(ms(100), 3.0, Duration::ZERO), ms(200));
        assert_eq!(extra_time(ms(100), 1.5, ms(20)), ms(70));
        assert_eq!(extra_time(Duration::ZERO, 4.0, ms(5)), ms(5));
    }
}
