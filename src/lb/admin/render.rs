//! The stats in three forms: JSON, Prometheus text, and an HTML page.

use std::fmt::Write;

use std::time::UNIX_EPOCH;

use crate::lb::stats::{BACKOFF, Snapshot, rfc3339};

/// `GET /stats`: the snapshot as JSON.
pub fn json(snapshot: &Snapshot) -> String {
    serde_json::to_string_pretty(snapshot).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// `GET /metrics`: Prometheus text exposition format, names prefixed `distloop_`.
pub fn prometheus(snapshot: &Snapshot) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP distloop_workers Event-loop workers serving clients."
    );
    let _ = writeln!(out, "# TYPE distloop_workers gauge");
    let _ = writeln!(out, "distloop_workers {}", snapshot.workers);
    let _ = writeln!(out, "# HELP distloop_clients Client connections open.");
    let _ = writeln!(out, "# TYPE distloop_clients gauge");
    let _ = writeln!(out, "distloop_clients {}", snapshot.clients);
    let _ = writeln!(
        out,
        "# HELP distloop_accepted_total Client connections accepted."
    );
    let _ = writeln!(out, "# TYPE distloop_accepted_total counter");
    let _ = writeln!(out, "distloop_accepted_total {}", snapshot.accepted);
    type Field = fn(&crate::lb::stats::BackendSnapshot) -> f64;
    let families: [(&str, &str, &str, Field); 11] = [
        (
            "backend_up",
            "gauge",
            "1 when the backend takes new work (up, and not in a passive backoff).",
            |b| f64::from(u8::from(b.state == "up")),
        ),
        (
            "backend_backoff_until_timestamp_seconds",
            "gauge",
            "When the passive backoff after failed connects ends (Unix time; 0 when none).",
            |b| {
                b.backoff_until
                    .and_then(|until| until.duration_since(UNIX_EPOCH).ok())
                    .map_or(0.0, |since| since.as_secs_f64())
            },
        ),
        (
            "backend_consecutive_failures",
            "gauge",
            "Failed connects (and new connections closed before answering) since the last success.",
            |b| f64::from(b.consecutive_failures),
        ),
        ("backend_weight", "gauge", "Weight in effect.", |b| {
            f64::from(b.weight)
        }),
        (
            "backend_active",
            "gauge",
            "Connections or requests in flight.",
            |b| b.active as f64,
        ),
        (
            "backend_requests_total",
            "counter",
            "Requests (connections in TCP mode) finished.",
            |b| b.requests as f64,
        ),
        (
            "backend_failures_total",
            "counter",
            "Failed connects, and new connections closed before answering.",
            |b| b.failures as f64,
        ),
        (
            "backend_bytes_in_total",
            "counter",
            "Bytes received from the backend.",
            |b| b.bytes_in as f64,
        ),
        (
            "backend_bytes_out_total",
            "counter",
            "Bytes sent to the backend.",
            |b| b.bytes_out as f64,
        ),
        (
            "backend_latency_p50_seconds",
            "gauge",
            "Median duration from pick to end.",
            |b| b.p50_ms.unwrap_or(0.0) / 1000.0,
        ),
        (
            "backend_latency_p99_seconds",
            "gauge",
            "99th percentile duration from pick to end.",
            |b| b.p99_ms.unwrap_or(0.0) / 1000.0,
        ),
    ];
    for (name, kind, help, field) in families {
        let _ = writeln!(out, "# HELP distloop_{name} {help}");
        let _ = writeln!(out, "# TYPE distloop_{name} {kind}");
        for b in &snapshot.backends {
            let _ = writeln!(
                out,
                "distloop_{name}{{backend=\"{}\",address=\"{}\"}} {}",
                label(&b.name),
                label(&b.address),
                field(b)
            );
        }
    }
    retries(&mut out, snapshot);
    super::queue::prometheus(&mut out, &snapshot.queue);
    out
}

/// The retries family, one line per backend and kind of connection that
/// closed before answering.
fn retries(out: &mut String, snapshot: &Snapshot) {
    let name = "distloop_backend_retries_total";
    let _ = writeln!(
        out,
        "# HELP {name} Requests sent again after the backend closed a connection before \
         answering (connection=reused: a kept-alive one, keep-alive's race; new: the backend failed)."
    );
    let _ = writeln!(out, "# TYPE {name} counter");
    for b in &snapshot.backends {
        for (connection, count) in [("reused", b.retries.reused), ("new", b.retries.fresh)] {
            let _ = writeln!(
                out,
                "{name}{{backend=\"{}\",address=\"{}\",connection=\"{connection}\"}} {count}",
                label(&b.name),
                label(&b.address),
            );
        }
    }
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn ms(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_string(), |v| format!("{v:.2}"))
}

