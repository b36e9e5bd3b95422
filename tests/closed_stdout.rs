//! Every command that prints ends quietly when the reader of its standard
//! output goes away, as `ls | head -1` does: exit status 141, nothing on
//! stderr about the pipe, no panic.
//!
//! Each command is run two ways against real servers on loopback:
//! - with its standard output a pipe whose read end is closed before the
//!   command starts writing, so that its very first write fails: this
//!   always reaches the closed-pipe path, whatever the output's size;
//! - as under `| head -1`: one line read, then the pipe closed. Where the
//!   output is made larger than a pipe holds (64 KiB), the command is still
//!   writing when the reader goes, so this too must end with 141.

mod support;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use distloop::broker::client::Client as BrokerClient;
use distloop::broker::{Serializer, Value};
use support::{Server, distloop_bin, pi_backend_bin, temp_file, temp_path};

/// What a shell reports for a command killed by SIGPIPE, and what these
/// commands exit with instead of a panic.
const EXIT_CLOSED_STDOUT: i32 = 141;

/// Longest a command may take to notice its closed output and end.
const EXIT_TIMEOUT: Duration = Duration::from_secs(60);

/// More than a pipe buffer (64 KiB) and the reader's first read together.
const MORE_THAN_A_PIPE: usize = 256 * 1024;

/// Held while a process is started, and while a test holds the read end of
/// a command's output. A process forked by another test's thread in that
/// time would hold a copy of the read end until it calls exec; a write in
/// that window would succeed, and the command under test never see a
/// closed pipe.
static SPAWNING: Mutex<()> = Mutex::new(());

fn spawning() -> std::sync::MutexGuard<'static, ()> {
    SPAWNING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// [`Server::start_expecting`], started under [`SPAWNING`].
fn start_server(bin: std::path::PathBuf, args: &[&str], count: usize) -> Server {
    let _spawning = spawning();
    Server::start_expecting(bin, args, count)
}

/// When the reader of the command's standard output goes away.
#[derive(Debug, Clone, Copy)]
enum Reader {
    /// Before the command writes anything.
    ClosedAtOnce,
    /// After one line, as `head -1`.
    ClosedAfterFirstLine,
}

/// How the command ended: its exit code and everything it wrote to stderr.
struct Ending {
    code: Option<i32>,
    stderr: String,
}

fn spawn(bin: &std::path::Path, args: &[&str]) -> Child {
    Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {} {args:?}: {e}", bin.display()))
}

/// Runs `bin args...` with its standard output read as `reader` says.
fn run_into_closing_pipe(bin: &std::path::Path, args: &[&str], reader: Reader) -> Ending {
    let spawning = spawning();
    let mut child = spawn(bin, args);
    let stdout = child.stdout.take().expect("piped stdout");
    match reader {
        Reader::ClosedAtOnce => drop(stdout),
        Reader::ClosedAfterFirstLine => {
            let mut first = String::new();
            let mut lines = BufReader::new(stdout);
            lines.read_line(&mut first).expect("read the first line");
            assert!(!first.is_empty(), "{args:?} printed nothing");
            drop(lines);
        }
    }
    drop(spawning);
    let mut stderr = child.stderr.take().expect("piped stderr");
    let stderr = thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + EXIT_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{args:?} still runs {EXIT_TIMEOUT:?} after its reader left");
        }
        thread::sleep(Duration::from_millis(10));
    };
    Ending {
        code: status.code(),
        stderr: stderr.join().unwrap(),
    }
}

/// Asserts that `distloop args...` ends with 141 and says nothing about
/// the pipe when its reader goes as `reader` says.
fn assert_ends_quietly(args: &[&str], reader: Reader) {
    assert_ends_quietly_with(&distloop_bin(), args, reader, &[EXIT_CLOSED_STDOUT]);
}

