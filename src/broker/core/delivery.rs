//! How the broker core queues bytes for a client and gives up on it:
//! delivery into the client's bounded outbox, the slow consumers cut for a
//! full outbox or for output that stopped draining, and the error frame (or,
//! for MQTT, the bare close) that ends a client.

use std::time::Instant;

use super::{Broker, Client};
use crate::broker::frame::{ErrorCode, Frame, HEADER_BYTES};
use crate::broker::outbox::Pushed;
use crate::broker::tree::ClientId;

impl Broker {
    pub(super) fn deliver(&mut self, id: ClientId, frame: &[u8]) {
        let Some(client) = self.clients.get_mut(id.0) else {
            return;
        };
        if client.closing {
            return;
        }
        match client.outbox.push(frame) {
            Pushed::Queued { dropped } => {
                self.stats.delivered += 1;
                self.stats.dropped += dropped as u64;
                Self::touch(&mut self.touched, client, id);
            }
            Pushed::Overflow => {
                self.stats.slow_disconnects += 1;
                let message = format!(
                    "slow consumer: more than {} bytes waiting",
                    self.config.outbound_limit_bytes
                );
                self.fail(id, ErrorCode::SlowConsumer, &message);
            }
        }
    }

    pub(super) fn queue(&mut self, id: ClientId, frame: &[u8]) {
        self.deliver(id, frame);
    }

    pub(super) fn touch(touched: &mut Vec<ClientId>, client: &mut Client, id: ClientId) {
        if !client.touched {
            client.touched = true;
            touched.push(id);
        }
    }

    /// Sends the slow-consumer error to every client whose pending output
    /// has not been written out to empty since a sweep at least
    /// `slow_consumer_timeout` before `now`. Called periodically by the
    /// adapter; a client is cut between one and one-plus-a-period timeout
    /// after its output stopped draining. Returns how many were cut.
    pub fn cut_stalled(&mut self, now: Instant) -> usize {
        let timeout = self.config.slow_consumer_timeout;
        let mut stalled = Vec::new();
        for (index, client) in &mut self.clients {
            if client.closing || client.outbox.is_empty() {
                client.pending_since = None;
                continue;
            }
            let emptied = client.outbox.times_emptied();
            match client.pending_since {
                Some((mark, since)) if mark == emptied => {
                    if now.saturating_duration_since(since) >= timeout {
                        stalled.push(ClientId(index));
                    }
                }
                _ => client.pending_since = Some((emptied, now)),
            }
        }
        for &id in &stalled {
            self.stats.slow_disconnects += 1;
            let message = format!(
                "slow consumer: pending output not drained for {} ms",
                timeout.as_millis()
            );
            self.fail(id, ErrorCode::SlowConsumer, &message);
        }
        stalled.len()
    }

    /// Queues an error frame after whatever is partly written, drops the
    /// rest, and marks the client closing.
    pub(super) fn fail(&mut self, id: ClientId, code: ErrorCode, message: &str) {
        let Some(client) = self.clients.get_mut(id.0) else {
            return;
        };
        if client.closing {
            return;
        }
        self.stats.errors += 1;
        client.outbox.clear_unstarted();
        if client.mqtt.is_some() {
            // MQTT has no error packet: the answer is the close.
            client.closing = true;
            Self::touch(&mut self.touched, client, id);
            return;
        }
        let mut frame = Vec::with_capacity(HEADER_BYTES + 1 + message.len());
        Frame::Error { code, message }.encode_into(&mut frame);
        client.outbox.push_unbounded(&frame);
        client.closing = true;
        Self::touch(&mut self.touched, client, id);
    }
}
