//! How an incoming connection answers failures and deadlines: a backend
//! that fails (retry, 502, or close), a request to refuse (an error page,
//! then close), and each phase's timeout (408, 504, or a quiet close).

use std::io;
use std::time::Instant;

use super::{Action, Env, Incoming, Phase};
use crate::debug;
use crate::http::error_response;
use crate::lb::http::exchange::{Fault, Response, Retry};
use crate::lb::http::settings::{LINGER, Settings};
use crate::warn;

impl Incoming {
    pub(super) fn fault(&mut self, env: &mut Env<'_>, fault: Fault) -> Action {
        match fault {
            Fault::Client(e) => Action::Close(e),
            Fault::Backend(e) => self.backend_failed(env, &format!("failed: {e}")),
            Fault::Reject(status, detail) => self.reject(env, status, &detail),
        }
    }

    /// The backend connection failed (connect refused or timed out, reset,
    /// closed, or garbage) before the response reached the client: retry
    /// where that is safe, else answer 502 (or close, when the response
    /// already started). The connection is released for closing.
    ///
    /// A failed connect goes to another backend, whatever the request. A
    /// connection closed before any answer byte sends an idempotent request
    /// without a body again on a new connection: once when a reused one
    /// closed (keep-alive's race), once when a new one did (the backend
    /// failed).
    pub fn backend_failed(&mut self, env: &mut Env<'_>, reason: &str) -> Action {
        let Phase::Forwarding(exchange) = &mut self.phase else {
            return Action::Progress;
        };
        let Some(link) = exchange.link.take() else {
            return Action::Progress;
        };
        let close_backend = Action::Release { park: false };
        if !link.connected {
            warn!("backend {} {reason}", link.addr);
            exchange.tried.push(link.pick.backend);
            env.backends.pool().fail(link.pick, env.now);
            return close_backend;
        }
        let unanswered = !exchange.response_started();
        let untouched = unanswered && exchange.request.body_bytes == 0;
        if untouched && link.reused && exchange.retry == Retry::Allowed {
            // The backend may close a kept-alive connection just as we reuse
            // it; an idempotent request without a body is safe to send again.
            exchange.retry = Retry::Fresh;
            env.backends.count_retry(&link.pick, true);
            env.backends.pool().release(link.pick);
            return close_backend;
        }
        if unanswered && !link.reused {
            // A new connection closed (or reset) before any answer byte: the
            // backend failed as surely as if it had refused, and sits out its
            // backoff, so that a retry goes to another backend when one is up
            // (to the same one when no other is up).
            warn!("backend {} {reason}", link.addr);
            let retry = untouched && exchange.retry != Retry::Unsafe && !exchange.redispatched;
            if retry {
                env.backends.count_retry(&link.pick, false);
            }
            env.backends.pool().fail(link.pick, env.now);
            if retry {
                exchange.redispatched = true;
                exchange.retry = Retry::Fresh;
                return close_backend;
            }
        } else {
            env.backends.pool().finish(link.pick, env.now);
        }
        if let Response::Body(_) = exchange.response {
            // The response already started: all the client can learn is that
            // it was cut short.
            return Action::Close(io::Error::other(format!("backend {} {reason}", link.addr)));
        }
        self.answer_error(env.now, 502, &format!("backend {} {reason}", link.addr));
        close_backend
    }

    /// Queues an error response and closes after it, dropping the exchange
    /// in flight: its backend connection, in an unknown state, is closed.
    pub(super) fn reject(&mut self, env: &mut Env<'_>, status: u16, detail: &str) -> Action {
        let action = match self.abandon(env) {
            true => Action::Release { park: false },
            false => Action::Progress,
        };
        self.answer_error(env.now, status, detail);
        action
    }

    pub(super) fn answer_error(&mut self, now: Instant, status: u16, detail: &str) {
        debug!("{status} to {}: {detail}", self.addr);
        self.out
            .queue()
            .extend_from_slice(&error_response(status, detail));
        self.phase = Phase::Closing {
            shut: false,
            drain: true,
        };
        self.last_active = now;
    }

    /// Drops the exchange in flight, if any, finishing its pick. True when
    /// a backend connection was in use (the caller closes it).
    pub fn abandon(&mut self, env: &mut Env<'_>) -> bool {
        self.leave_queue(env);
        match std::mem::replace(&mut self.phase, Phase::ReadingHead) {
            Phase::Forwarding(mut exchange) => match exchange.link.take() {
                Some(link) => {
                    env.backends.pool().finish(link.pick, env.now);
                    true
                }
                None => false,
            },
            Phase::Tunnel { .. } => true,
            other => {
                self.phase = other;
                false
            }
        }
    }

    /// When the current phase times out.
    pub fn deadline(&self, settings: &Settings) -> Instant {
        if let Some(deadline) = self.queue_deadline(settings) {
            return deadline;
        }
        let config = &settings.config;
        match &self.phase {
            Phase::ReadingHead => match self.head_started {
                Some(started) => started + config.head_timeout,
                None => self.last_active + config.idle_timeout,
            },
            Phase::Forwarding(exchange) => match &exchange.link {
                Some(link) if !link.connected => link.connect_started + config.connect_timeout,
                _ => {
                    let last = exchange.last_backend_activity.max(self.last_active);
                    last + config.response_timeout
                }
            },
            Phase::Tunnel { .. } => self.last_active + config.idle_timeout,
            Phase::Closing { .. } => self.last_active + LINGER,
        }
    }

    /// The deadline passed (`buffered`: part of a request head is waiting).
    pub fn on_deadline(&mut self, env: &mut Env<'_>, buffered: bool) -> Action {
        if self.is_waiting() {
            return self.queue_timed_out(env);
        }
        let config = &env.settings.config;
        match &self.phase {
            Phase::ReadingHead if !buffered => Action::Close(io::ErrorKind::TimedOut.into()),
            Phase::ReadingHead => {
                let detail = format!("request head not received within {:?}", config.head_timeout);
                self.reject(env, 408, &detail)
            }
            Phase::Forwarding(exchange) => {
                let link = exchange.link.as_ref();
                if link.is_some_and(|l| !l.connected) {
                    let detail = format!("did not accept within {:?}", config.connect_timeout);
                    return self.backend_failed(env, &detail);
                }
                if exchange.response_started() {
                    return Action::Close(io::ErrorKind::TimedOut.into());
                }
                let who = exchange.backend_name();
                let detail = format!("{who}did not answer within {:?}", config.response_timeout);
                self.reject(env, 504, &detail)
            }
            Phase::Tunnel { .. } | Phase::Closing { .. } => {
                Action::Close(io::ErrorKind::TimedOut.into())
            }
        }
    }
}
