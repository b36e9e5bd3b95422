//! The health checker on the reactor: schedules checks, owns their sockets
//! and timers, and turns results into [`HealthEvent`]s for the balancer.
//!
//! Each backend has up to two check slots: the active health check (when one
//! is configured) and the agent check (when the backend has an agent port).
//! A slot is either waiting for its next turn (a timer) or has a probe in
//! flight (a socket and a deadline timer), never both, so one slot holds at
//! most one timer. Slot `s` uses key `s` in the token and timer [`Lane`]s
//! the balancer hands over ([`HealthLanes`]); a timer is trusted only when
//! its id is the one the slot holds, so a stale timer after a reload is
//! ignored.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::agent::parse_agent_reply;
use super::config::{CheckKind, HealthConfig};
use super::http_check::{CheckFailure, check_request};
use super::probe::{Probe, ProbeEnd, ProbeGoal};
use super::report::{
    BackendHealth, CheckRecord, HealthEvent, WeightRequest, apply_agent_words, effective_weight,
};
use super::state::{CheckState, Transition};
use crate::lb::backend_spec::BackendSpec;
use crate::reactor::{Context, Interest, Kind, Lane, Readiness, TimerId, Token};
use crate::{debug, info, warn};

/// Where the checker's sockets and timers sit in its service's numbering:
/// one kind of the service's tokens and one of its timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthLanes {
    /// The tokens of the probes' sockets, one key per check slot.
    pub tokens: Lane,
    /// The payloads of the checks' timers, one key per check slot.
    pub timers: Lane,
}

/// The checker's one kind of socket and of timer when it runs on a reactor
/// of its own, before a service hands it lanes of its own kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Alone {
    Check,
}

impl Kind for Alone {
    const ALL: &'static [Self] = &[Self::Check];
}

impl Default for HealthLanes {
    fn default() -> Self {
        Self {
            tokens: Lane::of(Alone::Check),
            timers: Lane::of(Alone::Check),
        }
    }
}

const SLOTS_PER_BACKEND: usize = 2;
const HEALTH_SLOT: usize = 0;
const AGENT_SLOT: usize = 1;

#[derive(Debug, Default)]
struct Slot {
    timer: Option<TimerId>,
    probe: Option<Probe>,
    started: Option<Instant>,
}

#[derive(Debug)]
struct Tracked {
    spec: BackendSpec,
    health: Option<CheckState>,
    weight_request: Option<WeightRequest>,
    view: BackendHealth,
    slots: [Slot; SLOTS_PER_BACKEND],
}

impl Tracked {
    fn new(spec: &BackendSpec, config: &HealthConfig) -> Self {
        let health = config
            .check
            .as_ref()
            .map(|_| CheckState::new(config.rise, config.fall));
        Self {
            spec: spec.clone(),
            view: BackendHealth {
                healthy: health.as_ref().map(CheckState::is_up),
                ..BackendHealth::default()
            },
            health,
            weight_request: None,
            slots: Default::default(),
        }
    }

    fn effective_weight(&self) -> Option<u16> {
        effective_weight(self.spec.weight, self.weight_request)
    }
}

/// Active health checks and agent checks of one balancer's backends, run on
/// the balancer's own reactor.
#[derive(Debug)]
pub struct HealthChecker {
    config: HealthConfig,
    backends: Vec<Tracked>,
    stopped: bool,
    lanes: HealthLanes,
}

impl HealthChecker {
    /// A checker for `backends` (in the balancer's order); checks start with
    /// [`HealthChecker::start`].
    pub fn new(config: HealthConfig, backends: &[BackendSpec]) -> Self {
        let backends = backends.iter().map(|s| Tracked::new(s, &config)).collect();
        Self {
            config,
            backends,
            stopped: false,
            lanes: HealthLanes::default(),
        }
    }

    /// Numbers the checker's sockets and timers in `lanes` from now on;
    /// call before [`HealthChecker::start`].
    pub fn use_lanes(&mut self, lanes: HealthLanes) {
        self.lanes = lanes;
    }

