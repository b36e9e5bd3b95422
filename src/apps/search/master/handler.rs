//! The master's requests, as a handler of the shared blocking server: the
//! two pages, the JSON API and the Server-Sent Events streams.
//!
//! - `POST /api/jobs?k=KEYWORD&k=...[&case=sensitive][&match=substring]`
//!   with the text as the body, or a `multipart/form-data` form (fields
//!   `k`, `case`, `match`, then `file` or `text`; see [`super::form`]):
//!   runs the job while the body streams in and answers the finished job (503 with no usable worker, 413 over
//!   `--max-upload`, 400 for bad keywords, 502 when every worker failed).
//! - `GET /api/jobs`, `GET /api/jobs/ID`: jobs as JSON.
//! - `GET /api/jobs/ID/events`: SSE snapshots of one job until it ends.
//! - `GET /api/events`: SSE snapshots of all jobs and hosts (the pages).
//! - `GET /api/hosts`; `POST /api/hosts?addr=A[&active=true|false]` adds
//!   or changes a host; `DELETE /api/hosts?addr=A` removes it.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use distloop_http::blocking::{BodyError, Handler, Request, Response, StopWatch};
use serde::Serialize;
use serde_json::json;

use super::dispatch::{DispatchSettings, JobError, run_job};
use super::form::FormUpload;
use super::pages::{HOSTS_PAGE, JOBS_PAGE};
use super::state::{JobState, MasterState};
use crate::apps::search::multipart::form_boundary;
use crate::apps::search::query::{first_value, parse_query, values_of};
use crate::apps::search::{Counter, MatchOptions};

/// How often an idle event stream sends a comment, so that proxies and
/// browsers keep it open and a closed one is noticed.
const EVENT_KEEPALIVE: Duration = Duration::from_secs(10);
/// How often an idle event stream checks whether the server is stopping.
const STOP_CHECK_INTERVAL: Duration = Duration::from_millis(500);
/// How long an event stream gathers changes into one snapshot.
const EVENT_COALESCE: Duration = Duration::from_millis(100);

/// Answers the master's requests.
#[derive(Debug)]
pub struct MasterHandler {
    state: Arc<MasterState>,
    settings: DispatchSettings,
}

impl MasterHandler {
    /// A handler over `state`, cutting and sending jobs with `settings`.
    pub fn new(state: Arc<MasterState>, settings: DispatchSettings) -> MasterHandler {
        MasterHandler { state, settings }
    }

    fn start_job(&self, request: &mut Request<'_>) -> Response {
        let mut pairs = parse_query(request.query());
        let boundary = match request.header("content-type").and_then(form_boundary) {
            None => None,
            Some(Ok(boundary)) => Some(boundary),
            Some(Err(error)) => return json_error(400, &error.to_string()).closing(),
        };
        let Some(boundary) = boundary else {
            return self.run_job(&pairs, &mut request.body);
        };
        match FormUpload::start(&mut request.body, &boundary) {
            Ok((mut upload, fields)) => {
                if !upload.has_text() {
                    return json_error(400, "no text: choose a file or paste text");
                }
                pairs.extend(fields);
                self.run_job(&pairs, &mut upload)
            }
            Err(error) => upload_error(&error),
        }
    }

    /// Runs a job over `upload` with the keywords and options in `pairs`.
    fn run_job(&self, pairs: &[(String, String)], upload: &mut dyn Read) -> Response {
        let keywords: Vec<String> = values_of(pairs, "k")
            .flat_map(|k| k.split(','))
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(str::to_owned)
            .collect();
        let options = MatchOptions {
            case_sensitive: first_value(pairs, "case") == Some("sensitive"),
            substring: first_value(pairs, "match") == Some("substring"),
        };
        let counter = match Counter::new(&keywords, options) {
            Ok(counter) => counter,
            Err(error) => return json_error(400, &error.to_string()),
        };
        let workers = self.state.usable_hosts();
        if workers.is_empty() {
            return json_error(503, &JobError::NoWorker.to_string()).closing();
        }
        let id = self.state.start_job(&keywords, Instant::now());
        let outcome = run_job(&self.state, id, &counter, &workers, upload, self.settings);
        self.state
            .update_job(id, Instant::now(), |job| match &outcome {
                Ok(()) => job.state = JobState::Done,
                Err(error) => {
                    job.state = JobState::Failed;
                    job.error = Some(error.to_string());
                }
            });
        let job = self.state.job(id);
        match outcome {
            Ok(()) => json_response(200, &job),
            Err(error @ JobError::TooLarge(_)) => json_error(413, &error.to_string()).closing(),
            Err(JobError::Upload(why)) => json_error(400, &why).closing(),
            Err(error @ JobError::NoWorker) => json_error(503, &error.to_string()),
            Err(error) => json_error(502, &error.to_string()),
        }
    }