/// The stats page's script: polls `/stats` and redraws the table in place
/// (no reload), works out each backend's request rate from two polls, and
/// sends the drain, ready and maintenance commands.
const PAGE_SCRIPT: &str = include_str!("page.js");
/// The stats page's style: compact rows, so that fifty backends fit a screen.
const PAGE_STYLE: &str = include_str!("page.css");

/// `GET /`: the live stats page: the table as of now, redrawn every
/// [`PAGE_REFRESH_MS`] from `/stats`.
pub fn html(snapshot: &Snapshot) -> String {
    let now = std::time::SystemTime::now();
    let mut rows = String::new();
    for b in &snapshot.backends {
        let state = match (b.backoff_until, b.state.as_str()) {
            (Some(until), BACKOFF) => format!("backoff until {}", rfc3339(until)),
            (Some(until), other) => format!("{other}, backoff until {}", rfc3339(until)),
            (None, other) => other.to_string(),
        };
        let since = b
            .state_since
            .and_then(|since| now.duration_since(since).ok())
            .map_or_else(|| "-".to_string(), |d| format!("{}s", d.as_secs()));
        let name = escape_html(&b.name);
        let _ = writeln!(
            rows,
            "<tr data-backend=\"{name}\" class=\"{}\"><td class=\"name\">{name}</td><td>{}</td>\
             <td class=\"state\">{}</td><td class=\"since\">{since}</td><td class=\"check\">{}</td>\
             <td class=\"agent\">{}</td><td>{}</td><td class=\"active\">{}</td><td class=\"max\">{}</td>\
             <td class=\"rate\">-</td><td class=\"requests\">{}</td><td>{}</td>\
             <td class=\"retries\" title=\"{} on reused connections, {} on new ones\">{}</td>\
             <td>{}</td><td>{}</td><td class=\"actions\"></td></tr>",
            escape_html(&b.state),
            escape_html(&b.address),
            escape_html(&state),
            escape_html(b.last_check.as_deref().unwrap_or("-")),
            escape_html(b.agent.as_deref().unwrap_or("-")),
            b.weight,
            b.active,
            b.max_active,
            b.requests,
            b.failures,
            b.retries.reused,
            b.retries.fresh,
            b.retries.total(),
            ms(b.p50_ms),
            ms(b.p99_ms),
        );
    }
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>distloop stats</title>\
<style>{PAGE_STYLE}</style></head>\n<body><h1>distloop</h1>\
<p id=\"summary\">{} mode, {}, {} worker(s), {} client connection(s) open, {} accepted.</p>\
<p id=\"queue\">{}</p>\
<p id=\"status\" data-refreshes=\"0\">live: refreshed every {} s</p>\n\
<table><thead><tr><th>backend</th><th>address</th><th>state</th><th>since</th>\
<th>last check</th><th>agent</th><th>weight</th><th>active</th><th>max</th><th>req/s</th>\
<th>requests</th><th>failures</th><th>retries</th><th>p50 ms</th><th>p99 ms</th><th>set</th></tr></thead>\n\
<tbody id=\"backends\">{rows}</tbody></table>\
<p><a href=\"/stats\">/stats</a> · <a href=\"/metrics\">/metrics</a></p>\
<script>const REFRESH_MS = {PAGE_REFRESH_MS};\n{PAGE_SCRIPT}</script></body></html>\n",
        escape_html(&snapshot.mode),
        escape_html(&snapshot.strategy),
        snapshot.workers,
        snapshot.clients,
        snapshot.accepted,
        escape_html(&super::queue::summary(&snapshot.queue)),
        PAGE_REFRESH_MS / 1000,
    )
}