    /// True when at least one check will run (else the checker can be left out).
    pub fn has_checks(&self) -> bool {
        self.backends
            .iter()
            .any(|b| self.slot_active(b, HEALTH_SLOT) || self.slot_active(b, AGENT_SLOT))
    }

    /// Arms the first checks, spread over one interval so that they do not
    /// all hit the network in the same turn.
    pub fn start(&mut self, ctx: &mut Context<'_>) {
        self.stopped = false;
        let total = self.backends.len() * SLOTS_PER_BACKEND;
        let now = ctx.now();
        for index in 0..self.backends.len() {
            for kind in [HEALTH_SLOT, AGENT_SLOT] {
                if !self.slot_active(&self.backends[index], kind) {
                    continue;
                }
                let slot = index * SLOTS_PER_BACKEND + kind;
                let offset = self.config.interval.mul_f64(slot as f64 / total as f64);
                self.arm(ctx, slot, now + offset);
            }
        }
    }

    /// Stops every check (on shutdown): sockets closed, timers cancelled.
    pub fn stop(&mut self, ctx: &mut Context<'_>) {
        self.stopped = true;
        for index in 0..self.backends.len() {
            for kind in [HEALTH_SLOT, AGENT_SLOT] {
                self.abort_slot(ctx, index * SLOTS_PER_BACKEND + kind);
            }
        }
    }

    /// A readiness event for one of the checker's tokens.
    pub fn on_ready(
        &mut self,
        ctx: &mut Context<'_>,
        token: Token,
        _readiness: Readiness,
        out: &mut Vec<HealthEvent>,
    ) {
        // The probe asks the socket itself (take_error, read, write), so the
        // readiness flags only say that it is worth asking.
        let Some(slot) = self.lanes.tokens.key_of_token(token) else {
            return;
        };
        let Some(state) = self.slot_mut(slot) else {
            return;
        };
        let Some(probe) = state.probe.as_mut() else {
            return;
        };
        if let Some(end) = probe.drive() {
            self.finish(ctx, slot, end, out);
        }
    }

    /// A timer in the checker's lane: a check is due, or a check in flight
    /// ran out of time.
    pub fn on_timer(
        &mut self,
        ctx: &mut Context<'_>,
        id: TimerId,
        payload: u64,
        out: &mut Vec<HealthEvent>,
    ) {
        let Some(slot) = self.lanes.timers.key_of_timer(payload) else {
            return;
        };
        let Some(state) = self.slot_mut(slot) else {
            return;
        };
        if state.timer != Some(id) {
            return;
        }
        state.timer = None;
        if state.probe.is_some() {
            self.finish(ctx, slot, ProbeEnd::Failed(CheckFailure::Timeout), out);
        } else {
            self.launch(ctx, slot, out);
        }
    }

    /// Takes a reloaded check configuration and backend list. A backend with
    /// the same name and address as before keeps its health and agent state,
    /// and `out` gets that state again under its new index (the pool it
    /// applies to may have been rebuilt from the configuration). Checks in
    /// flight are dropped and every check is scheduled anew, at the new
    /// interval and of the new kind.
    pub fn reconfigure(
        &mut self,
        ctx: &mut Context<'_>,
        config: &HealthConfig,
        backends: &[BackendSpec],
        out: &mut Vec<HealthEvent>,
    ) {
        let was_stopped = self.stopped;
        self.stop(ctx);
        self.config = config.clone();
        let mut old: Vec<Option<Tracked>> = self.backends.drain(..).map(Some).collect();
        for (index, spec) in backends.iter().enumerate() {
            let kept = old
                .iter_mut()
                .find(|t| {
                    t.as_ref()
                        .is_some_and(|t| t.spec.name == spec.name && t.spec.addr == spec.addr)
                })
                .and_then(Option::take);
            let mut tracked = Tracked::new(spec, &self.config);
            if let Some(kept) = kept {
                if tracked.health.is_some() {
                    tracked.health = kept.health.or(tracked.health);
                    if let Some(health) = tracked.health.as_mut() {
                        health.set_thresholds(config.rise, config.fall);
                    }
                }
                tracked.weight_request = kept.weight_request;
                tracked.view = BackendHealth {
                    healthy: tracked.health.as_ref().map(CheckState::is_up),
                    agent_weight: tracked.effective_weight(),
                    ..kept.view
                };
                Self::restate(index, &tracked, out);
            }
            self.backends.push(tracked);
        }
        if !was_stopped {
            self.start(ctx);
        }
    }

