//! What the checker reports: the events the balancer applies to its pool,
//! the per-backend view a stats page shows, and how an agent's words change
//! both. Sans-IO.

use std::time::{Duration, Instant};

use super::agent::{AgentState, AgentWord, relative_weight};
use super::http_check::CheckFailure;

/// A change the balancer applies to its pool. Indexes are positions in the
/// backend list last given to [`HealthChecker::new`](super::HealthChecker::new) or
/// [`HealthChecker::reconfigure`](super::HealthChecker::reconfigure).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthEvent {
    /// The active check passed `rise` times in a row: give it new work again.
    Up(usize),
    /// The active check failed `fall` times in a row: give it no new work.
    Down(usize),
    /// The agent reported a new state.
    AgentState(usize, AgentState),
    /// The agent asked for a new effective weight (0 means no new work).
    Weight(usize, u16),
    /// The agent reported a new load, in percent.
    Load(usize, u8),
    /// The agent set (`Some`) or lifted (`None`) a connection limit.
    MaxConn(usize, Option<u32>),
}

/// The outcome of the last finished active check of a backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRecord {
    /// When it finished.
    pub at: Instant,
    /// How long it took from connect to verdict.
    pub took: Duration,
    /// `None` when it passed, else why it failed.
    pub failure: Option<CheckFailure>,
    /// The HTTP status, when an HTTP check got one.
    pub status: Option<u16>,
}

impl CheckRecord {
    /// The result in HAProxy's `LastChk` words: `L7OK 200 in 1 ms`,
    /// `L4OK in 0 ms`, `L4CON refused`, `L7STS 503 in 2 ms`, `L4TOUT in 1000 ms`.
    pub fn summary(&self) -> String {
        let took = format!("in {} ms", self.took.as_millis());
        match (&self.failure, self.status) {
            (None, Some(status)) => format!("L7OK {status} {took}"),
            (None, None) => format!("L4OK {took}"),
            (Some(CheckFailure::Status(status)), _) => format!("L7STS {status} {took}"),
            (Some(CheckFailure::Connect(why)), _) => format!("L4CON {}", short_reason(why)),
            (Some(CheckFailure::Timeout), _) => format!("L4TOUT {took}"),
            (Some(CheckFailure::Io(why)), _) => format!("SOCKERR {}", short_reason(why)),
            (Some(CheckFailure::Closed), _) => format!("L7RSP closed {took}"),
            (Some(CheckFailure::Invalid), _) => format!("L7RSP malformed {took}"),
        }
    }
}

/// `Connection refused (os error 111)` as `refused`, as HAProxy puts it.
fn short_reason(why: &str) -> String {
    let plain = why.split(" (os error").next().unwrap_or(why);
    match plain {
        "Connection refused" => "refused".to_string(),
        "Connection reset by peer" => "reset".to_string(),
        other => other.to_lowercase(),
    }
}

/// What the agent last asked for about the weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum WeightRequest {
    Percent(u32),
    Absolute(u16),
}

/// The health of one backend, for a stats page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackendHealth {
    /// The active check's verdict; `None` when no active check is configured.
    pub healthy: Option<bool>,
    /// The last finished active check.
    pub last_check: Option<CheckRecord>,
    /// The agent's last reported state.
    pub agent_state: Option<AgentState>,
    /// The effective weight the agent asked for.
    pub agent_weight: Option<u16>,
    /// The load the agent last reported, in percent.
    pub load: Option<u8>,
    /// The connection limit the agent set (`Some(None)`: it lifted the limit).
    pub max_conn: Option<Option<u32>>,
    /// When the agent last answered with a valid line.
    pub last_agent_reply: Option<Instant>,
    /// Why the last agent check was not understood or not heard, if it was not.
    pub agent_error: Option<String>,
}

impl BackendHealth {
    /// False when a check or the agent says the backend should get no new
    /// work: the active check is down, the agent said down, drain or maint,
    /// or it asked for weight 0.
    pub fn takes_new_work(&self) -> bool {
        self.healthy != Some(false)
            && self.agent_state.is_none_or(AgentState::takes_new_work)
            && self.agent_weight != Some(0)
    }
}

/// The weight the agent's last request gives a backend configured with
/// `configured`; `None` while the agent has not asked for one.
pub(super) fn effective_weight(configured: u16, request: Option<WeightRequest>) -> Option<u16> {
    request.map(|request| match request {
        WeightRequest::Percent(p) => relative_weight(configured, p),
        WeightRequest::Absolute(w) => w,
    })
}

