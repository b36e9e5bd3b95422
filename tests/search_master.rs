//! The search master over real processes: a master and three workers,
//! exact counts even when a worker dies mid-job, the JSON API, the event
//! stream and the refusals (no worker, too large, bad keywords).

#[path = "support/search.rs"]
mod search;
mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use distloop::apps::search::client::request;
use distloop::apps::search::{Counter, MatchOptions};
use search::{REQUEST_TIMEOUT, get, json, post, sample_text, start_master, start_worker};
use serde_json::json;

fn expected(text: &[u8], keywords: &[&str]) -> serde_json::Value {
    let keywords: Vec<String> = keywords.iter().map(|k| k.to_string()).collect();
    json!(
        Counter::new(&keywords, MatchOptions::default())
            .unwrap()
            .count(text)
    )
}

#[test]
fn three_workers_count_exactly_and_report_their_shares() {
    let workers = [start_worker(), start_worker(), start_worker()];
    let addrs: Vec<_> = workers.iter().map(|w| w.addr).collect();
    let master = start_master(&addrs, &["--chunk-bytes", "10000"]);
    let text = sample_text(400_000);
    let answer = post(
        master.addr,
        "/api/jobs?k=lord&k=king&k=the+lord&k=%C3%A9lan",
        &text,
    );
    assert_eq!(answer.status, 200, "{}", answer.text());
    let job = json(&answer);
    assert_eq!(job["state"], "done");
    assert_eq!(
        job["counts"],
        expected(&text, &["lord", "king", "the lord", "élan"])
    );
    assert_eq!(job["bytes_done"], json!(text.len()));
    let shares = job["workers"].as_object().unwrap();
    let chunks: u64 = shares.values().map(|s| s["chunks"].as_u64().unwrap()).sum();
    assert_eq!(json!(chunks), job["chunks_total"]);
    // The job is listed, and its event stream sends the final state, then ends.
    let id = job["id"].as_u64().unwrap();
    assert_eq!(
        json(&get(master.addr, &format!("/api/jobs/{id}")))["counts"],
        job["counts"]
    );
    let mut stream = TcpStream::connect(master.addr).unwrap();
    stream.set_read_timeout(Some(REQUEST_TIMEOUT)).unwrap();
    write!(
        stream,
        "GET /api/jobs/{id}/events HTTP/1.1\r\nHost: m\r\n\r\n"
    )
    .unwrap();
    let mut events = String::new();
    stream.read_to_string(&mut events).unwrap();
    assert!(events.contains("Content-Type: text/event-stream"));
    assert!(events.contains("data: {") && events.contains("\"state\":\"done\""));
}

#[test]
fn a_worker_killed_mid_job_leaves_the_counts_exact() {
    let mut workers = vec![start_worker(), start_worker(), start_worker()];
    let addrs: Vec<_> = workers.iter().map(|w| w.addr).collect();
    let master = start_master(&addrs, &["--chunk-bytes", "4096", "--window", "1"]);
    let text = sample_text(3_000_000);
    let upload = {
        let text = text.clone();
        let addr = master.addr;
        thread::spawn(move || {
            request(
                addr,
                "POST",
                "/api/jobs?k=lord&k=house&k=said+unto",
                &text,
                Duration::from_secs(300),
            )
            .expect("an answer")
        })
    };
    // Wait until the job is under way, then kill a worker.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let jobs = json(&get(master.addr, "/api/jobs"));
        if jobs[0]["chunks_done"].as_u64().is_some_and(|n| n >= 20) {
            break;
        }
        assert!(Instant::now() < deadline, "the job did not start: {jobs}");
        thread::sleep(Duration::from_millis(20));
    }
    let victim = workers.remove(0);
    drop(victim);
    let answer = upload.join().unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text());
    let job = json(&answer);
    assert_eq!(job["state"], "done");
    assert_eq!(
        job["counts"],
        expected(&text, &["lord", "house", "said unto"])
    );
    assert_eq!(job["bytes_done"], json!(text.len()));
}

#[test]
fn no_active_worker_is_a_clear_error() {
    let master = start_master(&[], &[]);
    let answer = post(master.addr, "/api/jobs?k=a", b"a b c");
    assert_eq!(answer.status, 503);
    assert!(
        json(&answer)["error"]
            .as_str()
            .unwrap()
            .contains("no active worker")
    );
    // A worker added, then deactivated, is not used either.
    let worker = start_worker();
    let added = post(
        master.addr,
        &format!("/api/hosts?addr={}", worker.addr),
        b"",
    );
    assert_eq!(added.status, 201);
    assert_eq!(post(master.addr, "/api/jobs?k=a", b"a b a").status, 200);
    post(
        master.addr,
        &format!("/api/hosts?addr={}&active=false", worker.addr),
        b"",
    );
    assert_eq!(post(master.addr, "/api/jobs?k=a", b"a").status, 503);
    let hosts = json(&get(master.addr, "/api/hosts"));
    assert_eq!(hosts[0]["active"], json!(false));
    let removed = request(
        master.addr,
        "DELETE",
        &format!("/api/hosts?addr={}", worker.addr),
        b"",
        REQUEST_TIMEOUT,
    )
    .unwrap();
    assert_eq!(removed.status, 200);
    assert_eq!(json(&get(master.addr, "/api/hosts")), json!([]));
}

#[test]
fn uploads_over_the_limit_and_bad_keywords_are_refused() {
    let worker = start_worker();
    let master = start_master(&[worker.addr], &["--max-upload", "1000"]);
    assert_eq!(
        post(master.addr, "/api/jobs?k=a", &[b'a'; 1001]).status,
        413
    );
    assert_eq!(
        post(master.addr, "/api/jobs?k=a", &[b'a'; 1000]).status,
        200
    );
    let bad = post(master.addr, "/api/jobs", b"text");
    assert_eq!(bad.status, 400);
    assert!(json(&bad)["error"].as_str().unwrap().contains("no keyword"));
    assert_eq!(get(master.addr, "/api/jobs/999").status, 404);
    let page = get(master.addr, "/");
    assert!(page.text().contains("<h1>Keyword search</h1>"));
    assert!(get(master.addr, "/hosts").text().contains("<h1>Hosts</h1>"));
}