    /// The health of backend `index`, for a stats page.
    pub fn status(&self, index: usize) -> Option<&BackendHealth> {
        self.backends.get(index).map(|b| &b.view)
    }

    fn restate(index: usize, tracked: &Tracked, out: &mut Vec<HealthEvent>) {
        let view = &tracked.view;
        if view.healthy == Some(false) {
            out.push(HealthEvent::Down(index));
        }
        if let Some(state) = view.agent_state {
            out.push(HealthEvent::AgentState(index, state));
        }
        if let Some(weight) = view.agent_weight {
            out.push(HealthEvent::Weight(index, weight));
        }
        if let Some(load) = view.load {
            out.push(HealthEvent::Load(index, load));
        }
        if let Some(limit) = view.max_conn {
            out.push(HealthEvent::MaxConn(index, limit));
        }
    }

    fn slot_active(&self, backend: &Tracked, kind: usize) -> bool {
        match kind {
            HEALTH_SLOT => self.config.check.is_some(),
            _ => backend.spec.agent_port.is_some(),
        }
    }

    fn slot_mut(&mut self, slot: usize) -> Option<&mut Slot> {
        self.backends
            .get_mut(slot / SLOTS_PER_BACKEND)
            .map(|b| &mut b.slots[slot % SLOTS_PER_BACKEND])
    }

    fn arm(&mut self, ctx: &mut Context<'_>, slot: usize, at: Instant) {
        let id = ctx.set_timer(at, self.lanes.timers.timer(slot));
        if let Some(state) = self.slot_mut(slot) {
            state.timer = Some(id);
        }
    }

    fn abort_slot(&mut self, ctx: &mut Context<'_>, slot: usize) {
        let Some(state) = self.slot_mut(slot) else {
            return;
        };
        let timer = state.timer.take();
        let probe = state.probe.take();
        state.started = None;
        if let Some(timer) = timer {
            ctx.cancel_timer(timer);
        }
        if let Some(mut probe) = probe {
            let _ = ctx.registry().deregister(&mut probe.stream);
        }
    }

    /// Opens the connection of a due check.
    fn launch(&mut self, ctx: &mut Context<'_>, slot: usize, out: &mut Vec<HealthEvent>) {
        let index = slot / SLOTS_PER_BACKEND;
        let spec = &self.backends[index].spec;
        let (addr, goal): (SocketAddr, ProbeGoal) = if slot % SLOTS_PER_BACKEND == HEALTH_SLOT {
            let goal = match &self.config.check {
                Some(CheckKind::Tcp) => ProbeGoal::Connect,
                Some(CheckKind::Http { path }) => ProbeGoal::Http {
                    request: check_request(path, spec.addr),
                    sent: 0,
                },
                None => return,
            };
            (spec.addr, goal)
        } else {
            match spec.agent_addr() {
                Some(addr) => (addr, ProbeGoal::AgentLine),
                None => return,
            }
        };
        let now = ctx.now();
        let timeout = self.config.timeout;
        let token = self.lanes.tokens.token(slot);
        let deadline_payload = self.lanes.timers.timer(slot);
        let probe = Probe::connect(addr, goal).and_then(|mut probe| {
            ctx.registry()
                .register(
                    &mut probe.stream,
                    token,
                    Interest::READABLE | Interest::WRITABLE,
                )
                .map_err(|e| CheckFailure::Connect(e.to_string()))?;
            Ok(probe)
        });
        let state = self.slot_mut(slot).expect("slot of a known backend");
        state.started = Some(now);
        match probe {
            Ok(probe) => {
                state.probe = Some(probe);
                state.timer = Some(ctx.set_timer(now + timeout, deadline_payload));
            }
            Err(failure) => self.finish(ctx, slot, ProbeEnd::Failed(failure), out),
        }
    }

