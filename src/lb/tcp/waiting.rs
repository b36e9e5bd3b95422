//! The TCP proxy's side of the wait queue: a connection that finds every
//! backend it may use at its cap waits (its client's bytes buffered up to
//! the pipe's bound, then left in the socket) until a slot frees, or is
//! closed when the queue timeout passes.
//!
//! The waking works as in HTTP mode (`lb/http/wait_queue.rs`): after each
//! callback the balancer defers one wake-up token when a waiter could now be
//! served, and on it lets waiters in, oldest first, while there is room.
//! The queue timeout rides on the session's connect timer, which a waiting
//! session does not otherwise use.

use super::{Session, Socket, TcpBalancer, Timer};
use crate::debug;
use crate::lb::queue::{Place, Target, Ticket};
use crate::reactor::{Context, Kind};

impl TcpBalancer {
    /// Lines session `key` up for `target`, with a timer for the queue
    /// timeout. True (the session goes on).
    pub(super) fn enqueue(&mut self, ctx: &mut Context<'_>, key: usize, target: Target) -> bool {
        let session = &mut self.sessions[key];
        let earlier = session.place.ticket();
        let ticket = self.backends.queue().join(key, target, ctx.now(), earlier);
        session.place = Place::Waiting(ticket);
        if let Some(timer) = session.connect_timer.take() {
            ctx.cancel_timer(timer);
        }
        let deadline = self.backends.waiting().deadline(ticket);
        session.connect_timer = Some(ctx.set_timer(deadline, Timer::Connect.timer(key)));
        true
    }

    /// The queue timeout of session `key` passed: it is closed.
    pub(super) fn queue_timed_out(&mut self, ctx: &mut Context<'_>, key: usize) {
        let session = &mut self.sessions[key];
        if let Place::Waiting(ticket) = session.place {
            let queue = self.backends.queue();
            if queue.time_out(ticket, ctx.now()).is_none() {
                // A reload changed the timeout meanwhile.
                queue.leave(ticket);
            }
            session.place = Place::Admitted(ticket);
        }
        debug!(
            "connection of {} waited for a backend under its maxconn too long; closing",
            session.client_addr
        );
        self.close(ctx, key);
    }

    fn next_admissible(&self) -> Option<(Ticket, usize)> {
        let sessions = &self.sessions;
        self.backends.next_admissible(|key| {
            sessions
                .get(key)
                .map_or(&[], |s: &Session| s.tried.as_slice())
        })
    }

    /// Defers the queue's wake-up token when a waiter can now be served.
    pub(super) fn wake_queue(&mut self, ctx: &mut Context<'_>) {
        let sessions = &self.sessions;
        self.backends
            .wake_queue(ctx, Socket::Queue.token(0), &mut self.queue_wake, |key| {
                sessions
                    .get(key)
                    .map_or(&[], |s: &Session| s.tried.as_slice())
            });
    }

    /// Lets waiters in, oldest first, while a backend has room for them:
    /// each starts its connect at once.
    pub(super) fn admit_queued(&mut self, ctx: &mut Context<'_>) {
        self.queue_wake = false;
        for _ in 0..self.backends.waiting().len() {
            let Some((ticket, key)) = self.next_admissible() else {
                return;
            };
            self.backends.queue().admit(ticket, ctx.now());
            let Some(session) = self.sessions.get_mut(key) else {
                continue;
            };
            session.place = Place::Admitted(ticket);
            if let Some(timer) = session.connect_timer.take() {
                ctx.cancel_timer(timer);
            }
            if !self.connect_next(ctx, key) {
                self.close(ctx, key);
            }
        }
    }
}
