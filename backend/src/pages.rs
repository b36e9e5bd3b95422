//! The work behind each route: π pages, the Leibniz sum, health.
//!
//! Turns a [`Route`] into a [`Response`]. It holds a compute permit while
//! it computes digits, and it neither reads nor writes sockets.

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use crate::compute_permits::ComputePermits;
use crate::limits::LEIBNIZ_SLEEP_PER_TERM;
use crate::pi::pi_digits;
use crate::route::Route;
use distloop_http::blocking::Response;

/// What answering may use besides the route.
#[derive(Clone, Copy)]
pub struct PageContext<'a> {
    /// Bounds concurrent π computations.
    pub permits: &'a ComputePermits,
    /// Set when a stopping server has waited long enough: slow pages give
    /// up and answer 503.
    pub abandoned: &'a AtomicBool,
    /// Stretches a π computation that took the given time (`--slowdown`,
    /// `--delay`). Called while the compute permit is held, so that a slowed
    /// backend also serves fewer requests at once, as a slower machine would.
    pub pace: &'a dyn Fn(std::time::Duration),
}

/// Answers `route`; `wants_text` picks text/plain over HTML for π.
pub fn answer(route: &Route, wants_text: bool, context: PageContext<'_>) -> Response {
    match route {
        Route::Pi { places } => {
            let digits = {
                let _permit = context.permits.acquire();
                let started = std::time::Instant::now();
                let digits = pi_digits(*places);
                (context.pace)(started.elapsed());
                digits
            };
            if wants_text {
                Response::text(200, digits)
            } else {
                Response::html(200, pi_page(*places, &digits))
            }
        }
        Route::Leibniz { terms } => match slow_leibniz(*terms, context.abandoned) {
            Some(value) => Response::text(200, value.to_string()),
            None => Response::error(503, "server is shutting down"),
        },
        Route::Health => Response::text(200, "ok"),
        Route::BadRequest(reason) => Response::error(400, reason),
        Route::NotFound => Response::error(404, "no such page: try /1000, /leibniz/100 or /health"),
        Route::MethodNotAllowed => {
            Response::error(405, "only GET and HEAD are allowed").with_header("Allow", "GET, HEAD")
        }
    }
}

/// The HTML page of `GET /N`.
fn pi_page(places: usize, digits: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html>\n<head><meta charset=\"utf-8\"><title>Pi</title></head>\n\
         <body>\n<h1>Computing Pi with precision {places}</h1>\n\
         <p style=\"word-break: break-all\">{digits}</p>\n</body>\n</html>\n"
    )
}

/// `4 · Σ (-1)^k / (2k + 1)` over the first `terms` terms, sleeping
/// [`LEIBNIZ_SLEEP_PER_TERM`] per term like the original, so that the time
/// a request takes grows with `terms`. `None` when `abandoned` is set.
fn slow_leibniz(terms: u64, abandoned: &AtomicBool) -> Option<f64> {
    let mut sum = 0.0;
    for k in 0..terms {
        if abandoned.load(Ordering::Relaxed) {
            return None;
        }
        sum += leibniz_term(k);
        thread::sleep(LEIBNIZ_SLEEP_PER_TERM);
    }
    Some(4.0 * sum)
}

/// The `k`th Leibniz term, `(-1)^k / (2k + 1)`.
fn leibniz_term(k: u64) -> f64 {
    let magnitude = 1.0 / (2 * k + 1) as f64;
    if k % 2 == 0 { magnitude } else { -magnitude }
}

#[cfg(test)]
mod tests {
    use super::*;
    use distloop_http::blocking::ResponseBody;

    fn context<'a>(permits: &'a ComputePermits, abandoned: &'a AtomicBool) -> PageContext<'a> {
        PageContext {
            permits,
            abandoned,
            pace: &|_| {},
        }
    }

    fn body(response: &Response) -> String {
        match &response.body {
            ResponseBody::Full(bytes) => String::from_utf8(bytes.clone()).unwrap(),
            ResponseBody::Stream(_) => panic!("pages answer whole bodies"),
        }
    }

    #[test]
    fn pi_as_text_is_exactly_the_digits() {
        let (permits, abandoned) = (ComputePermits::new(1), AtomicBool::new(false));
        let response = answer(
            &Route::Pi { places: 5 },
            true,
            context(&permits, &abandoned),
        );
        assert_eq!(response.status, 200);
        assert_eq!(response.content_type, distloop_http::blocking::TEXT_PLAIN);
        assert_eq!(body(&response), "3.14159");
    }

    #[test]
    fn pi_as_html_has_the_title_the_precision_and_the_digits() {
        let (permits, abandoned) = (ComputePermits::new(1), AtomicBool::new(false));
        let response = answer(
            &Route::Pi { places: 10 },
            false,
            context(&permits, &abandoned),
        );
        let page = body(&response);
        assert_eq!(response.content_type, distloop_http::blocking::TEXT_HTML);
        assert!(page.contains("<title>Pi</title>"));
        assert!(page.contains("Computing Pi with precision 10"));
        assert!(page.contains("3.1415926535<"));
        assert_eq!(permits.available(), 1);
    }

    #[test]
    fn leibniz_sums_alternating_terms() {
        let abandoned = AtomicBool::new(false);
        assert_eq!(slow_leibniz(0, &abandoned), Some(0.0));
        assert_eq!(slow_leibniz(1, &abandoned), Some(4.0));
        let three = slow_leibniz(3, &abandoned).unwrap();
        assert!((three - 4.0 * (1.0 - 1.0 / 3.0 + 1.0 / 5.0)).abs() < 1e-12);
    }

    #[test]
    fn abandoned_leibniz_gives_up() {
        let (permits, abandoned) = (ComputePermits::new(1), AtomicBool::new(true));
        let response = answer(
            &Route::Leibniz { terms: 10 },
            true,
            context(&permits, &abandoned),
        );
        assert_eq!(response.status, 503);
    }

    #[test]
    fn errors_map_to_their_statuses() {
        let (permits, abandoned) = (ComputePermits::new(1), AtomicBool::new(false));
        let context = context(&permits, &abandoned);
        assert_eq!(answer(&Route::Health, false, context).status, 200);
        assert_eq!(body(&answer(&Route::Health, false, context)), "ok");
        let bad = answer(&Route::BadRequest("nope".into()), false, context);
        assert_eq!((bad.status, body(&bad)), (400, "nope\n".to_string()));
        assert_eq!(answer(&Route::NotFound, false, context).status, 404);
        let not_allowed = answer(&Route::MethodNotAllowed, false, context);
        assert_eq!(not_allowed.status, 405);
        assert!(
            not_allowed
                .headers
                .contains(&("Allow".to_string(), "GET, HEAD".to_string()))
        );
    }
}