    /// Closes a finished check, records its result and schedules the next.
    fn finish(
        &mut self,
        ctx: &mut Context<'_>,
        slot: usize,
        end: ProbeEnd,
        out: &mut Vec<HealthEvent>,
    ) {
        let now = ctx.now();
        let started = self.slot_mut(slot).and_then(|s| s.started).unwrap_or(now);
        self.abort_slot(ctx, slot);
        let index = slot / SLOTS_PER_BACKEND;
        if slot % SLOTS_PER_BACKEND == HEALTH_SLOT {
            self.record_check(index, now, now.saturating_duration_since(started), end, out);
        } else {
            self.record_agent(index, now, end, out);
        }
        if !self.stopped {
            self.arm(ctx, slot, now + self.config.interval);
        }
    }

    fn record_check(
        &mut self,
        index: usize,
        now: Instant,
        took: Duration,
        end: ProbeEnd,
        out: &mut Vec<HealthEvent>,
    ) {
        let tracked = &mut self.backends[index];
        let (failure, status) = match end {
            ProbeEnd::Passed(status) => (None, status),
            ProbeEnd::Failed(failure) => {
                let status = match failure {
                    CheckFailure::Status(status) => Some(status),
                    _ => None,
                };
                (Some(failure), status)
            }
            ProbeEnd::AgentReply(_) => unreachable!("an agent reply on the health slot"),
        };
        let Some(health) = tracked.health.as_mut() else {
            return;
        };
        let name = &tracked.spec.name;
        match (health.record(failure.is_none()), &failure) {
            (Some(Transition::Fell), Some(why)) => {
                warn!("backend {name} is down: health check {why}");
                out.push(HealthEvent::Down(index));
            }
            (Some(Transition::Rose), _) => {
                info!("backend {name} is up again: health check passed");
                out.push(HealthEvent::Up(index));
            }
            (_, Some(why)) => debug!("backend {name}: health check {why}"),
            _ => {}
        }
        tracked.view.healthy = Some(health.is_up());
        tracked.view.last_check = Some(CheckRecord {
            at: now,
            took,
            failure,
            status,
        });
    }

    fn record_agent(
        &mut self,
        index: usize,
        now: Instant,
        end: ProbeEnd,
        out: &mut Vec<HealthEvent>,
    ) {
        let tracked = &mut self.backends[index];
        let name = tracked.spec.name.clone();
        let line = match end {
            ProbeEnd::AgentReply(line) => line,
            ProbeEnd::Failed(failure) => {
                // An agent that cannot be heard changes nothing.
                debug!("backend {name}: agent check {failure}");
                tracked.view.agent_error = Some(failure.to_string());
                return;
            }
            ProbeEnd::Passed(_) => unreachable!("a pass on the agent slot"),
        };
        let words = match parse_agent_reply(&line) {
            Ok(words) => words,
            Err(e) => {
                debug!("backend {name}: {e}");
                tracked.view.agent_error = Some(e.to_string());
                return;
            }
        };
        tracked.view.agent_error = None;
        tracked.view.last_agent_reply = Some(now);
        let configured = tracked.spec.weight;
        let before = out.len();
        apply_agent_words(
            index,
            &words,
            configured,
            &mut tracked.weight_request,
            &mut tracked.view,
            out,
        );
        for event in &out[before..] {
            if let HealthEvent::AgentState(_, state) = event {
                info!("backend {name}: agent says {state}");
            }
        }
    }
}
