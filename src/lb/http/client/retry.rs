//! The retry policy: what a backend failure before the response reached
//! the client comes to, as one table of conditions and decisions.
//!
//! | the failure                                                         | decision       |
//! |---------------------------------------------------------------------|----------------|
//! | the connect failed or timed out                                     | `NextBackend`  |
//! | the response body had begun                                         | `CutShort`     |
//! | reused connection, nothing back, no body sent, the request may be retried | `RetryFresh` |
//! | new connection, nothing back, no body sent, not unsafe, not redispatched  | `Redispatch` |
//! | new connection, nothing back (otherwise)                            | `BadGateway`, blamed |
//! | anything else (part of a head back, or reused and not retryable)    | `BadGateway`   |
//!
//! A failed connect goes to another backend, whatever the request. A
//! connection closed before any answer byte sends an idempotent request
//! without a body again on a new connection: once when a reused one closed
//! (keep-alive's race), once when a new one did (the backend failed).

use super::exchange::Retry;

/// What is known when a backend connection fails.
#[derive(Debug, Clone, Copy)]
pub(super) struct Failure {
    /// The connect had finished.
    pub connected: bool,
    /// The connection served an earlier request.
    pub reused: bool,
    /// Some byte of the response arrived.
    pub answered: bool,
    /// The response's head went to the client; its body was on its way.
    pub body_started: bool,
    /// Some byte of the request body was counted out.
    pub body_sent: bool,
    pub retry: Retry,
    /// A new connection failed the request once already.
    pub redispatched: bool,
}

/// What to do about a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Decision {
    /// The backend failed the connect: it sits out its backoff, and the
    /// request goes to another one (the same one when no other is up).
    NextBackend,
    /// The backend may have closed a kept-alive connection just as it was
    /// reused (not its failure): send the request again on a fresh one.
    RetryFresh,
    /// A new connection closed before answering: the backend failed, and
    /// the request goes out once more on a fresh connection.
    Redispatch,
    /// Answer 502 and close; `blame`: count it as the backend's failure.
    BadGateway { blame: bool },
    /// The response had begun: close the client, all it can learn is that
    /// the response was cut short.
    CutShort,
}

/// The table in the module doc.
pub(super) fn decide(failure: &Failure) -> Decision {
    let untouched = !failure.answered && !failure.body_sent;
    match *failure {
        Failure {
            connected: false, ..
        } => Decision::NextBackend,
        Failure {
            body_started: true, ..
        } => Decision::CutShort,
        Failure {
            reused: true,
            retry: Retry::Allowed,
            ..
        } if untouched => Decision::RetryFresh,
        Failure {
            reused: false,
            redispatched: false,
            retry,
            ..
        } if untouched && retry != Retry::Unsafe => Decision::Redispatch,
        Failure {
            reused: false,
            answered: false,
            ..
        } => Decision::BadGateway { blame: true },
        _ => Decision::BadGateway { blame: false },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A GET on a connected new connection that failed before any byte.
    fn untouched_get() -> Failure {
        Failure {
            connected: true,
            reused: false,
            answered: false,
            body_started: false,
            body_sent: false,
            retry: Retry::Allowed,
            redispatched: false,
        }
    }

    #[test]
    fn a_failed_connect_goes_to_the_next_backend_whatever_the_request() {
        for retry in [Retry::Unsafe, Retry::Allowed, Retry::Fresh, Retry::Spent] {
            let failure = Failure {
                connected: false,
                retry,
                ..untouched_get()
            };
            assert_eq!(decide(&failure), Decision::NextBackend, "{retry:?}");
        }
    }

    #[test]
    fn a_failure_after_the_response_body_began_cuts_the_response_short() {
        let failure = Failure {
            answered: true,
            body_started: true,
            ..untouched_get()
        };
        assert_eq!(decide(&failure), Decision::CutShort);
    }

    #[test]
    fn a_reused_connection_closed_before_answering_a_safe_request_is_retried_fresh() {
        let failure = Failure {
            reused: true,
            ..untouched_get()
        };
        assert_eq!(decide(&failure), Decision::RetryFresh);
    }

    #[test]
    fn a_new_connection_closed_before_answering_a_safe_request_is_redispatched_once() {
        assert_eq!(decide(&untouched_get()), Decision::Redispatch);
        let spent = Failure {
            retry: Retry::Spent,
            ..untouched_get()
        };
        assert_eq!(decide(&spent), Decision::Redispatch, "after a fresh retry");
        let again = Failure {
            redispatched: true,
            ..untouched_get()
        };
        assert_eq!(decide(&again), Decision::BadGateway { blame: true });
    }

    #[test]
    fn a_new_connection_failing_an_unsafe_or_started_request_is_the_backends_502() {
        for failure in [
            Failure {
                retry: Retry::Unsafe,
                ..untouched_get()
            },
            Failure {
                body_sent: true,
                ..untouched_get()
            },
        ] {
            assert_eq!(
                decide(&failure),
                Decision::BadGateway { blame: true },
                "{failure:?}"
            );
        }
    }

    #[test]
    fn any_other_failure_is_a_502_not_blamed_on_the_backend() {
        for failure in [
            Failure {
                answered: true,
                ..untouched_get()
            },
            Failure {
                reused: true,
                retry: Retry::Unsafe,
                ..untouched_get()
            },
            Failure {
                reused: true,
                body_sent: true,
                ..untouched_get()
            },
        ] {
            assert_eq!(
                decide(&failure),
                Decision::BadGateway { blame: false },
                "{failure:?}"
            );
        }
    }
}
