//! The wait queue's lines in the Prometheus text and on the stats page
//! (the JSON is the [`QueueStats`] as it is).

use std::fmt::Write;

use crate::lb::queue::QueueStats;

/// Appends the queue's metric families, named `distloop_queue_*`.
pub(super) fn prometheus(out: &mut String, queue: &QueueStats) {
    let seconds = |ms: Option<f64>| ms.unwrap_or(0.0) / 1000.0;
    let families: [(&str, &str, &str, f64); 10] = [
        (
            "queue_waiting",
            "gauge",
            "Requests (TCP: connections) waiting for a backend under its maxconn.",
            queue.waiting as f64,
        ),
        (
            "queue_max_waiting",
            "gauge",
            "The most waiting at once since start.",
            queue.max_waiting as f64,
        ),
        (
            "queue_queued_total",
            "counter",
            "Requests (TCP: connections) that had to wait.",
            queue.queued as f64,
        ),
        (
            "queue_admitted_total",
            "counter",
            "Waiters served once a slot freed.",
            queue.admitted as f64,
        ),
        (
            "queue_timed_out_total",
            "counter",
            "Waiters refused after the queue timeout (503, or closed in TCP mode).",
            queue.timed_out as f64,
        ),
        (
            "queue_abandoned_total",
            "counter",
            "Waiters gone before either (the client left).",
            queue.abandoned as f64,
        ),
        (
            "queue_wait_mean_seconds",
            "gauge",
            "Mean wait of the served waiters.",
            seconds(queue.wait_mean_ms),
        ),
        (
            "queue_wait_p50_seconds",
            "gauge",
            "Median wait of the served waiters.",
            seconds(queue.wait_p50_ms),
        ),
        (
            "queue_wait_p99_seconds",
            "gauge",
            "99th percentile wait of the served waiters.",
            seconds(queue.wait_p99_ms),
        ),
        (
            "queue_wait_max_seconds",
            "gauge",
            "Longest wait of a served waiter.",
            seconds(queue.wait_max_ms),
        ),
    ];
    for (name, kind, help, value) in families {
        let _ = writeln!(out, "# HELP distloop_{name} {help}");
        let _ = writeln!(out, "# TYPE distloop_{name} {kind}");
        let _ = writeln!(out, "distloop_{name} {value}");
    }
}

/// The stats page's queue line (the page's script redraws it from `/stats`).
pub(super) fn summary(queue: &QueueStats) -> String {
    let ms = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.1}"));
    format!(
        "queue: {} waiting (max {}), {} queued, {} served, {} timed out, {} left; \
         wait ms mean {}, p99 {}, max {}",
        queue.waiting,
        queue.max_waiting,
        queue.queued,
        queue.admitted,
        queue.timed_out,
        queue.abandoned,
        ms(queue.wait_mean_ms),
        ms(queue.wait_p99_ms),
        ms(queue.wait_max_ms),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue() -> QueueStats {
        QueueStats {
            waiting: 3,
            max_waiting: 40,
            queued: 100,
            admitted: 90,
            timed_out: 6,
            abandoned: 1,
            wait_mean_ms: Some(12.5),
            wait_p50_ms: Some(10.0),
            wait_p99_ms: Some(250.0),
            wait_max_ms: Some(300.0),
            ..QueueStats::default()
        }
    }

    #[test]
    fn prometheus_has_every_queue_family() {
        let mut text = String::new();
        prometheus(&mut text, &queue());
        for line in [
            "distloop_queue_waiting 3",
            "distloop_queue_max_waiting 40",
            "# TYPE distloop_queue_queued_total counter",
            "distloop_queue_queued_total 100",
            "distloop_queue_timed_out_total 6",
            "distloop_queue_wait_p99_seconds 0.25",
            "distloop_queue_wait_max_seconds 0.3",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in {text}");
        }
    }

    #[test]
    fn the_page_line_names_waiting_timeouts_and_waits() {
        let line = summary(&queue());
        assert!(line.starts_with("queue: 3 waiting (max 40), 100 queued, 90 served, 6 timed out"));
        assert!(line.contains("p99 250.0"), "{line}");
        assert!(summary(&QueueStats::default()).contains("mean -"));
    }
}
