//! The search worker as a real process: its chunk endpoint, the original's
//! `POST /jsonrpc` shapes, health and status, and bad input.

#[path = "support/search.rs"]
mod search;
mod support;

use search::{get, json, post, start_worker};
use serde_json::json;

#[test]
fn the_chunk_endpoint_counts_owned_matches_per_keyword() {
    let worker = start_worker();
    let text = "The cat. the CAT sat; Distributed\n  Systems, the end".as_bytes();
    let answer = post(
        worker.addr,
        "/count?k=the&k=cat&k=distributed+systems&k=%C3%A9t%C3%A9",
        text,
    );
    assert_eq!(answer.status, 200, "{}", answer.text());
    let counts = json(&answer);
    assert_eq!(counts["counts"], json!([3, 2, 1, 0]));
    assert_eq!(counts["bytes"], json!(text.len()));

    // Only matches whose first byte is owned count; the rest is context.
    let answer = post(worker.addr, "/count?k=the&owned=4-40", text);
    assert_eq!(json(&answer)["counts"], json!([1]));
    let answer = post(worker.addr, "/count?k=The&case=sensitive", text);
    assert_eq!(json(&answer)["counts"], json!([1]));
    let answer = post(worker.addr, "/count?k=at&match=substring", text);
    assert_eq!(json(&answer)["counts"], json!([3]));
}

#[test]
fn the_original_jsonrpc_shapes_are_answered() {
    let worker = start_worker();
    let request = json!({"params": [{"words": ["to", "be", "or", "not", "to", "Be"], "keys": "to, be, question"}]});
    let answer = post(worker.addr, "/jsonrpc", request.to_string().as_bytes());
    assert_eq!(answer.status, 200, "{}", answer.text());
    let body = json(&answer);
    assert_eq!(body["keys"], json!({"to": 2, "be": 1, "question": 0}));
    assert!(body["timer"].as_f64().is_some_and(|t| t >= 0.0));
}

#[test]
fn health_and_status_report_the_work_done() {
    let worker = start_worker();
    assert_eq!(get(worker.addr, "/health").text(), "ok\n");
    post(worker.addr, "/count?k=a", b"a b a");
    let status = json(&get(worker.addr, "/status"));
    assert_eq!(status["chunks_done"], json!(1));
    assert_eq!(status["bytes_done"], json!(5));
    let cpu = status["cpu_percent"].as_f64().expect("a CPU figure");
    assert!((0.0..=100.0).contains(&cpu));
}

#[test]
fn bad_requests_get_clear_errors_and_the_worker_keeps_serving() {
    let worker = start_worker();
    let cases: [(&str, &[u8], u16); 5] = [
        ("/count", b"text", 400),
        ("/count?k=+", b"text", 400),
        ("/count?k=a&owned=3-99", b"text", 400),
        ("/jsonrpc", b"{not json", 400),
        ("/nowhere", b"", 404),
    ];
    for (target, body, status) in cases {
        let answer = post(worker.addr, target, body);
        assert_eq!(answer.status, status, "{target}: {}", answer.text());
        assert_eq!(answer.text().trim_end().lines().count(), 1);
    }
    assert_eq!(get(worker.addr, "/count").status, 405);
    assert_eq!(get(worker.addr, "/health").status, 200);
}

#[test]
fn sigterm_stops_the_worker_with_exit_zero() {
    let mut worker = start_worker();
    assert_eq!(get(worker.addr, "/health").status, 200);
    worker.signal(support::SIGTERM);
    assert_eq!(
        worker.wait_exit(std::time::Duration::from_secs(15)),
        Some(0)
    );
}
