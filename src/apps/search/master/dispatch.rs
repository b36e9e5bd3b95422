//! Running one job: the upload is read in pieces, cut into chunks by the
//! [`Chunker`] and put on a bounded queue (so the master never holds the
//! file: a full queue stops the reading); each worker has a window of
//! sender threads that take chunks, post them and add the counts. A chunk
//! that fails on a worker (refused, reset, timed out, a bad answer) goes
//! back to the front of the queue for the others, and that worker takes no
//! more chunks of this job; the job ends with exact counts as long as one
//! worker is left, and fails with a clear error when none is.

use std::collections::VecDeque;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use distloop_http::blocking::BodyError;

use super::state::{JobState, MasterState};
use crate::apps::search::client::request;
use crate::apps::search::query::encode_component;
use crate::apps::search::worker::ChunkCounts;
use crate::apps::search::{Chunk, Chunker, Counter};

/// Bytes read from the upload per read.
const UPLOAD_READ_BYTES: usize = 256 * 1024;

/// How a job is cut and sent.
#[derive(Debug, Clone, Copy)]
pub struct DispatchSettings {
    /// Owned bytes per chunk.
    pub chunk_bytes: usize,
    /// Chunks in flight per worker.
    pub window: usize,
    /// How long a worker may take to answer one chunk.
    pub chunk_timeout: Duration,
}

#[derive(Debug, Default)]
struct Queue {
    pending: VecDeque<Chunk>,
    capacity: usize,
    upload_done: bool,
    in_flight: usize,
    senders: usize,
}

impl Queue {
    fn finished(&self) -> bool {
        self.upload_done && self.pending.is_empty() && self.in_flight == 0
    }
    fn stranded(&self) -> bool {
        self.senders == 0 && !self.finished()
    }
}

#[derive(Debug, Default)]
struct ChunkQueue {
    queue: Mutex<Queue>,
    changed: Condvar,
}

impl ChunkQueue {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for room, then queues `chunk`; false if no sender is left.
    fn put(&self, chunk: Chunk) -> bool {
        let mut queue = self.lock();
        while queue.pending.len() >= queue.capacity && queue.senders > 0 {
            queue = self
                .changed
                .wait(queue)
                .unwrap_or_else(PoisonError::into_inner);
        }
        if queue.senders == 0 {
            return false;
        }
        queue.pending.push_back(chunk);
        self.changed.notify_all();
        true
    }

    /// The next chunk to send, or `None` when the job has no more.
    fn take(&self) -> Option<Chunk> {
        let mut queue = self.lock();
        loop {
            if let Some(chunk) = queue.pending.pop_front() {
                queue.in_flight += 1;
                self.changed.notify_all();
                return Some(chunk);
            }
            if queue.upload_done && queue.in_flight == 0 {
                return None;
            }
            queue = self
                .changed
                .wait(queue)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// A chunk was counted.
    fn done(&self) {
        self.lock().in_flight -= 1;
        self.changed.notify_all();
    }

    /// A chunk failed: it goes first to whoever takes next.
    fn give_back(&self, chunk: Chunk) {
        let mut queue = self.lock();
        queue.in_flight -= 1;
        queue.pending.push_front(chunk);
        self.changed.notify_all();
    }

    fn sender_left(&self) {
        self.lock().senders -= 1;
        self.changed.notify_all();
    }

    fn upload_ended(&self) {
        self.lock().upload_done = true;
        self.changed.notify_all();
    }

    /// Waits until every chunk is counted (true) or no sender is left.
    fn wait_finished(&self) -> bool {
        let mut queue = self.lock();
        while !queue.finished() && !queue.stranded() {
            queue = self
                .changed
                .wait(queue)
                .unwrap_or_else(PoisonError::into_inner);
        }
        queue.finished()
    }
}

/// Why a job did not end with counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobError {
    /// No active worker that is up.
    NoWorker,
    /// Every worker failed before the counting ended.
    AllWorkersFailed(String),
    /// Reading the upload failed.
    Upload(String),
    /// The upload is over the limit.
    TooLarge(String),
}

impl std::fmt::Display for JobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JobError::NoWorker => write!(
                f,
                "no active worker: add or activate one on /hosts (or POST /api/hosts)"
            ),
            JobError::AllWorkersFailed(last) => {
                write!(
                    f,
                    "every worker failed before the end; the last error: {last}"
                )
            }
            JobError::Upload(why) => write!(f, "the upload failed: {why}"),
            JobError::TooLarge(why) => write!(f, "the upload is too large: {why}"),
        }
    }
}

impl std::error::Error for JobError {}

