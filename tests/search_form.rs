//! The master's `POST /api/jobs` as a `multipart/form-data` form (what the
//! web page sends), posted by a real client (curl -F): exact counts from a
//! file or pasted text, options as fields, and clear refusals of broken
//! forms.

#[path = "support/search.rs"]
mod search;
mod support;

use std::net::SocketAddr;

use distloop::apps::search::{Counter, MatchOptions};
use search::{sample_text, start_master, start_worker};
use serde_json::json;
use support::temp_file;

/// Runs curl against `addr`'s `/api/jobs` with `args`; the status and the
/// answer's JSON.
fn curl(addr: SocketAddr, args: &[&str]) -> (u16, serde_json::Value) {
    curl_to(addr, "/api/jobs", args)
}

/// Runs curl against `addr`'s `target` with `args`.
fn curl_to(addr: SocketAddr, target: &str, args: &[&str]) -> (u16, serde_json::Value) {
    let output = support::tool("curl")
        .args(["-sS", "--max-time", "60", "-w", "\n%{http_code}"])
        .args(args)
        .arg(format!("http://{addr}{target}"))
        .output()
        .expect("curl is installed (scripts/test installs it)");
    let text = String::from_utf8(output.stdout).unwrap();
    let (body, status) = text.rsplit_once('\n').unwrap();
    let status = status.trim().parse().unwrap_or_else(|_| panic!("{text}"));
    // Refusals by the HTTP server itself (before the master reads the
    // form) are plain text.
    let value = serde_json::from_str(body).unwrap_or_else(|_| json!({ "error": body }));
    (status, value)
}

fn counts(text: &[u8], keywords: &[&str], options: MatchOptions) -> serde_json::Value {
    let keywords: Vec<String> = keywords.iter().map(|k| k.to_string()).collect();
    json!(Counter::new(&keywords, options).unwrap().count(text))
}

#[test]
fn a_form_with_a_file_streams_into_chunks_and_counts_exactly() {
    let workers = [start_worker(), start_worker()];
    let addrs: Vec<_> = workers.iter().map(|w| w.addr).collect();
    let master = start_master(&addrs, &["--chunk-bytes", "20000", "--window", "1"]);
    let text = sample_text(2_000_000);
    let file = temp_file("form-file.txt", &text);
    let (status, job) = curl(
        master.addr,
        &[
            "-F",
            "k=lord, king",
            "-F",
            "k=the lord",
            "-F",
            &format!("file=@{};type=text/plain", file.display()),
            // An empty text area, as a browser sends it.
            "--form-string",
            "text=",
        ],
    );
    std::fs::remove_file(&file).unwrap();
    assert_eq!(status, 200, "{job}");
    assert_eq!(job["state"], "done");
    assert_eq!(job["keywords"], json!(["lord", "king", "the lord"]));
    assert_eq!(
        job["counts"],
        counts(
            &text,
            &["lord", "king", "the lord"],
            MatchOptions::default()
        )
    );
    // Only the file's bytes are the text, cut into many chunks.
    assert_eq!(job["bytes_received"], json!(text.len()));
    assert_eq!(job["bytes_done"], json!(text.len()));
    assert!(job["chunks_total"].as_u64().unwrap() >= 100);
}

#[test]
fn pasted_text_and_options_come_as_fields() {
    let worker = start_worker();
    let master = start_master(&[worker.addr], &["--chunk-bytes", "7"]);
    let text = "Lord lord LORD lordship, the\r\n\r\nlord; --lord-- landlord";
    let (status, job) = curl(
        master.addr,
        &[
            "--form-string",
            "k=lord",
            "--form-string",
            "case=sensitive",
            "--form-string",
            "match=substring",
            "--form-string",
            &format!("text={text}"),
        ],
    );
    assert_eq!(status, 200, "{job}");
    let options = MatchOptions {
        case_sensitive: true,
        substring: true,
    };
    let expected = counts(text.as_bytes(), &["lord"], options);
    assert_eq!(job["counts"], expected);
    assert_eq!(expected, json!([5]));
    // Keywords may also come in the query, as with a raw body.
    let (status, job) = curl_to(
        master.addr,
        "/api/jobs?k=LORD",
        &["--form-string", &format!("text={text}")],
    );
    assert_eq!(status, 200, "{job}");
    assert_eq!(
        job["counts"],
        counts(text.as_bytes(), &["LORD"], MatchOptions::default())
    );
    assert_eq!(job["counts"], json!([5]));
}

#[test]
fn broken_forms_are_refused_clearly() {
    let worker = start_worker();
    let master = start_master(&[worker.addr], &["--max-upload", "100000"]);
    let error = |(status, value): (u16, serde_json::Value)| {
        (
            status,
            value["error"].as_str().unwrap_or_default().to_owned(),
        )
    };
    let (status, why) = error(curl(master.addr, &["--form-string", "k=a"]));
    assert_eq!(status, 400);
    assert!(why.contains("no text"), "{why}");
    let (status, why) = error(curl(master.addr, &["--form-string", "text=a b"]));
    assert_eq!(status, 400);
    assert!(why.contains("no keyword"), "{why}");
    let (status, why) = error(curl(
        master.addr,
        &[
            "--form-string",
            "k=a",
            "--form-string",
            "text=a b",
            "--form-string",
            "case=sensitive",
        ],
    ));
    assert_eq!(status, 400);
    assert!(why.contains("comes after the text"), "{why}");
    let (status, why) = error(curl(
        master.addr,
        &["--form-string", "k=a", "--form-string", "words=a"],
    ));
    assert_eq!(status, 400);
    assert!(why.contains("unknown form field \"words\""), "{why}");
    let cut = "--XyZ\r\nContent-Disposition: form-data; name=\"k\"\r\n\r\na\r\n--XyZ\r\n\
               Content-Disposition: form-data; name=\"text\"\r\n\r\na b a";
    let (status, why) = error(curl(
        master.addr,
        &[
            "-H",
            "Content-Type: multipart/form-data; boundary=XyZ",
            "--data-binary",
            cut,
        ],
    ));
    assert_eq!(status, 400);
    assert!(why.contains("final boundary"), "{why}");
    let (status, why) = error(curl(
        master.addr,
        &[
            "-H",
            "Content-Type: multipart/form-data",
            "--data-binary",
            "x",
        ],
    ));
    assert_eq!(status, 400);
    assert!(why.contains("boundary"), "{why}");
    let big = temp_file("form-big.txt", sample_text(200_000));
    let big_file = format!("file=@{}", big.display());
    let (status, why) = error(curl(master.addr, &["-F", "k=lord", "-F", &big_file]));
    assert_eq!(status, 413, "{why}");
    // Sent chunked, the size shows only while the text streams in.
    let (status, why) = error(curl(
        master.addr,
        &[
            "-H",
            "Transfer-Encoding: chunked",
            "-F",
            "k=lord",
            "-F",
            &big_file,
        ],
    ));
    std::fs::remove_file(&big).unwrap();
    assert_eq!(status, 413, "{why}");
    assert!(why.contains("too large"), "{why}");
    // The master still serves.
    let (status, job) = curl(master.addr, &["-F", "k=a", "--form-string", "text=a b a"]);
    assert_eq!((status, &job["counts"]), (200, &json!([2])));
}
