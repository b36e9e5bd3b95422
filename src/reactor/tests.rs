//! The loop's turn order, timers, shutdown, deferred tokens and wake-ups,
//! each on a real reactor with a small service.

use super::*;

/// Counts timer firings and stops after the third.
struct Ticker {
    fired: Vec<u64>,
}

impl Service for Ticker {
    fn on_start(&mut self, ctx: &mut Context<'_>) {
        ctx.set_timer_after(Duration::from_millis(1), 10);
    }
    fn on_ready(&mut self, _: &mut Context<'_>, _: Token, _: Readiness) {}
    fn on_timer(&mut self, ctx: &mut Context<'_>, _: TimerId, payload: u64) {
        self.fired.push(payload);
        if self.fired.len() < 3 {
            ctx.set_timer_after(Duration::from_millis(1), payload + 1);
        } else {
            ctx.stop();
        }
    }
    fn on_shutdown(&mut self, _: &mut Context<'_>) {}
    fn is_drained(&self) -> bool {
        true
    }
}

#[test]
fn start_arms_timers_and_the_loop_sleeps_until_them() {
    let mut reactor = Reactor::new().unwrap();
    let mut ticker = Ticker { fired: Vec::new() };
    reactor.run(&mut ticker).unwrap();
    assert_eq!(ticker.fired, vec![10, 11, 12]);
}

struct Drainer {
    in_flight: u32,
    shutdowns: u32,
}

impl Service for Drainer {
    fn on_ready(&mut self, _: &mut Context<'_>, _: Token, _: Readiness) {}
    fn on_timer(&mut self, _: &mut Context<'_>, _: TimerId, _: u64) {
        self.in_flight -= 1;
    }
    fn on_shutdown(&mut self, _: &mut Context<'_>) {
        self.shutdowns += 1;
    }
    fn is_drained(&self) -> bool {
        self.in_flight == 0
    }
}

#[test]
fn shutdown_waits_for_work_in_flight_to_drain() {
    let mut reactor = Reactor::new().unwrap();
    let start = Instant::now();
    reactor.set_timer(start + Duration::from_millis(5), 0);
    reactor.set_timer(start + Duration::from_millis(10), 0);
    let handle = reactor.handle();
    handle.shutdown();
    let mut service = Drainer {
        in_flight: 2,
        shutdowns: 0,
    };
    reactor.run(&mut service).unwrap();
    assert_eq!(service.in_flight, 0, "both in-flight jobs finished first");
    assert_eq!(service.shutdowns, 1);
}

#[test]
fn drain_timeout_bounds_a_shutdown() {
    let mut reactor = Reactor::new().unwrap();
    reactor.set_drain_timeout(Duration::from_millis(5));
    reactor.handle().shutdown();
    let mut service = Drainer {
        in_flight: 1,
        shutdowns: 0,
    };
    reactor.run(&mut service).unwrap();
    assert_eq!(service.in_flight, 1, "left with work still in flight");
}

struct Deferrer {
    calls: u32,
}

impl Service for Deferrer {
    fn on_ready(&mut self, ctx: &mut Context<'_>, token: Token, readiness: Readiness) {
        assert_eq!(readiness, Readiness::default());
        assert_eq!(token, Token(7));
        self.calls += 1;
        if self.calls < 5 {
            ctx.defer(token);
        } else {
            ctx.stop();
        }
    }
    fn on_timer(&mut self, ctx: &mut Context<'_>, _: TimerId, _: u64) {
        ctx.defer(Token(7));
    }
    fn on_shutdown(&mut self, _: &mut Context<'_>) {}
    fn is_drained(&self) -> bool {
        true
    }
}

#[test]
fn deferred_tokens_are_called_again_without_new_readiness() {
    let mut reactor = Reactor::new().unwrap();
    reactor.set_timer(Instant::now(), 0);
    let mut service = Deferrer { calls: 0 };
    reactor.run(&mut service).unwrap();
    assert_eq!(service.calls, 5);
}

/// Records the order of its callbacks: a wake-up defers a token, and an
/// expired timer fires in the same turn.
struct TurnWatcher {
    calls: Vec<&'static str>,
}

impl Service for TurnWatcher {
    fn on_ready(&mut self, ctx: &mut Context<'_>, _: Token, _: Readiness) {
        self.calls.push("deferred");
        ctx.stop();
    }
    fn on_timer(&mut self, _: &mut Context<'_>, _: TimerId, _: u64) {
        self.calls.push("timer");
    }
    fn on_shutdown(&mut self, _: &mut Context<'_>) {}
    fn is_drained(&self) -> bool {
        true
    }
    fn on_wake(&mut self, ctx: &mut Context<'_>) {
        self.calls.push("wake");
        ctx.defer(Token(3));
    }
}

#[test]
fn a_token_deferred_during_a_turn_waits_for_the_next_poll() {
    let mut reactor = Reactor::new().unwrap();
    // Expired before the first poll, so it fires at the end of turn one.
    reactor.set_timer(Instant::now(), 0);
    reactor.handle().wake();
    let mut service = TurnWatcher { calls: Vec::new() };
    reactor.run(&mut service).unwrap();
    assert_eq!(service.calls, ["wake", "timer", "deferred"]);
}

struct Waiter {
    woken: u32,
}

impl Service for Waiter {
    fn on_ready(&mut self, _: &mut Context<'_>, _: Token, _: Readiness) {}
    fn on_timer(&mut self, _: &mut Context<'_>, _: TimerId, _: u64) {}
    fn on_shutdown(&mut self, _: &mut Context<'_>) {}
    fn is_drained(&self) -> bool {
        true
    }
    fn on_wake(&mut self, ctx: &mut Context<'_>) {
        self.woken += 1;
        ctx.stop();
    }
}

#[test]
fn wake_from_another_thread_calls_on_wake() {
    let mut reactor = Reactor::new().unwrap();
    let handle = reactor.handle();
    let waker = std::thread::spawn(move || handle.wake());
    let mut service = Waiter { woken: 0 };
    reactor.run(&mut service).unwrap();
    waker.join().unwrap();
    assert_eq!(service.woken, 1);
}

/// Records whether the wake-up came before the socket that was ready in
/// the same turn.
struct WakeFirst {
    calls: Vec<&'static str>,
}

impl Service for WakeFirst {
    fn on_ready(&mut self, ctx: &mut Context<'_>, _: Token, _: Readiness) {
        self.calls.push("ready");
        ctx.stop();
    }
    fn on_timer(&mut self, _: &mut Context<'_>, _: TimerId, _: u64) {}
    fn on_shutdown(&mut self, _: &mut Context<'_>) {}
    fn is_drained(&self) -> bool {
        true
    }
    fn on_wake(&mut self, _: &mut Context<'_>) {
        self.calls.push("wake");
    }
}

#[test]
fn a_wake_up_is_handled_before_the_sockets_ready_in_the_same_turn() {
    let mut reactor = Reactor::new().unwrap();
    let mut listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    reactor
        .registry()
        .register(&mut listener, Token(7), Interest::READABLE)
        .unwrap();
    // Both are ready before the first poll: a connection waits to be
    // accepted, and a message was posted for the service.
    let _client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    reactor.handle().wake();
    let mut service = WakeFirst { calls: Vec::new() };
    reactor.run(&mut service).unwrap();
    assert_eq!(service.calls, ["wake", "ready"]);
}
