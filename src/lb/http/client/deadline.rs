//! When a client connection times out: each state's deadline, read from
//! the configuration (what happens then is the `deadline` event in the
//! transition tables).

use std::time::Instant;

use super::forwarding::Stage;
use super::{ClientConnection, Phase};
use crate::lb::http::settings::{LINGER, Settings};

impl ClientConnection {
    /// When the current state times out.
    pub fn deadline(&self, settings: &Settings) -> Instant {
        let config = &settings.config;
        match &self.phase {
            Phase::ReadingHead => match self.head_started {
                Some(started) => started + config.head_timeout,
                None => self.last_active + config.idle_timeout,
            },
            Phase::Forwarding(exchange) => match &exchange.stage {
                Stage::Queued(ticket) => ticket.since() + config.queue_timeout,
                Stage::Connecting { since, .. } => *since + config.connect_timeout,
                _ => {
                    let last = exchange.last_backend_activity.max(self.last_active);
                    last + config.response_timeout
                }
            },
            Phase::Tunnel(_) => self.last_active + config.idle_timeout,
            Phase::Closing { .. } | Phase::Closed => self.last_active + LINGER,
        }
    }
}
