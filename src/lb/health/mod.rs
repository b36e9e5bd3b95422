//! Active health checks and agent checks of the balancer's backends.
//!
//! The balancer's passive check (connect failures, with backoff) lives in the
//! pool; this module adds checks that run whether or not clients come:
//!
//! - an active check (`tcp`: a connect; `http:/PATH`: a `GET` answered 2xx or
//!   3xx) every interval, counted by the rise/fall machine in [`state`];
//! - an agent check, HAProxy's protocol: the backend's agent port sends one
//!   line (`up`, `drain`, `75%`, `maxconn:10`, a bare load `37`, ...) parsed
//!   in [`agent`].
//!
//! [`agent`], [`state`], [`http_check`] and [`config`] are sans-IO. The
//! [`HealthChecker`] is the adapter: it runs inside the balancer's own
//! service on the same reactor, in a token kind and a timer kind of the
//! balancer's numbering ([`HealthLanes`]), and
//! hands back [`HealthEvent`]s that the balancer applies to its pool. It never
//! blocks: every check is a non-blocking connect with a deadline.

pub mod agent;
mod checker;
pub mod config;
pub mod http_check;
mod probe;
mod report;
pub mod state;

#[cfg(test)]
mod tests;

pub use agent::{AgentError, AgentState, AgentWord, parse_agent_reply};
pub use checker::{HealthChecker, HealthLanes};
pub use config::{CheckKind, HealthConfig, HealthConfigError};
pub use http_check::CheckFailure;
pub use report::{BackendHealth, CheckRecord, HealthEvent};
pub use state::CheckState;
