//! `distloop search run`: the command line client. Streams a file to the
//! master's `POST /api/jobs` (a progress bar on stderr, from the bytes
//! sent: the master reads no faster than its workers count), then prints
//! the counts as a table, or the job as JSON.

use std::fs::File;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::client::request_streaming;
use super::query::encode_component;

/// How long the client waits for the master at each step; a job answers
/// when its counting ends, so this bounds the silence, not the job.
const MASTER_TIMEOUT: Duration = Duration::from_secs(600);

/// `distloop search run` flags.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The master's address.
    #[arg(long, default_value = "127.0.0.1:8000")]
    master: SocketAddr,
    /// The text file to search.
    file: PathBuf,
    /// The keywords (quote a phrase: "distributed systems").
    #[arg(required = true)]
    keywords: Vec<String>,
    /// Compare letters exactly instead of ignoring case.
    #[arg(long)]
    case_sensitive: bool,
    /// Count occurrences inside longer words too.
    #[arg(long)]
    substring: bool,
    /// Print the job as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Runs the client; the error is one line for the user.
pub fn run(args: &RunArgs) -> Result<(), String> {
    let mut file =
        File::open(&args.file).map_err(|e| format!("cannot open {}: {e}", args.file.display()))?;
    let length = file
        .metadata()
        .map_err(|e| format!("cannot read {}: {e}", args.file.display()))?
        .len();
    let mut target = String::from("/api/jobs?");
    for keyword in &args.keywords {
        target.push_str(&format!("k={}&", encode_component(keyword)));
    }
    if args.case_sensitive {
        target.push_str("case=sensitive&");
    }
    if args.substring {
        target.push_str("match=substring&");
    }
    let bar = ProgressBar::new(length);
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} {elapsed}",
        )
        .map_err(|e| e.to_string())?,
    );
    let answer = request_streaming(
        args.master,
        "POST",
        &target,
        &mut file,
        length,
        MASTER_TIMEOUT,
        &mut |sent| bar.set_position(sent),
    );
    bar.finish_and_clear();
    let answer = answer.map_err(|e| format!("the master did not answer: {e}"))?;
    let job: serde_json::Value = serde_json::from_slice(&answer.body)
        .map_err(|e| format!("the master sent no JSON ({e}): {}", answer.text()))?;
    if answer.status != 200 {
        let why = job["error"].as_str().unwrap_or("no reason given");
        return Err(format!(
            "the master refused the job ({}): {why}",
            answer.status
        ));
    }
    let mut out = crate::cli::stdout();
    let written = if args.json {
        writeln!(out, "{job}")
    } else {
        write_table(&mut out, &job)
    };
    written.map_err(|e| format!("cannot write the result: {e}"))
}

fn write_table(out: &mut dyn Write, job: &serde_json::Value) -> io::Result<()> {
    let keywords: Vec<&str> = job["keywords"]
        .as_array()
        .map(|k| k.iter().filter_map(|k| k.as_str()).collect())
        .unwrap_or_default();
    let width = keywords
        .iter()
        .map(|k| k.chars().count())
        .max()
        .unwrap_or(0)
        .max(7);
    writeln!(out, "{:width$}  count", "keyword")?;
    for (i, keyword) in keywords.iter().enumerate() {
        writeln!(out, "{keyword:width$}  {}", job["counts"][i])?;
    }
    writeln!(
        out,
        "{} bytes, {} chunks on {} workers, {:.3} s ({:.1} MB/s)",
        job["bytes_done"],
        job["chunks_done"],
        job["workers"].as_object().map_or(0, |w| w.len()),
        job["seconds"].as_f64().unwrap_or(0.0),
        job["mb_per_second"].as_f64().unwrap_or(0.0),
    )
}