/// How often the stats page polls `/stats`, in milliseconds.
pub const PAGE_REFRESH_MS: u64 = 2000;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lb::stats::{BackendSnapshot, LatencyHistogram, Retries};

    fn snapshot() -> Snapshot {
        Snapshot {
            mode: "http".into(),
            strategy: "round-robin".into(),
            workers: 1,
            clients: 3,
            accepted: 9,
            accepted_by_worker: vec![9],
            backends: vec![BackendSnapshot {
                name: "pi<0>".into(),
                address: "127.0.0.1:5000".into(),
                state: "up".into(),
                backoff_until: None,
                state_since: None,
                last_check: Some("L7OK 200 in 1 ms".into()),
                agent: None,
                consecutive_failures: 0,
                weight: 2,
                active: 1,
                max_active: 4,
                requests: 7,
                failures: 1,
                retries: Retries {
                    reused: 2,
                    fresh: 3,
                },
                p50_ms: Some(1.5),
                p99_ms: Some(9.0),
                bytes_in: 100,
                bytes_out: 50,
                latency: LatencyHistogram::default(),
            }],
            queue: Default::default(),
        }
    }

    #[test]
    fn prometheus_lines_carry_the_backend_labels() {
        let text = prometheus(&snapshot());
        assert!(text.contains("# TYPE distloop_backend_requests_total counter"));
        assert!(text.contains(
            "distloop_backend_requests_total{backend=\"pi<0>\",address=\"127.0.0.1:5000\"} 7"
        ));
        assert!(text.contains("distloop_backend_latency_p99_seconds{backend=\"pi<0>\",address=\"127.0.0.1:5000\"} 0.009"));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            assert!(line.starts_with("distloop_"), "{line}");
        }
    }

    #[test]
    fn html_page_escapes_names_and_refreshes_in_place() {
        let page = html(&snapshot());
        assert!(page.contains("pi&lt;0&gt;"));
        assert!(!page.contains("pi<0>"), "names are escaped");
        assert!(!page.contains("http-equiv"), "no full reload");
        assert!(page.contains("fetch(\"/stats\""));
        assert!(page.contains("<td class=\"check\">L7OK 200 in 1 ms</td>"));
        assert!(page.contains("<td class=\"max\">4</td>"));
        assert!(page.contains(
            "<td class=\"retries\" title=\"2 on reused connections, 3 on new ones\">5</td>"
        ));
        assert!(page.contains("<p id=\"queue\">queue: 0 waiting"), "{page}");
    }

    #[test]
    fn retries_are_counted_by_kind_of_connection() {
        let value: serde_json::Value = serde_json::from_str(&json(&snapshot())).unwrap();
        let retries = &value["backends"][0]["retries"];
        assert_eq!(
            (&retries["reused"], &retries["fresh"]),
            (&2.into(), &3.into())
        );
        let text = prometheus(&snapshot());
        assert!(text.contains("# TYPE distloop_backend_retries_total counter"));
        let labels = "backend=\"pi<0>\",address=\"127.0.0.1:5000\"";
        for (connection, count) in [("reused", 2), ("new", 3)] {
            let line = format!(
                "distloop_backend_retries_total{{{labels},connection=\"{connection}\"}} {count}"
            );
            assert!(text.contains(&line), "{text}");
        }
    }

    #[test]
    fn json_has_the_documented_fields() {
        let value: serde_json::Value = serde_json::from_str(&json(&snapshot())).unwrap();
        let b = &value["backends"][0];
        for field in [
            "name",
            "address",
            "state",
            "consecutive_failures",
            "weight",
            "active",
            "requests",
            "failures",
            "retries",
            "p50_ms",
            "p99_ms",
            "bytes_in",
            "bytes_out",
        ] {
            assert!(!b[field].is_null(), "{field}");
        }
    }

    #[test]
    fn a_backend_in_backoff_is_not_up_anywhere_and_says_until_when() {
        let mut snapshot = snapshot();
        let until = UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_250);
        snapshot.backends[0].state = BACKOFF.into();
        snapshot.backends[0].backoff_until = Some(until);
        snapshot.backends[0].consecutive_failures = 2;
        let value: serde_json::Value = serde_json::from_str(&json(&snapshot)).unwrap();
        let b = &value["backends"][0];
        assert_eq!(b["state"], "backoff");
        assert_eq!(b["backoff_until"], "2023-11-14T22:13:20.250Z");
        assert_eq!(b["consecutive_failures"], 2);
        let text = prometheus(&snapshot);
        let labels = "{backend=\"pi<0>\",address=\"127.0.0.1:5000\"}";
        assert!(
            text.contains(&format!("distloop_backend_up{labels} 0")),
            "{text}"
        );
        assert!(text.contains(&format!(
            "distloop_backend_backoff_until_timestamp_seconds{labels} 1700000000.25"
        )));
        let page = html(&snapshot);
        assert!(
            page.contains("backoff until 2023-11-14T22:13:20.250Z"),
            "{page}"
        );
    }

    #[test]
    fn a_backend_without_backoff_shows_null_and_zero() {
        let value: serde_json::Value = serde_json::from_str(&json(&snapshot())).unwrap();
        assert!(value["backends"][0]["backoff_until"].is_null());
        let text = prometheus(&snapshot());
        assert!(
            text.contains("distloop_backend_up{backend=\"pi<0>\",address=\"127.0.0.1:5000\"} 1")
        );
        assert!(text.contains(
            "distloop_backend_backoff_until_timestamp_seconds{backend=\"pi<0>\",address=\"127.0.0.1:5000\"} 0"
        ));
    }
}