fn assert_ends_quietly_with(bin: &std::path::Path, args: &[&str], reader: Reader, codes: &[i32]) {
    let ending = run_into_closing_pipe(bin, args, reader);
    let stderr = &ending.stderr;
    for sign_of_trouble in ["panicked", "Broken pipe", "broken pipe", "RUST_BACKTRACE"] {
        assert!(
            !stderr.contains(sign_of_trouble),
            "{args:?} ({reader:?}) wrote {sign_of_trouble:?} to stderr:\n{stderr}"
        );
    }
    assert!(
        ending.code.is_some_and(|code| codes.contains(&code)),
        "{args:?} ({reader:?}) ended with {:?}, not one of {codes:?}; stderr:\n{stderr}",
        ending.code
    );
}

#[test]
fn dht_simulate_ends_quietly_on_a_closed_pipe() {
    // Each row is printed when its ring has been simulated, so rows keep
    // coming after `head -1` has read the header; the pipe may still hold
    // them all when the last is written, hence 0 is fine there.
    let nodes = ["64"; 20].join(",");
    let args = [
        "dht",
        "simulate",
        "--nodes",
        &nodes,
        "--lookups",
        "50",
        "--keys",
        "50",
    ];
    assert_ends_quietly(&args, Reader::ClosedAtOnce);
    assert_ends_quietly_with(
        &distloop_bin(),
        &args,
        Reader::ClosedAfterFirstLine,
        &[0, EXIT_CLOSED_STDOUT],
    );
}

#[test]
fn dht_ring_and_get_end_quietly_on_a_closed_pipe() {
    let first = start_server(
        distloop_bin(),
        &[
            "dht",
            "node",
            "--listen",
            "127.0.0.1:0",
            "--stabilize-ms",
            "50ms",
        ],
        1,
    );
    let node = first.addr.to_string();
    let spawning = spawning();
    let (code, _, stderr) = support::run_distloop(&["dht", "put", "--node", &node, "key", "value"]);
    drop(spawning);
    assert_eq!(code, 0, "{stderr}");
    assert_ends_quietly(&["dht", "ring", "--node", &node], Reader::ClosedAtOnce);
    assert_ends_quietly(
        &["dht", "get", "--node", &node, "key"],
        Reader::ClosedAtOnce,
    );
}

#[test]
fn broker_topics_ends_quietly_on_a_closed_pipe() {
    let broker = start_server(distloop_bin(), &["broker", "--listen", "127.0.0.1:0"], 1);
    let mut publisher = BrokerClient::connect(broker.addr, Serializer::Json).unwrap();
    let long = "t".repeat(1000);
    let topics = MORE_THAN_A_PIPE / long.len() + 1;
    for i in 0..topics {
        publisher
            .publish(&format!("/{long}/{i}"), &Value::Int(1))
            .unwrap();
    }
    assert_eq!(publisher.list_topics().unwrap().len(), topics);
    let addr = broker.addr.to_string();
    let args = ["broker", "topics", "--addr", &addr];
    assert_ends_quietly(&args, Reader::ClosedAtOnce);
    assert_ends_quietly(&args, Reader::ClosedAfterFirstLine);
}

#[test]
fn backup_ls_and_status_end_quietly_on_a_closed_pipe() {
    let state = temp_path("closed-stdout-backup-state");
    let dir = temp_path("closed-stdout-backup-server");
    let _ = std::fs::remove_dir_all(&state);
    let _ = std::fs::remove_dir_all(&dir);
    let manager = start_server(
        distloop_bin(),
        &[
            "backup",
            "manager",
            "--listen",
            "127.0.0.1:0",
            "--replicas",
            "1",
            "--log-level",
            "warn",
            "--state",
            state.to_str().unwrap(),
        ],
        1,
    );
    let manager_addr = manager.addr.to_string();
    let server = start_server(
        distloop_bin(),
        &[
            "backup",
            "server",
            "--listen",
            "127.0.0.1:0",
            "--manager",
            &manager_addr,
            "--dir",
            dir.to_str().unwrap(),
            "--heartbeat-interval",
            "100ms",
        ],
        1,
    );
    let file = temp_file("closed-stdout-backup-file", b"the same bytes in every file");
    let long = "n".repeat(2000);
    let files = MORE_THAN_A_PIPE / long.len() + 1;
    let deadline = Instant::now() + Duration::from_secs(20);
    for i in 0..files {
        let name = format!("{long}-{i}");
        // The first put waits until the server's first heartbeat arrived.
        while let Err(e) = distloop::apps::backup::client::put(&manager_addr, &file, &name) {
            assert!(Instant::now() < deadline, "put {i}: {e}");
            thread::sleep(Duration::from_millis(100));
        }
    }
    let ls = ["backup", "ls", "--manager", &manager_addr];
    assert_ends_quietly(&ls, Reader::ClosedAtOnce);
    assert_ends_quietly(&ls, Reader::ClosedAfterFirstLine);
    let status = ["backup", "status", "--manager", &manager_addr];
    assert_ends_quietly(&status, Reader::ClosedAtOnce);
    drop((server, manager));
    let _ = std::fs::remove_dir_all(&state);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(file);
}

