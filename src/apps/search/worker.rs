//! The search worker's requests, as a handler of the shared blocking
//! server:
//!
//! - `POST /count?k=KEYWORD&k=...[&case=sensitive][&match=substring][&owned=START-END]`:
//!   the body is a chunk of raw text; the answer is
//!   `{"counts":[N,...],"bytes":B,"micros":T}`, one count per `k` in
//!   order, of the matches whose first byte lies in `owned` (default: the
//!   whole body).
//! - `POST /jsonrpc`: the original's request `{"params":[{"words":[...],
//!   "keys":"k1, k2"}]}`, answered `{"keys":{"k1":3,...},"timer":SECONDS}`,
//!   each key counted by exact, case-sensitive comparison with each word.
//! - `GET /health`: `ok`.
//! - `GET /status`: `{"cpu_percent":P,"chunks_done":N,"bytes_done":B}`.
//!
//! The counting is [`Counter`]'s; this file only decodes and encodes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use distloop_http::blocking::{BodyError, Handler, Request, Response};
use serde::{Deserialize, Serialize};

use super::cpu::CpuGauge;
use super::query::{first_value, parse_query, values_of};
use super::{Counter, MatchOptions, split_keyword_list};

/// Largest chunk body a worker takes, in bytes.
pub const MAX_CHUNK_BODY_BYTES: u64 = 256 * 1024 * 1024;

/// Chunks and bytes counted since start.
#[derive(Debug, Default)]
pub struct WorkerStats {
    chunks: AtomicU64,
    bytes: AtomicU64,
}

/// The answer to `POST /count`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkCounts {
    /// One count per keyword, in request order.
    pub counts: Vec<u64>,
    /// Bytes of the chunk body.
    pub bytes: u64,
    /// Time spent counting, in microseconds.
    pub micros: u64,
}

/// The answer to `GET /status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerStatus {
    /// The machine's CPU use in percent.
    pub cpu_percent: f64,
    /// Chunks counted since start.
    pub chunks_done: u64,
    /// Bytes counted since start.
    pub bytes_done: u64,
}

#[derive(Debug, Deserialize)]
struct JsonRpcRequest {
    params: Vec<JsonRpcParams>,
}

#[derive(Debug, Deserialize)]
struct JsonRpcParams {
    words: Vec<String>,
    keys: String,
}

#[derive(Debug, Serialize)]
struct JsonRpcAnswer {
    keys: BTreeMap<String, u64>,
    timer: f64,
}

/// Answers a worker's requests.
#[derive(Debug)]
pub struct WorkerHandler {
    stats: WorkerStats,
    cpu: Arc<CpuGauge>,
}

impl WorkerHandler {
    /// A handler reporting CPU use from `cpu`.
    pub fn new(cpu: Arc<CpuGauge>) -> WorkerHandler {
        WorkerHandler {
            stats: WorkerStats::default(),
            cpu,
        }
    }

    fn count(&self, request: &mut Request<'_>) -> Response {
        let pairs = parse_query(request.query());
        let keywords: Vec<String> = values_of(&pairs, "k").map(str::to_owned).collect();
        let options = MatchOptions {
            case_sensitive: first_value(&pairs, "case") == Some("sensitive"),
            substring: first_value(&pairs, "match") == Some("substring"),
        };
        let counter = match Counter::new(&keywords, options) {
            Ok(counter) => counter,
            Err(error) => return Response::error(400, &error.to_string()),
        };
        let body = match request.body.read_all() {
            Ok(body) => body,
            Err(error) => return body_refusal(&error),
        };
        let owned = match first_value(&pairs, "owned") {
            None => 0..body.len(),
            Some(range) => match parse_range(range, body.len()) {
                Some(owned) => owned,
                None => {
                    return Response::error(400, "owned must be START-END within the body");
                }
            },
        };
        let started = Instant::now();
        let counts = counter.count_owned(&body, owned);
        let micros = started.elapsed().as_micros() as u64;
        self.stats.chunks.fetch_add(1, Ordering::Relaxed);
        self.stats
            .bytes
            .fetch_add(body.len() as u64, Ordering::Relaxed);
        let answer = ChunkCounts {
            counts,
            bytes: body.len() as u64,
            micros,
        };
        json_response(&answer)
    }

