//! A worker's line to the rest of the balancer: where it publishes its
//! stats and where operator commands and reloads reach it.

use std::sync::Arc;
use std::sync::mpsc::Receiver;
use std::time::Duration;

use super::admin::{AdminCommand, AdminHub};
use super::stats::Snapshot;

/// How often a worker publishes its stats and does its periodic upkeep.
pub const TICK: Duration = Duration::from_secs(1);

/// One worker's end of the [`AdminHub`].
pub struct WorkerLink {
    id: usize,
    hub: Arc<AdminHub>,
    commands: Receiver<AdminCommand>,
}

impl WorkerLink {
    /// Worker `id`'s link, receiving on `commands` (from [`AdminHub::attach`]).
    pub fn new(id: usize, hub: Arc<AdminHub>, commands: Receiver<AdminCommand>) -> Self {
        Self { id, hub, commands }
    }

    /// Replaces this worker's published stats.
    pub fn publish(&self, snapshot: Snapshot) {
        self.hub.publish(self.id, snapshot);
    }

    /// The next command waiting, if any.
    pub fn next_command(&self) -> Option<AdminCommand> {
        self.commands.try_recv().ok()
    }
}
