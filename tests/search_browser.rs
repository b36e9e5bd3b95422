//! The master's web pages in headless Chromium (tests/python/search_browser.py,
//! Selenium): upload (a multipart form), keywords, progress and counts,
//! pasted text, then /hosts.

#[path = "support/search.rs"]
mod search;
mod support;

use distloop::apps::search::{Counter, MatchOptions};
use search::{get, json, sample_text, start_master, start_worker};

#[test]
fn a_browser_runs_a_search_and_manages_hosts() {
    support::require_browser();
    let worker = start_worker();
    let extra = start_worker();
    let master = start_master(&[worker.addr], &["--chunk-bytes", "20000", "--window", "1"]);
    let text = sample_text(2_000_000);
    let file = std::env::temp_dir().join(format!(
        "distloop-search-browser-{}.txt",
        std::process::id()
    ));
    std::fs::write(&file, &text).unwrap();
    let keywords = ["lord".to_string(), "king".to_string()];
    let counts = Counter::new(&keywords, MatchOptions::default())
        .unwrap()
        .count(&text);
    let expected: serde_json::Map<String, serde_json::Value> = keywords
        .iter()
        .zip(&counts)
        .map(|(k, n)| (k.clone(), (*n).into()))
        .collect();
    // Debian's python3-selenium is installed for Debian's own interpreter.
    let status = support::tool("/usr/bin/python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/python/search_browser.py"
        ))
        .arg(master.addr.to_string())
        .arg(extra.addr.to_string())
        .arg(&file)
        .arg("lord, king")
        .arg(serde_json::Value::Object(expected).to_string())
        .status()
        .expect("/usr/bin/python3 is installed (scripts/test installs python3-selenium)");
    std::fs::remove_file(&file).unwrap();
    assert!(status.success(), "the browser checks failed");
    // What the browser did is what the API shows: the form's file alone is
    // the first job's text, and the pasted text the second's.
    let jobs = json(&get(master.addr, "/api/jobs"));
    assert_eq!(jobs[0]["bytes_received"], serde_json::json!(text.len()));
    assert_eq!(jobs[1]["keywords"], serde_json::json!(["lord"]));
    let hosts = json(&get(master.addr, "/api/hosts"));
    let added = hosts
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["addr"] == extra.addr.to_string())
        .expect("the page added the worker");
    assert_eq!(added["active"], false);
}