/// Runs job `id` over `upload` with `workers`; returns when it ended.
pub fn run_job(
    state: &Arc<MasterState>,
    id: u64,
    counter: &Counter,
    workers: &[SocketAddr],
    upload: &mut dyn Read,
    settings: DispatchSettings,
) -> Result<(), JobError> {
    if workers.is_empty() {
        return Err(JobError::NoWorker);
    }
    let window = settings.window.max(1);
    let queue = Arc::new(ChunkQueue::default());
    {
        let mut q = queue.lock();
        q.capacity = workers.len();
        q.senders = workers.len() * window;
    }
    let target = Arc::new(count_target(counter));
    let last_error = Arc::new(Mutex::new(String::new()));
    let mut threads = Vec::new();
    for &worker in workers {
        let failed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        for _ in 0..window {
            let (state, queue, target, failed, last_error) = (
                state.clone(),
                queue.clone(),
                target.clone(),
                failed.clone(),
                last_error.clone(),
            );
            let timeout = settings.chunk_timeout;
            threads.push(thread::spawn(move || {
                send_chunks(
                    &state,
                    id,
                    worker,
                    &queue,
                    &target,
                    &failed,
                    &last_error,
                    timeout,
                );
                queue.sender_left();
            }));
        }
    }
    let read = read_upload(state, id, counter, upload, settings.chunk_bytes, &queue);
    queue.upload_ended();
    let finished = queue.wait_finished();
    for thread in threads {
        let _ = thread.join();
    }
    read?;
    if finished {
        Ok(())
    } else {
        let last = last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        Err(JobError::AllWorkersFailed(last))
    }
}

fn read_upload(
    state: &MasterState,
    id: u64,
    counter: &Counter,
    upload: &mut dyn Read,
    chunk_bytes: usize,
    queue: &ChunkQueue,
) -> Result<(), JobError> {
    let mut chunker = Chunker::new(chunk_bytes, counter.longest_keyword_chars());
    let mut piece = vec![0u8; UPLOAD_READ_BYTES];
    let mut ready = Vec::new();
    loop {
        let n = upload
            .read(&mut piece)
            .map_err(|e| match BodyError::of(&e) {
                Some(BodyError::TooLarge(_)) => JobError::TooLarge(e.to_string()),
                _ => JobError::Upload(e.to_string()),
            })?;
        if n == 0 {
            break;
        }
        chunker.push(&piece[..n], &mut ready);
        if !queue_chunks(state, id, n as u64, &mut ready, queue) {
            return Ok(());
        }
    }
    chunker.finish(&mut ready);
    queue_chunks(state, id, 0, &mut ready, queue);
    state.update_job(id, Instant::now(), |job| job.upload_done = true);
    Ok(())
}

/// Queues `ready`; false once no sender is left.
fn queue_chunks(
    state: &MasterState,
    id: u64,
    received: u64,
    ready: &mut Vec<Chunk>,
    queue: &ChunkQueue,
) -> bool {
    let cut = ready.len() as u64;
    state.update_job(id, Instant::now(), |job| {
        job.bytes_received += received;
        job.chunks_total += cut;
    });
    ready.drain(..).all(|chunk| queue.put(chunk))
}

/// The `/count` target without the owned range.
fn count_target(counter: &Counter) -> String {
    let mut target = String::from("/count?");
    for keyword in counter.keywords() {
        target.push_str("k=");
        target.push_str(&encode_component(keyword));
        target.push('&');
    }
    let options = counter.options();
    if options.case_sensitive {
        target.push_str("case=sensitive&");
    }
    if options.substring {
        target.push_str("match=substring&");
    }
    target
}

#[allow(clippy::too_many_arguments)]
fn send_chunks(
    state: &MasterState,
    id: u64,
    worker: SocketAddr,
    queue: &ChunkQueue,
    target: &str,
    failed: &std::sync::atomic::AtomicBool,
    last_error: &Mutex<String>,
    timeout: Duration,
) {
    use std::sync::atomic::Ordering;
    while !failed.load(Ordering::SeqCst) {
        let Some(chunk) = queue.take() else {
            return;
        };
        let target = format!("{target}owned={}-{}", chunk.owned.start, chunk.owned.end);
        match post_chunk(worker, &target, &chunk.bytes, timeout) {
            Ok(answer) => {
                let owned = chunk.owned.len() as u64;
                queue.done();
                state.update_job(id, Instant::now(), |job| {
                    job.chunks_done += 1;
                    job.bytes_done += owned;
                    for (total, n) in job.counts.iter_mut().zip(&answer.counts) {
                        *total += n;
                    }
                    let share = job.workers.entry(worker.to_string()).or_default();
                    share.chunks += 1;
                    share.bytes += owned;
                    share.counts.resize(answer.counts.len(), 0);
                    for (total, n) in share.counts.iter_mut().zip(&answer.counts) {
                        *total += n;
                    }
                    if job.upload_done && job.chunks_done == job.chunks_total {
                        job.state = JobState::Done;
                    }
                });
                state.update_host(worker, |host| host.chunks_sent += 1);
            }
            Err(error) => {
                eprintln!(
                    "distloop search master: job {id}: {worker} failed, its chunks go to others: {error}"
                );
                failed.store(true, Ordering::SeqCst);
                queue.give_back(chunk);
                *last_error.lock().unwrap_or_else(PoisonError::into_inner) = error;
                state.update_job(id, Instant::now(), |job| {
                    job.workers
                        .entry(worker.to_string())
                        .or_default()
                        .failed_chunks += 1;
                });
                return;
            }
        }
    }
}

fn post_chunk(
    worker: SocketAddr,
    target: &str,
    body: &[u8],
    timeout: Duration,
) -> Result<ChunkCounts, String> {
    let answer = request(worker, "POST", target, body, timeout).map_err(|e| e.to_string())?;
    if answer.status != 200 {
        return Err(format!(
            "{worker} answered {}: {}",
            answer.status,
            answer.text().trim_end()
        ));
    }
    serde_json::from_slice(&answer.body).map_err(|e| format!("{worker} sent bad counts: {e}"))
}
