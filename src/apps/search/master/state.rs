//! What the master knows, shared by its threads: the worker hosts (with
//! their health) and the jobs (running and past), plus a version number
//! that grows on every change so that event streams know when to send.
//!
//! Plain data behind one mutex; no sockets here.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde::Serialize;

/// Most jobs remembered (the oldest finished ones are forgotten first).
pub const MAX_JOBS_KEPT: usize = 50;

/// A worker host as the master sees it.
#[derive(Debug, Clone, Serialize)]
pub struct Host {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Whether new jobs may use it.
    pub active: bool,
    /// Whether its last health check answered (true until checked).
    pub up: bool,
    /// Its CPU use at the last check, in percent.
    pub cpu_percent: f64,
    /// Chunks it reported done at the last check.
    pub chunks_done: u64,
    /// Chunks the master counted on it, over all jobs.
    pub chunks_sent: u64,
}

/// One worker's part of a job.
#[derive(Debug, Clone, Serialize, Default)]
pub struct WorkerShare {
    /// Chunks it counted.
    pub chunks: u64,
    /// Bytes of those chunks.
    pub bytes: u64,
    /// Its counts per keyword.
    pub counts: Vec<u64>,
    /// Chunks that failed on it and went to others.
    pub failed_chunks: u64,
}

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Uploading or counting.
    Running,
    /// Every chunk counted: the counts are exact.
    Done,
    /// Stopped; see the error.
    Failed,
}

/// A job as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Job {
    /// Its number.
    pub id: u64,
    /// The keywords, as given.
    pub keywords: Vec<String>,
    /// Where it stands.
    pub state: JobState,
    /// Why it failed.
    pub error: Option<String>,
    /// Bytes of text received so far.
    pub bytes_received: u64,
    /// Chunks cut so far (final once the upload ended).
    pub chunks_total: u64,
    /// Whether the upload ended (then `chunks_total` is final).
    pub upload_done: bool,
    /// Chunks counted.
    pub chunks_done: u64,
    /// Bytes of owned text counted.
    pub bytes_done: u64,
    /// Counts per keyword so far.
    pub counts: Vec<u64>,
    /// Per worker address.
    pub workers: BTreeMap<String, WorkerShare>,
    /// Seconds since the job started (or its whole time once ended).
    pub seconds: f64,
    /// Owned bytes counted per second, in MB (10^6 bytes).
    pub mb_per_second: f64,
    #[serde(skip)]
    started: Option<Instant>,
}

/// Everything behind the lock.
#[derive(Debug, Default)]
pub struct Registry {
    /// The hosts, in the order added.
    pub hosts: Vec<Host>,
    /// The jobs, oldest first.
    pub jobs: Vec<Job>,
    next_job: u64,
}

/// The master's shared state.
#[derive(Debug, Default)]
pub struct MasterState {
    registry: Mutex<Registry>,
    changed: Condvar,
    version: Mutex<u64>,
}

impl MasterState {
    /// A state with `workers` active.
    pub fn new(workers: &[SocketAddr]) -> MasterState {
        let state = MasterState::default();
        for &addr in workers {
            state.add_host(addr);
        }
        state
    }

