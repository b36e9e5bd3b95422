//! The backends as one worker sees them: the configured list, the backend set that
//! picks among them, the health and agent checks that change their state,
//! the operator's drain/ready commands, and per-backend traffic counters.
//!
//! Both adapters (TCP and HTTP) hold one of these, so the rules that combine
//! check results, agent words and commands into a backend set state live here once.

use std::net::SocketAddr;
use std::time::{Instant, SystemTime};

mod admission;

pub use self::admission::Admission;

use super::access_log::{AccessLog, Entry};
use super::admin::AdminCommand;
use super::backend_set::{BackendSet, BackendState, Pick};
use super::backend_spec::BackendSpec;
use super::config::LbConfig;
use super::health::{AgentState, HealthChecker, HealthEvent, HealthLanes};
use super::queue::WaitQueue;
use super::stats::{BackendSnapshot, Snapshot, Traffic};
use crate::reactor::{Context, Readiness, TimerId, Token};
use crate::{info, warn};

/// A backend's state as an operator set it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operator {
    /// In rotation when the checks allow (admin `ready`).
    Ready,
    /// No new work; work in flight finishes (admin `drain`).
    Drain,
    /// Out of rotation for maintenance (admin `maint`).
    Maint,
}

/// What one worker knows about its backends.
pub struct Backends {
    specs: Vec<BackendSpec>,
    set: BackendSet,
    traffic: Vec<Traffic>,
    /// What an operator set through the admin port (`drain`, `maint`,
    /// undone by `ready`).
    operator: Vec<Operator>,
    health: HealthChecker,
    events: Vec<HealthEvent>,
    access_log: Option<AccessLog>,
    /// Requests (connections) waiting for a backend under its cap, by the
    /// adapter's key (see [`admission`]).
    queue: WaitQueue<usize>,
    /// Some backend has a connection cap (configured or from its agent).
    capped: bool,
}

impl Backends {
    /// The backends of `config`, with its strategy and health checks.
    pub fn new(config: &LbConfig, access_log: Option<AccessLog>) -> Self {
        let mut set = BackendSet::new(&config.backends, config.strategy);
        set.set_backoff(config.backoff);
        for (i, spec) in config.backends.iter().enumerate() {
            set.set_max_conn(i, spec.max_conn);
        }
        Self {
            capped: config.backends.iter().any(|b| b.max_conn.is_some()),
            queue: WaitQueue::new(config.queue_timeout),
            specs: config.backends.clone(),
            traffic: vec![Traffic::default(); config.backends.len()],
            operator: vec![Operator::Ready; config.backends.len()],
            set,
            health: HealthChecker::new(config.health.clone(), &config.backends),
            events: Vec::new(),
            access_log,
        }
    }

    /// Starts the checks; call from the service's `on_start`.
    pub fn start(&mut self, ctx: &mut Context<'_>) {
        self.health.start(ctx);
    }

    /// Stops the checks, so that a shutdown waits only for client work.
    pub fn stop(&mut self, ctx: &mut Context<'_>) {
        self.health.stop(ctx);
        if let Some(log) = self.access_log.as_mut() {
            log.flush();
        }
    }

    /// The backend set, to pick, finish and fail.
    pub fn backend_set(&mut self) -> &mut BackendSet {
        &mut self.set
    }

    /// Number of backends.
    pub fn len(&self) -> usize {
        self.specs.len()
    }

