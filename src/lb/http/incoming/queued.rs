//! An incoming request while it waits in the queue for a backend under its
//! cap: it reads nothing more from the client (the head is in, the body
//! stays in the client's buffer and socket, so backpressure holds), it
//! gets a 503 when the queue timeout passes, and it leaves the queue when
//! the client closes (as nginx gives up an upstream request whose client
//! left) or the request ends any other way.

use std::io;
use std::time::Instant;

use super::{Action, Env, Incoming, Phase};
use crate::lb::http::peer::{Peer, Stream};
use crate::lb::http::settings::Settings;
use crate::lb::queue::{Place, Ticket};

impl Incoming {
    /// The request now waits with `ticket`.
    pub fn wait_in_queue(&mut self, ticket: Ticket) {
        if let Phase::Forwarding(exchange) = &mut self.phase {
            exchange.place = Place::Waiting(ticket);
        }
    }

    /// The queue let the request in: its next step picks a backend.
    pub fn admitted(&mut self) {
        if let Phase::Forwarding(exchange) = &mut self.phase {
            if let Place::Waiting(ticket) = exchange.place {
                exchange.place = Place::Admitted(ticket);
            }
        }
    }

    /// True while the request waits in the queue.
    pub fn is_waiting(&self) -> bool {
        matches!(&self.phase, Phase::Forwarding(x) if x.place.is_waiting())
    }

    /// The backends the current request failed to connect to.
    pub fn tried(&self) -> &[usize] {
        match &self.phase {
            Phase::Forwarding(exchange) => &exchange.tried,
            _ => &[],
        }
    }

    /// When a waiting request gives up.
    pub(super) fn queue_deadline(&self, settings: &Settings) -> Option<Instant> {
        match &self.phase {
            Phase::Forwarding(exchange) => match exchange.place {
                Place::Waiting(ticket) => Some(ticket.since() + settings.config.queue_timeout),
                _ => None,
            },
            _ => None,
        }
    }

    /// A step while waiting: nothing moves until the queue lets it in,
    /// unless the client closed.
    pub(super) fn while_waiting<C: Stream>(
        &mut self,
        env: &mut Env<'_>,
        client: &Peer<C>,
    ) -> Action {
        if client.read.hup {
            self.abandon(env);
            return Action::Close(io::Error::other("the client left while its request waited"));
        }
        Action::Wait
    }

    /// The queue timeout passed: 503.
    pub(super) fn queue_timed_out(&mut self, env: &mut Env<'_>) -> Action {
        if let Phase::Forwarding(exchange) = &mut self.phase {
            if let Place::Waiting(ticket) = exchange.place {
                let queue = env.backends.queue();
                if queue.time_out(ticket, env.now).is_none() {
                    // A reload shortened or lengthened the timeout meanwhile.
                    queue.leave(ticket);
                }
                exchange.place = Place::Admitted(ticket);
            }
        }
        let waited = env.settings.config.queue_timeout;
        let detail = format!("every backend stayed at its maxconn for {waited:?}");
        self.reject(env, 503, &detail)
    }

    /// Takes a request that ends while waiting out of the queue.
    pub(super) fn leave_queue(&mut self, env: &mut Env<'_>) {
        if let Phase::Forwarding(exchange) = &mut self.phase {
            if let Place::Waiting(ticket) = exchange.place {
                env.backends.queue().leave(ticket);
                exchange.place = Place::Admitted(ticket);
            }
        }
    }
}
