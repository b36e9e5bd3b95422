//! Periodic health checks: every host's `GET /status`, marking it up (with
//! its CPU use and chunks done) or down. New jobs use only hosts that are
//! up; a host that comes back is used again.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use super::state::MasterState;
use crate::apps::search::client::request;
use crate::apps::search::worker::WorkerStatus;

/// Time between two rounds of checks.
pub const HEALTH_CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// How long one check may take.
pub const HEALTH_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Checks hosts until dropped.
#[derive(Debug)]
pub struct HealthChecker {
    stop: Arc<AtomicBool>,
}

impl HealthChecker {
    /// Starts checking the hosts of `state`.
    pub fn start(state: Arc<MasterState>) -> HealthChecker {
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = stop.clone();
        let spawned = thread::Builder::new()
            .name("health-checks".into())
            .spawn(move || {
                while !thread_stop.load(Ordering::Relaxed) {
                    check_all(&state);
                    thread::sleep(HEALTH_CHECK_INTERVAL);
                }
            });
        // Without the thread hosts stay as they are: still usable.
        drop(spawned);
        HealthChecker { stop }
    }
}

impl Drop for HealthChecker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn check_all(state: &MasterState) {
    let hosts: Vec<_> = state.lock().hosts.iter().map(|h| h.addr).collect();
    for addr in hosts {
        let status = request(addr, "GET", "/status", b"", HEALTH_CHECK_TIMEOUT)
            .ok()
            .filter(|answer| answer.status == 200)
            .and_then(|answer| serde_json::from_slice::<WorkerStatus>(&answer.body).ok());
        state.update_host(addr, |host| match status {
            Some(status) => {
                host.up = true;
                host.cpu_percent = status.cpu_percent;
                host.chunks_done = status.chunks_done;
            }
            None => host.up = false,
        });
    }
}