    /// Reads or changes the registry; a change must call [`Self::touch`].
    pub fn lock(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Marks a change: event streams send a new snapshot.
    pub fn touch(&self) {
        let mut version = self.version.lock().unwrap_or_else(PoisonError::into_inner);
        *version += 1;
        self.changed.notify_all();
    }

    /// The current version.
    pub fn version(&self) -> u64 {
        *self.version.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until the version passes `seen` or `timeout` passes.
    pub fn wait_for_change(&self, seen: u64, timeout: Duration) -> u64 {
        let version = self.version.lock().unwrap_or_else(PoisonError::into_inner);
        let (version, _) = self
            .changed
            .wait_timeout_while(version, timeout, |v| *v <= seen)
            .unwrap_or_else(PoisonError::into_inner);
        *version
    }

    /// Adds a host (active); false if it is already listed.
    pub fn add_host(&self, addr: SocketAddr) -> bool {
        let added = {
            let mut registry = self.lock();
            if registry.hosts.iter().any(|h| h.addr == addr) {
                false
            } else {
                registry.hosts.push(Host {
                    addr,
                    active: true,
                    up: true,
                    cpu_percent: 0.0,
                    chunks_done: 0,
                    chunks_sent: 0,
                });
                true
            }
        };
        self.touch();
        added
    }

    /// Applies `change` to the host at `addr`; false if unknown.
    pub fn update_host(&self, addr: SocketAddr, change: impl FnOnce(&mut Host)) -> bool {
        let found = {
            let mut registry = self.lock();
            registry
                .hosts
                .iter_mut()
                .find(|h| h.addr == addr)
                .map(change)
                .is_some()
        };
        self.touch();
        found
    }

    /// Removes a host; false if unknown.
    pub fn remove_host(&self, addr: SocketAddr) -> bool {
        let removed = {
            let mut registry = self.lock();
            let before = registry.hosts.len();
            registry.hosts.retain(|h| h.addr != addr);
            registry.hosts.len() < before
        };
        self.touch();
        removed
    }

    /// The hosts a new job may use: active and up.
    pub fn usable_hosts(&self) -> Vec<SocketAddr> {
        self.lock()
            .hosts
            .iter()
            .filter(|h| h.active && h.up)
            .map(|h| h.addr)
            .collect()
    }

    /// Starts a job and returns its id.
    pub fn start_job(&self, keywords: &[String], now: Instant) -> u64 {
        let id = {
            let mut registry = self.lock();
            registry.next_job += 1;
            let id = registry.next_job;
            registry.jobs.push(Job {
                id,
                keywords: keywords.to_vec(),
                state: JobState::Running,
                error: None,
                bytes_received: 0,
                chunks_total: 0,
                upload_done: false,
                chunks_done: 0,
                bytes_done: 0,
                counts: vec![0; keywords.len()],
                workers: BTreeMap::new(),
                seconds: 0.0,
                mb_per_second: 0.0,
                started: Some(now),
            });
            while registry.jobs.len() > MAX_JOBS_KEPT {
                match registry
                    .jobs
                    .iter()
                    .position(|j| j.state != JobState::Running)
                {
                    Some(oldest_ended) => {
                        registry.jobs.remove(oldest_ended);
                    }
                    None => break,
                }
            }
            id
        };
        self.touch();
        id
    }

    /// Applies `change` to job `id` and refreshes its timing.
    pub fn update_job(&self, id: u64, now: Instant, change: impl FnOnce(&mut Job)) {
        {
            let mut registry = self.lock();
            if let Some(job) = registry.jobs.iter_mut().find(|j| j.id == id) {
                change(job);
                if let Some(started) = job.started {
                    job.seconds = now.duration_since(started).as_secs_f64();
                    if job.seconds > 0.0 {
                        job.mb_per_second = job.bytes_done as f64 / 1e6 / job.seconds;
                    }
                    if job.state != JobState::Running {
                        job.started = None;
                    }
                }
            }
        }
        self.touch();
    }

    /// A copy of job `id`.
    pub fn job(&self, id: u64) -> Option<Job> {
        self.lock().jobs.iter().find(|j| j.id == id).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn only_active_hosts_that_are_up_are_usable() {
        let state = MasterState::new(&[addr(1), addr(2), addr(3)]);
        assert!(!state.add_host(addr(1)));
        state.update_host(addr(2), |h| h.active = false);
        state.update_host(addr(3), |h| h.up = false);
        assert_eq!(state.usable_hosts(), [addr(1)]);
        assert!(state.remove_host(addr(1)));
        assert!(state.usable_hosts().is_empty());
    }

    #[test]
    fn job_timing_and_rate_follow_the_clock_passed_in() {
        let state = MasterState::new(&[]);
        let t0 = Instant::now();
        let id = state.start_job(&["a".into()], t0);
        state.update_job(id, t0 + Duration::from_secs(2), |job| {
            job.bytes_done = 4_000_000;
            job.state = JobState::Done;
        });
        let job = state.job(id).unwrap();
        assert_eq!(job.seconds, 2.0);
        assert_eq!(job.mb_per_second, 2.0);
        // Once ended, the time no longer grows.
        state.update_job(id, t0 + Duration::from_secs(9), |_| {});
        assert_eq!(state.job(id).unwrap().seconds, 2.0);
    }

    #[test]
    fn changes_wake_waiters() {
        let state = MasterState::new(&[]);
        let seen = state.version();
        state.add_host(addr(9));
        assert!(state.wait_for_change(seen, Duration::from_secs(5)) > seen);
    }
}