    fn hosts(&self, request: &mut Request<'_>) -> Response {
        let method = request.head.method.clone();
        if method == "GET" || method == "HEAD" {
            return json_response(200, &self.state.lock().hosts);
        }
        let pairs = parse_query(request.query());
        let Some(addr) = first_value(&pairs, "addr") else {
            return json_error(400, "addr=HOST:PORT is required");
        };
        let Ok(addr) = addr.parse::<SocketAddr>() else {
            return json_error(
                400,
                &format!("{addr:?} is not an address like 127.0.0.1:4000"),
            );
        };
        match method.as_str() {
            "POST" => {
                let active = match first_value(&pairs, "active") {
                    None => None,
                    Some("true") => Some(true),
                    Some("false") => Some(false),
                    Some(other) => {
                        return json_error(
                            400,
                            &format!("active must be true or false, not {other:?}"),
                        );
                    }
                };
                let added = self.state.add_host(addr);
                if let Some(active) = active {
                    self.state.update_host(addr, |host| host.active = active);
                }
                json_response(if added { 201 } else { 200 }, &self.state.lock().hosts)
            }
            "DELETE" => {
                if self.state.remove_host(addr) {
                    json_response(200, &self.state.lock().hosts)
                } else {
                    json_error(404, &format!("no host {addr}"))
                }
            }
            _ => {
                json_error(405, "use GET, POST or DELETE").with_header("Allow", "GET, POST, DELETE")
            }
        }
    }

    fn job_api(&self, request: &Request<'_>, rest: &str) -> Response {
        let (id, events) = match rest.strip_suffix("/events") {
            Some(id) => (id, true),
            None => (rest, false),
        };
        let Some(job) = id.parse().ok().and_then(|id| self.state.job(id)) else {
            return json_error(404, &format!("no job {id:?}"));
        };
        if !events {
            return json_response(200, &job);
        }
        let state = self.state.clone();
        let stop = request.stop_watch();
        let id = job.id;
        event_stream(stop, state, move |state| {
            let job = state.job(id)?;
            let ended = job.state != JobState::Running;
            Some((serde_json::to_string(&job).ok()?, ended))
        })
    }
}

impl Handler for MasterHandler {
    fn handle(&self, request: &mut Request<'_>) -> Response {
        let path = request.path().to_owned();
        let method = request.head.method.clone();
        let read = method == "GET" || method == "HEAD";
        match path.as_str() {
            "/" if read => Response::html(200, JOBS_PAGE),
            "/hosts" if read => Response::html(200, HOSTS_PAGE),
            "/api/jobs" if method == "POST" => self.start_job(request),
            "/api/jobs" if read => json_response(200, &self.state.lock().jobs),
            "/api/hosts" => self.hosts(request),
            "/api/events" if read => {
                let stop = request.stop_watch();
                event_stream(stop, self.state.clone(), |state| {
                    let registry = state.lock();
                    let snapshot = json!({"jobs": registry.jobs, "hosts": registry.hosts});
                    Some((snapshot.to_string(), false))
                })
            }
            _ => match path.strip_prefix("/api/jobs/") {
                Some(rest) if read => {
                    let rest = rest.to_owned();
                    self.job_api(request, &rest)
                }
                Some(_) => json_error(405, "use GET").with_header("Allow", "GET, HEAD"),
                None => json_error(
                    404,
                    &format!("no such page {path:?}: try /, /hosts or /api/jobs"),
                ),
            },
        }
    }
}

/// A Server-Sent Events response: `snapshot` (JSON, and whether it is the
/// last) sent at once and after every change, until it says last, the
/// client leaves or the server stops.
fn event_stream(
    stop: StopWatch,
    state: Arc<MasterState>,
    snapshot: impl Fn(&MasterState) -> Option<(String, bool)> + Send + 'static,
) -> Response {
    Response::stream(
        200,
        "text/event-stream",
        Box::new(move |out: &mut dyn Write| {
            let mut seen = state.version();
            let mut last_write: Instant;
            loop {
                let Some((json, last)) = snapshot(&state) else {
                    return Ok(());
                };
                write!(out, "data: {json}\n\n")?;
                out.flush()?;
                last_write = Instant::now();
                if last {
                    return Ok(());
                }
                loop {
                    if stop.is_stopping() {
                        return Ok(());
                    }
                    let version = state.wait_for_change(seen, STOP_CHECK_INTERVAL);
                    if version > seen {
                        break;
                    }
                    if last_write.elapsed() >= EVENT_KEEPALIVE {
                        out.write_all(b": keep-alive\n\n")?;
                        out.flush()?;
                        last_write = Instant::now();
                    }
                }
                // Coalesce bursts of changes into one snapshot.
                std::thread::sleep(EVENT_COALESCE);
                seen = state.version();
            }
        }),
    )
    .with_header("Cache-Control", "no-cache")
}

fn json_response<T: Serialize>(status: u16, value: &T) -> Response {
    match serde_json::to_string(value) {
        Ok(json) => Response::json(status, json),
        Err(error) => json_error(500, &format!("cannot encode the answer: {error}")),
    }
}

/// The answer to an upload that failed before its job started.
fn upload_error(error: &std::io::Error) -> Response {
    let status = BodyError::of(error).map_or(400, BodyError::status);
    json_error(status, &format!("the upload failed: {error}")).closing()
}

fn json_error(status: u16, message: &str) -> Response {
    Response::json(status, json!({ "error": message }).to_string())
}