/// Applies one understood agent reply to backend `index`: the last word of
/// each kind wins, and only what changed since the last reply becomes an
/// event (the balancer keeps what it was told).
pub(super) fn apply_agent_words(
    index: usize,
    words: &[AgentWord],
    configured_weight: u16,
    weight_request: &mut Option<WeightRequest>,
    view: &mut BackendHealth,
    out: &mut Vec<HealthEvent>,
) {
    let (mut state, mut load, mut max_conn) = (None, None, None);
    for word in words {
        match *word {
            AgentWord::State(s) => state = Some(s),
            AgentWord::WeightPercent(p) => *weight_request = Some(WeightRequest::Percent(p)),
            AgentWord::Weight(w) => *weight_request = Some(WeightRequest::Absolute(w)),
            AgentWord::Load(l) => load = Some(l),
            AgentWord::MaxConn(m) => max_conn = Some(m),
        }
    }
    if let Some(state) = state.filter(|&s| Some(s) != view.agent_state) {
        view.agent_state = Some(state);
        out.push(HealthEvent::AgentState(index, state));
    }
    let weight = effective_weight(configured_weight, *weight_request);
    if let Some(weight) = weight.filter(|&w| Some(w) != view.agent_weight) {
        view.agent_weight = Some(weight);
        out.push(HealthEvent::Weight(index, weight));
    }
    if let Some(load) = load.filter(|&l| Some(l) != view.load) {
        view.load = Some(load);
        out.push(HealthEvent::Load(index, load));
    }
    if let Some(limit) = max_conn.filter(|&m| Some(m) != view.max_conn) {
        view.max_conn = Some(limit);
        out.push(HealthEvent::MaxConn(index, limit));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_results_read_as_haproxy_last_chk() {
        let record = |failure, status| CheckRecord {
            at: Instant::now(),
            took: Duration::from_millis(3),
            failure,
            status,
        };
        let refused = CheckFailure::Connect("Connection refused (os error 111)".into());
        for (check, words) in [
            (record(None, Some(200)), "L7OK 200 in 3 ms"),
            (record(None, None), "L4OK in 3 ms"),
            (record(Some(refused), None), "L4CON refused"),
            (
                record(Some(CheckFailure::Status(503)), Some(503)),
                "L7STS 503 in 3 ms",
            ),
            (record(Some(CheckFailure::Timeout), None), "L4TOUT in 3 ms"),
            (
                record(Some(CheckFailure::Invalid), None),
                "L7RSP malformed in 3 ms",
            ),
        ] {
            assert_eq!(check.summary(), words);
        }
    }

    #[test]
    fn new_work_is_refused_by_any_one_signal() {
        let fine = BackendHealth::default();
        assert!(fine.takes_new_work(), "nothing known: serve");
        for (health, expected) in [
            (
                BackendHealth {
                    healthy: Some(false),
                    ..fine.clone()
                },
                false,
            ),
            (
                BackendHealth {
                    agent_state: Some(AgentState::Maint),
                    ..fine.clone()
                },
                false,
            ),
            (
                BackendHealth {
                    agent_state: Some(AgentState::Down),
                    ..fine.clone()
                },
                false,
            ),
            (
                BackendHealth {
                    agent_weight: Some(0),
                    ..fine.clone()
                },
                false,
            ),
            (
                BackendHealth {
                    healthy: Some(true),
                    agent_state: Some(AgentState::Ready),
                    agent_weight: Some(3),
                    ..fine.clone()
                },
                true,
            ),
        ] {
            assert_eq!(health.takes_new_work(), expected, "{health:?}");
        }
    }

    fn apply(
        words: &[AgentWord],
        request: &mut Option<WeightRequest>,
        view: &mut BackendHealth,
    ) -> Vec<HealthEvent> {
        let mut out = Vec::new();
        apply_agent_words(2, words, 10, request, view, &mut out);
        out
    }

    #[test]
    fn agent_words_become_events_only_when_they_change_something() {
        let (mut request, mut view) = (None, BackendHealth::default());
        let words = [
            AgentWord::State(AgentState::Up),
            AgentWord::WeightPercent(50),
            AgentWord::Load(20),
            AgentWord::MaxConn(Some(5)),
        ];
        assert_eq!(
            apply(&words, &mut request, &mut view),
            vec![
                HealthEvent::AgentState(2, AgentState::Up),
                HealthEvent::Weight(2, 5),
                HealthEvent::Load(2, 20),
                HealthEvent::MaxConn(2, Some(5)),
            ]
        );
        assert_eq!(apply(&words, &mut request, &mut view), vec![]);
        let changed = [AgentWord::Load(21), AgentWord::Weight(5)];
        assert_eq!(
            apply(&changed, &mut request, &mut view),
            vec![HealthEvent::Load(2, 21)],
            "weight:5 is the weight 50% already gave"
        );
    }

    #[test]
    fn the_last_word_of_a_kind_wins() {
        let (mut request, mut view) = (None, BackendHealth::default());
        let words = [
            AgentWord::State(AgentState::Drain),
            AgentWord::WeightPercent(10),
            AgentWord::State(AgentState::Maint),
            AgentWord::Weight(7),
        ];
        assert_eq!(
            apply(&words, &mut request, &mut view),
            vec![
                HealthEvent::AgentState(2, AgentState::Maint),
                HealthEvent::Weight(2, 7)
            ]
        );
    }

    #[test]
    fn a_reply_without_a_word_of_a_kind_keeps_what_was_said_before() {
        let (mut request, mut view) = (None, BackendHealth::default());
        apply(
            &[AgentWord::State(AgentState::Drain), AgentWord::Load(9)],
            &mut request,
            &mut view,
        );
        assert_eq!(apply(&[], &mut request, &mut view), vec![]);
        assert_eq!(view.agent_state, Some(AgentState::Drain));
        assert_eq!(view.load, Some(9));
    }
}
