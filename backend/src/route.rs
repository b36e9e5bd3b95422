//! Which page a request asks for: maps a method and a target to a
//! [`Route`], validating the number in the path.
//!
//! Pure functions only; the work a route implies happens in `pages`.

use crate::limits::{MAX_LEIBNIZ_TERMS, MAX_PI_DIGITS};

/// The request method, as far as this server cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    /// `GET`.
    Get,
    /// `HEAD`: answered like `GET`, without the body.
    Head,
    /// Anything else (answered 405).
    Other(String),
}

impl Method {
    /// The method named `name`.
    pub fn from_name(name: &str) -> Method {
        match name {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            other => Method::Other(other.to_owned()),
        }
    }
}

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `GET /N`: π to `places` decimal places.
    Pi {
        /// Decimal places, at most [`MAX_PI_DIGITS`].
        places: usize,
    },
    /// `GET /leibniz/N`: `terms` Leibniz terms, 1 ms each.
    Leibniz {
        /// Terms to sum, at most [`MAX_LEIBNIZ_TERMS`].
        terms: u64,
    },
    /// `GET /health`.
    Health,
    /// A known page with a bad number; the reason is one line.
    BadRequest(String),
    /// No such page.
    NotFound,
    /// A method other than GET and HEAD.
    MethodNotAllowed,
}

/// Routes a request.
pub fn route(method: &Method, target: &str) -> Route {
    if let Method::Other(_) = method {
        return Route::MethodNotAllowed;
    }
    let path = path_of(target);
    let Some(rest) = path.strip_prefix('/') else {
        return Route::NotFound;
    };
    if rest == "health" {
        return Route::Health;
    }
    if let Some(terms) = rest.strip_prefix("leibniz/") {
        return match parse_bounded(terms, MAX_LEIBNIZ_TERMS, "number of terms") {
            Ok(terms) => Route::Leibniz { terms },
            Err(reason) => Route::BadRequest(reason),
        };
    }
    if rest.is_empty() || rest.contains('/') || rest == "leibniz" {
        return Route::NotFound;
    }
    match parse_bounded(rest, MAX_PI_DIGITS as u64, "precision") {
        Ok(places) => Route::Pi {
            places: places as usize,
        },
        Err(reason) => Route::BadRequest(reason),
    }
}

/// The path of a target: without query or fragment, and without the
/// scheme and authority of an absolute-form target.
fn path_of(target: &str) -> &str {
    let target = match target.split_once("://") {
        Some((_, after_scheme)) => after_scheme
            .find('/')
            .map_or("/", |slash| &after_scheme[slash..]),
        None => target,
    };
    let end = target.find(['?', '#']).unwrap_or(target.len());
    &target[..end]
}

/// A decimal count in `0..=max`, or a one-line reason naming `what`.
fn parse_bounded(text: &str, max: u64, what: &str) -> Result<u64, String> {
    if text.is_empty() {
        return Err(format!("missing {what}: expected a number from 0 to {max}"));
    }
    let digits = text.strip_prefix('-');
    if digits.is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())) {
        return Err(format!("{what} {text} is negative: expected 0 to {max}"));
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{what} {text:?} is not a number"));
    }
    match text.parse::<u64>() {
        Ok(value) if value <= max => Ok(value),
        _ => Err(format!("{what} {text} is over the limit of {max}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(target: &str) -> Route {
        route(&Method::Get, target)
    }

    #[test]
    fn a_number_path_asks_for_pi() {
        assert_eq!(get("/0"), Route::Pi { places: 0 });
        assert_eq!(get("/1000"), Route::Pi { places: 1000 });
        assert_eq!(get("/007"), Route::Pi { places: 7 });
        assert_eq!(
            get("/1000000"),
            Route::Pi {
                places: MAX_PI_DIGITS
            }
        );
    }

    #[test]
    fn query_and_fragment_are_ignored() {
        assert_eq!(get("/12?x=1"), Route::Pi { places: 12 });
        assert_eq!(get("/health#top"), Route::Health);
    }

    #[test]
    fn absolute_form_targets_route_by_their_path() {
        assert_eq!(get("http://example.com/5"), Route::Pi { places: 5 });
        assert_eq!(get("http://example.com"), Route::NotFound);
    }

    #[test]
    fn bad_numbers_are_bad_requests_with_a_one_line_reason() {
        for target in [
            "/abc",
            "/-5",
            "/1000001",
            "/99999999999999999999999999",
            "/1.5",
            "/+3",
            "/leibniz/",
            "/leibniz/x",
            "/leibniz/100001",
            "/leibniz/-1",
        ] {
            match get(target) {
                Route::BadRequest(reason) => {
                    assert!(!reason.contains('\n'), "{reason}");
                    assert!(!reason.is_empty());
                }
                other => panic!("{target}: expected a bad request, got {other:?}"),
            }
        }
    }

    #[test]
    fn reasons_say_what_is_wrong() {
        let Route::BadRequest(reason) = get("/-5") else {
            panic!()
        };
        assert!(reason.contains("negative"), "{reason}");
        let Route::BadRequest(reason) = get("/2000000") else {
            panic!()
        };
        assert!(reason.contains("over the limit"), "{reason}");
        let Route::BadRequest(reason) = get("/pie") else {
            panic!()
        };
        assert!(reason.contains("not a number"), "{reason}");
    }

    #[test]
    fn leibniz_and_health_have_their_own_paths() {
        assert_eq!(get("/leibniz/0"), Route::Leibniz { terms: 0 });
        assert_eq!(
            get("/leibniz/100000"),
            Route::Leibniz {
                terms: MAX_LEIBNIZ_TERMS
            }
        );
        assert_eq!(get("/health"), Route::Health);
        assert_eq!(route(&Method::Head, "/health"), Route::Health);
    }

    #[test]
    fn unknown_paths_are_not_found() {
        for target in ["/", "", "*", "/a/b", "/leibniz", "/health/x", "/1/2"] {
            assert_eq!(get(target), Route::NotFound, "{target}");
        }
    }

    #[test]
    fn other_methods_are_not_allowed_on_any_path() {
        let post = Method::Other("POST".to_string());
        assert_eq!(route(&post, "/5"), Route::MethodNotAllowed);
        assert_eq!(route(&post, "/nowhere"), Route::MethodNotAllowed);
    }
}
