//! A service that is nothing but a health checker, its own kinds of tokens
//! and timers, and a stop condition: the checker on a real reactor.

use std::time::{Duration, Instant};

use super::super::{HealthChecker, HealthEvent, HealthLanes};
use crate::reactor::{Context, Kind, Lane, Reactor, Readiness, Service, TimerId, Token};

/// A run that has not finished by then failed.
const RUN_BOUND: Duration = Duration::from_secs(10);

/// The harness's sockets: only the checker's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sockets {
    Probe,
}

impl Kind for Sockets {
    const ALL: &'static [Self] = &[Self::Probe];
}

/// The harness's timers: the checker's, and the bound of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timers {
    Check,
    GiveUp,
}

impl Kind for Timers {
    const ALL: &'static [Self] = &[Self::Check, Self::GiveUp];
}

/// Decides after each callback whether the run is over; may act on the checker.
pub(super) type Step =
    Box<dyn FnMut(&mut HealthChecker, &mut Context<'_>, &mut Vec<HealthEvent>) -> bool>;

/// A service that is nothing but a health checker and a stop condition.
struct Harness {
    checker: HealthChecker,
    events: Vec<HealthEvent>,
    step: Step,
    gave_up: bool,
}

impl Harness {
    fn after_callback(&mut self, ctx: &mut Context<'_>) {
        if (self.step)(&mut self.checker, ctx, &mut self.events) {
            ctx.stop();
        }
    }
}

impl Service for Harness {
    fn on_start(&mut self, ctx: &mut Context<'_>) {
        self.checker.start(ctx);
    }

    fn on_ready(&mut self, ctx: &mut Context<'_>, token: Token, readiness: Readiness) {
        assert_eq!(
            Sockets::of_token(token).map(|(kind, _)| kind),
            Some(Sockets::Probe)
        );
        self.checker
            .on_ready(ctx, token, readiness, &mut self.events);
        self.after_callback(ctx);
    }

    fn on_timer(&mut self, ctx: &mut Context<'_>, id: TimerId, payload: u64) {
        match Timers::of_timer(payload) {
            Some((Timers::Check, _)) => self.checker.on_timer(ctx, id, payload, &mut self.events),
            _ => {
                self.gave_up = true;
                ctx.stop();
                return;
            }
        }
        self.after_callback(ctx);
    }

    fn on_shutdown(&mut self, ctx: &mut Context<'_>) {
        self.checker.stop(ctx);
    }

    fn is_drained(&self) -> bool {
        true
    }
}

/// Runs the checker until `step` says done; returns the events and the checker.
pub(super) fn run(
    mut checker: HealthChecker,
    step: Step,
) -> (Vec<HealthEvent>, HealthChecker, bool) {
    checker.use_lanes(HealthLanes {
        tokens: Lane::of(Sockets::Probe),
        timers: Lane::of(Timers::Check),
    });
    let mut reactor = Reactor::new().unwrap();
    reactor.set_timer(Instant::now() + RUN_BOUND, Timers::GiveUp.timer(0));
    let mut harness = Harness {
        checker,
        events: Vec::new(),
        step,
        gave_up: false,
    };
    reactor.run(&mut harness).unwrap();
    (harness.events, harness.checker, harness.gave_up)
}