    /// True when there is no backend.
    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }

    /// Where backend `i` listens.
    pub fn addr(&self, i: usize) -> SocketAddr {
        self.specs[i].addr
    }

    /// Backend `i`'s name.
    pub fn name(&self, i: usize) -> &str {
        &self.specs[i].name
    }

    /// Counts bytes to (`out`) and from (`inbound`) the backend of `pick`.
    pub fn count_bytes(&mut self, pick: &Pick, out: u64, inbound: u64) {
        if let Some(i) = self.set.index_of(pick) {
            self.traffic[i].bytes_out += out;
            self.traffic[i].bytes_in += inbound;
        }
    }

    /// Counts a request sent again after the backend of `pick` closed a
    /// connection (`reused`, or new) before answering.
    pub fn count_retry(&mut self, pick: &Pick, reused: bool) {
        if let Some(i) = self.set.index_of(pick) {
            let retries = &mut self.traffic[i].retries;
            match reused {
                true => retries.reused += 1,
                false => retries.fresh += 1,
            }
        }
    }

    /// Numbers the health and agent checks' sockets and timers in `lanes`
    /// of the service's own kinds; call before [`Backends::start`].
    pub fn use_lanes(&mut self, lanes: HealthLanes) {
        self.health.use_lanes(lanes);
    }

    /// A health or agent check socket is ready.
    pub fn on_check_ready(&mut self, ctx: &mut Context<'_>, token: Token, readiness: Readiness) {
        self.health
            .on_ready(ctx, token, readiness, &mut self.events);
        self.apply_events();
    }

    /// A health or agent check timer fired.
    pub fn on_check_timer(&mut self, ctx: &mut Context<'_>, id: TimerId, payload: u64) {
        self.health.on_timer(ctx, id, payload, &mut self.events);
        self.apply_events();
    }

    fn apply_events(&mut self) {
        for event in std::mem::take(&mut self.events) {
            match event {
                HealthEvent::Weight(i, weight) => self.set.set_weight(i, weight),
                HealthEvent::Load(i, load) => self.set.set_load(i, Some(load)),
                // The agent's cap replaces the configured one; `maxconn:0`
                // goes back to it.
                HealthEvent::MaxConn(i, cap) => {
                    let configured = self.specs.get(i).and_then(|s| s.max_conn);
                    self.set.set_max_conn(i, cap.or(configured));
                    self.capped = (0..self.set.len()).any(|i| self.set.max_conn(i).is_some());
                }
                HealthEvent::Up(i) | HealthEvent::Down(i) | HealthEvent::AgentState(i, _) => {
                    self.refresh_state(i);
                }
            }
        }
    }

    /// Combines the check, the agent and the operator into the backend set's state:
    /// down wins over drain and maintenance, which win over up.
    fn refresh_state(&mut self, i: usize) {
        let status = self.health.status(i).cloned().unwrap_or_default();
        let agent = status.agent_state;
        let state = if status.healthy == Some(false) || agent == Some(AgentState::Down) {
            BackendState::Down
        } else if agent == Some(AgentState::Maint) || self.operator[i] == Operator::Maint {
            BackendState::Maint
        } else if self.operator[i] == Operator::Drain || agent == Some(AgentState::Drain) {
            BackendState::Drain
        } else {
            BackendState::Up
        };
        if self.set.state(i) != state {
            info!("backend {} is now {state}", self.specs[i].name);
            self.set.set_state(i, state);
        }
    }

    /// Applies an operator's drain or ready (a reload goes to [`Backends::reconfigure`]).
    pub fn command(&mut self, command: &AdminCommand) {
        let (name, set) = match command {
            AdminCommand::Drain(name) => (name, Operator::Drain),
            AdminCommand::Maint(name) => (name, Operator::Maint),
            AdminCommand::Ready(name) => (name, Operator::Ready),
            AdminCommand::Reload(_) => return,
        };
        match self.set.find(name) {
            Some(i) => {
                self.operator[i] = set;
                self.refresh_state(i);
            }
            None => warn!("no backend named `{name}`"),
        }
    }

    /// Applies a reloaded configuration: backends matched by name keep their
    /// counters, state and checks.
    pub fn reconfigure(&mut self, ctx: &mut Context<'_>, config: &LbConfig) {
        let moved = self.set.reconfigure(&config.backends);
        self.set.set_strategy(config.strategy);
        self.set.set_backoff(config.backoff);
        self.queue.renumber(&moved);
        self.queue.set_timeout(config.queue_timeout);
        let mut traffic = vec![Traffic::default(); config.backends.len()];
        let mut operator = vec![Operator::Ready; config.backends.len()];
        for (old, new) in moved.iter().enumerate() {
            if let Some(new) = *new {
                traffic[new] = std::mem::take(&mut self.traffic[old]);
                operator[new] = self.operator[old];
            }
        }
        self.traffic = traffic;
        self.operator = operator;
        self.specs = config.backends.clone();
        self.health
            .reconfigure(ctx, &config.health, &config.backends, &mut self.events);
        self.apply_events();
        for i in 0..self.specs.len() {
            self.refresh_state(i);
            let agent = self.health.status(i).and_then(|h| h.max_conn).flatten();
            self.set.set_max_conn(i, agent.or(self.specs[i].max_conn));
        }
        self.capped = (0..self.set.len()).any(|i| self.set.max_conn(i).is_some());
    }

    /// Writes one access log line, if the log is on.
    pub fn log(&mut self, entry: &Entry<'_>) {
        if let Some(log) = self.access_log.as_mut() {
            log.record(entry, SystemTime::now());
        }
    }

    /// True when the access log is on (so that callers skip building entries).
    pub fn logging(&self) -> bool {
        self.access_log.is_some()
    }

    /// Periodic upkeep: hands buffered log lines to the writer.
    pub fn tick(&mut self) {
        if let Some(log) = self.access_log.as_mut() {
            log.flush();
        }
    }

    /// The stats of these backends at `now` (`wall` is the same moment by
    /// the wall clock, to tell when a passive backoff ends).
    pub fn snapshot(
        &self,
        mode: &str,
        clients: u64,
        accepted: u64,
        now: Instant,
        wall: SystemTime,
    ) -> Snapshot {
        let backends = (0..self.specs.len())
            .map(|i| {
                let stats = self.set.stats(i);
                let latency = self.set.latency_histogram(i).clone();
                let health = self.health.status(i).cloned().unwrap_or_default();
                let backoff_left = stats
                    .backoff_until
                    .map(|until| until.saturating_duration_since(now))
                    .filter(|left| !left.is_zero());
                let state = match self.set.state(i) {
                    BackendState::Up if backoff_left.is_some() => super::stats::BACKOFF,
                    other => other.name(),
                };
                BackendSnapshot {
                    name: self.specs[i].name.clone(),
                    address: self.specs[i].addr.to_string(),
                    state: state.to_string(),
                    backoff_until: backoff_left.map(|left| wall + left),
                    state_since: None,
                    last_check: health.last_check.as_ref().map(|check| check.summary()),
                    agent: match (&health.agent_error, health.agent_state) {
                        (Some(why), _) => Some(format!("agent: {why}")),
                        (None, Some(state)) => Some(format!("agent {state}")),
                        (None, None) => None,
                    },
                    consecutive_failures: stats.consecutive_failures,
                    weight: u32::from(self.set.effective_weight(i)),
                    active: u64::from(stats.active),
                    max_active: u64::from(stats.max_active),
                    requests: stats.completed,
                    failures: stats.failures,
                    retries: self.traffic[i].retries,
                    p50_ms: super::stats::to_ms(latency.percentile(0.5)),
                    p99_ms: super::stats::to_ms(latency.percentile(0.99)),
                    bytes_in: self.traffic[i].bytes_in,
                    bytes_out: self.traffic[i].bytes_out,
                    latency,
                }
            })
            .collect();
        Snapshot {
            mode: mode.to_string(),
            strategy: self.set.strategy().name().to_string(),
            workers: 1,
            clients,
            accepted,
            accepted_by_worker: vec![accepted],
            backends,
            queue: {
                let mut queue = self.queue.stats();
                queue.settle();
                queue
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::lb::{Mode, Strategy};

    fn two_backends() -> Backends {
        let specs = vec![
            "127.0.0.1:1,name=a".parse().unwrap(),
            "127.0.0.1:2,name=b".parse().unwrap(),
        ];
        let mut config = LbConfig::new(
            "127.0.0.1:0".parse().unwrap(),
            specs,
            Strategy::NToOne,
            Mode::Http,
        );
        config.backoff = Duration::from_secs(2);
        Backends::new(&config, None)
    }

    #[test]
    fn a_backend_in_passive_backoff_is_shown_so_until_it_ends() {
        let mut backends = two_backends();
        let (start, wall) = (Instant::now(), SystemTime::UNIX_EPOCH);
        let pick = backends.backend_set().pick(start, &[], 0).unwrap();
        assert_eq!(pick.backend, 0);
        backends.backend_set().fail(pick, start);

        let later = start + Duration::from_millis(500);
        let shown = backends.snapshot("http", 0, 0, later, wall);
        let a = &shown.backends[0];
        assert_eq!(a.state, "backoff");
        assert_eq!(a.consecutive_failures, 1);
        assert_eq!(
            a.backoff_until,
            Some(wall + Duration::from_millis(1500)),
            "two seconds after the failure"
        );
        assert_eq!(shown.backends[1].state, "up");
        assert_eq!(shown.backends[1].backoff_until, None);

        let ended = backends.snapshot("http", 0, 0, start + Duration::from_secs(2), wall);
        assert_eq!(ended.backends[0].state, "up");
        assert_eq!(ended.backends[0].backoff_until, None);
        assert_eq!(ended.backends[0].consecutive_failures, 1);
    }

    #[test]
    fn a_drained_backend_in_backoff_stays_drained() {
        let mut backends = two_backends();
        let now = Instant::now();
        let pick = backends.backend_set().pick(now, &[], 0).unwrap();
        backends.backend_set().fail(pick, now);
        backends.command(&AdminCommand::Drain("a".into()));
        let shown = backends.snapshot("http", 0, 0, now, SystemTime::UNIX_EPOCH);
        assert_eq!(shown.backends[0].state, "drain");
        assert!(shown.backends[0].backoff_until.is_some());
    }
}