    fn jsonrpc(&self, request: &mut Request<'_>) -> Response {
        let body = match request.body.read_all() {
            Ok(body) => body,
            Err(error) => return body_refusal(&error),
        };
        let call: JsonRpcRequest = match serde_json::from_slice(&body) {
            Ok(call) => call,
            Err(error) => return Response::error(400, &format!("bad JSON-RPC request: {error}")),
        };
        let Some(params) = call.params.first() else {
            return Response::error(400, "bad JSON-RPC request: params is empty");
        };
        let started = Instant::now();
        let keys = count_exact_tokens(&params.words, &params.keys);
        let answer = JsonRpcAnswer {
            keys,
            timer: started.elapsed().as_secs_f64(),
        };
        self.stats.chunks.fetch_add(1, Ordering::Relaxed);
        self.stats
            .bytes
            .fetch_add(body.len() as u64, Ordering::Relaxed);
        json_response(&answer)
    }

    fn status(&self) -> WorkerStatus {
        WorkerStatus {
            cpu_percent: self.cpu.percent(),
            chunks_done: self.stats.chunks.load(Ordering::Relaxed),
            bytes_done: self.stats.bytes.load(Ordering::Relaxed),
        }
    }
}

impl Handler for WorkerHandler {
    fn handle(&self, request: &mut Request<'_>) -> Response {
        let method = request.head.method.as_str();
        let read = matches!(method, "GET" | "HEAD");
        match (request.path(), method) {
            ("/count", "POST") => self.count(request),
            ("/jsonrpc", "POST") => self.jsonrpc(request),
            ("/health", _) if read => Response::text(200, "ok\n"),
            ("/status", _) if read => json_response(&self.status()),
            ("/count" | "/jsonrpc", _) => {
                Response::error(405, "use POST").with_header("Allow", "POST")
            }
            ("/health" | "/status", _) => {
                Response::error(405, "use GET").with_header("Allow", "GET, HEAD")
            }
            _ => Response::error(
                404,
                "no such page: try POST /count, POST /jsonrpc, /health or /status",
            ),
        }
    }
}

/// The original worker's count: each key (split on commas) compared with
/// each word exactly. A key listed twice is counted once.
pub fn count_exact_tokens(words: &[String], keys: &str) -> BTreeMap<String, u64> {
    let mut counts: BTreeMap<String, u64> = split_keyword_list(keys)
        .into_iter()
        .map(|key| (key, 0))
        .collect();
    for word in words {
        if let Some(count) = counts.get_mut(word.as_str()) {
            *count += 1;
        }
    }
    counts
}

/// `START-END` with `START <= END <= len`.
fn parse_range(text: &str, len: usize) -> Option<std::ops::Range<usize>> {
    let (start, end) = text.split_once('-')?;
    let (start, end) = (start.parse().ok()?, end.parse().ok()?);
    (start <= end && end <= len).then_some(start..end)
}

fn body_refusal(error: &std::io::Error) -> Response {
    let status = BodyError::of(error).map_or(400, BodyError::status);
    Response::error(status, &error.to_string()).closing()
}

fn json_response<T: Serialize>(value: &T) -> Response {
    match serde_json::to_string(value) {
        Ok(json) => Response::json(200, json),
        Err(error) => Response::error(500, &format!("cannot encode the answer: {error}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_original_count_is_exact_and_case_sensitive() {
        let words: Vec<String> = ["the", "The", "the,", "cat", "the"]
            .iter()
            .map(|w| w.to_string())
            .collect();
        let counts = count_exact_tokens(&words, "the, cat ,dog");
        assert_eq!(counts["the"], 2);
        assert_eq!(counts["cat"], 1);
        assert_eq!(counts["dog"], 0);
    }

    #[test]
    fn owned_ranges_must_lie_in_the_body() {
        assert_eq!(parse_range("2-5", 10), Some(2..5));
        assert_eq!(parse_range("5-2", 10), None);
        assert_eq!(parse_range("0-11", 10), None);
        assert_eq!(parse_range("x-1", 10), None);
    }
}