#[test]
fn calc_client_ends_quietly_on_a_closed_pipe() {
    let server = start_server(
        distloop_bin(),
        &[
            "calc",
            "server",
            "--listen",
            "127.0.0.1:0",
            "--status",
            "127.0.0.1:0",
        ],
        2,
    );
    let addr = server.addr.to_string();
    // 2^4000 has 1205 digits: enough answers to overflow the pipe.
    let expressions = vec!["2^4000"; MORE_THAN_A_PIPE / 1205 + 1];
    let mut args = vec!["calc", "client", "--server", &addr];
    args.extend(&expressions);
    assert_ends_quietly(&args, Reader::ClosedAtOnce);
    assert_ends_quietly(&args, Reader::ClosedAfterFirstLine);
}

#[test]
fn echo_client_ends_quietly_on_a_closed_pipe() {
    let server = start_server(
        distloop_bin(),
        &[
            "echo",
            "server",
            "--model",
            "threaded",
            "--listen",
            "127.0.0.1:0",
        ],
        1,
    );
    let addr = server.addr.to_string();
    assert_ends_quietly(
        &["echo", "client", "--server", &addr, "--message", "hello"],
        Reader::ClosedAtOnce,
    );
}

#[test]
fn search_run_ends_quietly_on_a_closed_pipe() {
    let worker = start_server(
        distloop_bin(),
        &["search", "worker", "--listen", "127.0.0.1:0"],
        1,
    );
    let worker_addr = worker.addr.to_string();
    let master = start_server(
        distloop_bin(),
        &[
            "search",
            "master",
            "--listen",
            "127.0.0.1:0",
            "--worker",
            &worker_addr,
        ],
        1,
    );
    let file = temp_file("closed-stdout-search", b"the lord said unto the king\n");
    let master_addr = master.addr.to_string();
    for json in [false, true] {
        let mut args = vec!["search", "run", "--master", &master_addr];
        if json {
            args.push("--json");
        }
        args.extend([file.to_str().unwrap(), "lord", "king"]);
        assert_ends_quietly(&args, Reader::ClosedAtOnce);
    }
    let _ = std::fs::remove_file(file);
}

#[test]
fn a_check_and_the_help_end_quietly_on_a_closed_pipe() {
    assert_ends_quietly(
        &["lb", "--check", "--backend", "127.0.0.1:1"],
        Reader::ClosedAtOnce,
    );
    // clap prints help itself and ignores a failed write: exit 0 is its end.
    assert_ends_quietly_with(
        &distloop_bin(),
        &["lb", "--help"],
        Reader::ClosedAtOnce,
        &[0, EXIT_CLOSED_STDOUT],
    );
}

#[test]
fn the_pi_backend_ends_quietly_when_its_listening_line_finds_no_reader() {
    assert_ends_quietly_with(
        &pi_backend_bin(),
        &["--listen", "127.0.0.1:0"],
        Reader::ClosedAtOnce,
        &[EXIT_CLOSED_STDOUT],
    );
}
