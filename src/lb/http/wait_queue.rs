//! The HTTP proxy's side of the wait queue: letting the oldest waiter in
//! when a slot frees (a request lines up when every backend it may use is
//! at its cap: the adapter does what `Action::Queue` asks).
//!
//! No waiter polls. After each callback the balancer looks whether the
//! oldest waiter that a backend could now serve exists (a finish, a failure,
//! a backend back up or a raised cap made room); if so it defers one
//! wake-up token, and on that token it takes such waiters out one by one,
//! each picking at once, while there is room. Until then a newcomer lines
//! up behind the waiters (see [`crate::lb::backends::Admission`]), so the
//! freed slot is kept for them.

use super::HttpBalancer;
use super::client::Event;
use super::token::Socket;
use crate::lb::queue::Ticket;
use crate::reactor::{Context, Kind};

impl HttpBalancer {
    /// The oldest waiter a backend could serve now.
    fn next_admissible(&self) -> Option<(Ticket, usize)> {
        let clients = &self.clients;
        self.backends
            .next_admissible(|ck| clients.get(ck).map_or(&[], |c| c.connection.tried()))
    }

    /// Defers the queue's wake-up token when a waiter can now be served.
    pub(super) fn wake_queue(&mut self, ctx: &mut Context<'_>) {
        let clients = &self.clients;
        self.backends
            .wake_queue(ctx, Socket::Queue.token(0), &mut self.queue_wake, |ck| {
                clients.get(ck).map_or(&[], |c| c.connection.tried())
            });
    }

    /// Lets waiters in, oldest first, while a backend has room for them.
    pub(super) fn admit_queued(&mut self, ctx: &mut Context<'_>) {
        self.queue_wake = false;
        // Each waiter once at most: one sent back (hashed to a full backend
        // after its own went down) waits for the next wake-up.
        for _ in 0..self.backends.waiting().len() {
            let Some((ticket, ck)) = self.next_admissible() else {
                return;
            };
            self.backends.queue().admit(ticket, ctx.now());
            if !self.clients.contains(ck) {
                continue;
            }
            self.tell(ctx, ck, Event::Admitted);
            self.drive(ctx, ck);
        }
    }
}
