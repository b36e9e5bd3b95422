//! `distloop search run` against a real master and worker: the table, the
//! JSON, and clear failures.

#[path = "support/search.rs"]
mod search;
mod support;

use std::process::Command;

use distloop::apps::search::{Counter, MatchOptions};
use search::{sample_text, start_master, start_worker};
use support::{distloop_bin, temp_file};

#[test]
fn the_client_prints_a_table_or_json_with_exact_counts() {
    let worker = start_worker();
    let master = start_master(&[worker.addr], &["--chunk-bytes", "5000"]);
    let text = sample_text(100_000);
    let file = temp_file("table", &text);
    let keywords = ["lord".to_string(), "said unto".to_string()];
    let expected = Counter::new(&keywords, MatchOptions::default())
        .unwrap()
        .count(&text);

    let output = Command::new(distloop_bin())
        .args(["search", "run", "--master", &master.addr.to_string()])
        .arg(&file)
        .args(&keywords)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let table = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["keyword", "count"]
    );
    assert!(lines[1].starts_with("lord") && lines[1].ends_with(&format!(" {}", expected[0])));
    assert!(lines[2].starts_with("said unto") && lines[2].ends_with(&format!(" {}", expected[1])));
    assert!(lines[3].starts_with(&format!("{} bytes", text.len())));

    let output = Command::new(distloop_bin())
        .args([
            "search",
            "run",
            "--json",
            "--master",
            &master.addr.to_string(),
        ])
        .arg(&file)
        .args(&keywords)
        .output()
        .unwrap();
    assert!(output.status.success());
    let job: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(job["counts"], serde_json::json!(expected));
    std::fs::remove_file(file).unwrap();
}

#[test]
fn failures_are_one_line_with_a_nonzero_exit() {
    let master = start_master(&[], &[]);
    let file = temp_file("fail", b"some text");
    let output = Command::new(distloop_bin())
        .args(["search", "run", "--master", &master.addr.to_string()])
        .arg(&file)
        .arg("text")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("no active worker"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1);
    // No keyword at all is a command line error.
    let output = Command::new(distloop_bin())
        .args(["search", "run"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    std::fs::remove_file(file).unwrap();
}
