//! Shared pieces of the integration tests: start the real binaries on
//! ephemeral loopback ports and read the address each one prints.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// How long a server may take to print its `listening on` line.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

/// No single read, write or connect in these tests may block longer than this.
pub const IO_TIMEOUT: Duration = Duration::from_secs(20);

/// Signal numbers for [`Server::signal`].
pub const SIGHUP: i32 = 1;
/// Interrupt, as Ctrl-C sends it.
pub const SIGINT: i32 = 2;
/// The polite stop.
pub const SIGTERM: i32 = 15;
/// Resume a stopped process.
pub const SIGCONT: i32 = 18;
/// Stop (hang) a process until `SIGCONT`.
pub const SIGSTOP: i32 = 19;

/// The system tools the tests run, each with the Debian package that brings
/// it. `scripts/test` installs every one of them.
const TOOLS: &[(&str, &str)] = &[
    ("curl", "curl"),
    ("python3", "python3"),
    ("/usr/bin/python3", "python3"),
    ("openssl", "openssl"),
    ("mosquitto_sub", "mosquitto-clients"),
    ("mosquitto_pub", "mosquitto-clients"),
    ("chromium", "chromium"),
    ("chromedriver", "chromium-driver"),
    ("timeout", "coreutils"),
    ("stdbuf", "coreutils"),
    ("sha256sum", "coreutils"),
];

/// A command for the system tool `program`, after checking that it is
/// installed: a missing tool fails the test with its name and how to get it,
/// not with a "No such file" deep in a log.
pub fn tool(program: &str) -> Command {
    require_tool(program);
    Command::new(program)
}

/// Fails the test, saying what to install, unless `program` is on PATH (or,
/// given as a path, exists).
pub fn require_tool(program: &str) {
    let found = if program.contains('/') {
        std::path::Path::new(program).exists()
    } else {
        std::env::var_os("PATH")
            .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
    };
    if !found {
        let package = debian_package_of(program);
        panic!(
            "this test needs `{program}` (Debian package {package}); \
             `scripts/test` installs every tool the tests need"
        );
    }
}

/// The Debian package that brings `program` (its own name when not listed).
pub fn debian_package_of(program: &str) -> &str {
    TOOLS
        .iter()
        .find(|(name, _)| *name == program)
        .map_or(program, |(_, package)| package)
}

/// Fails the test, saying what to install, unless `python` can import
/// `module` (`package` names how to get it).
pub fn require_python_module(python: &str, module: &str, package: &str) {
    require_tool(python);
    let status = Command::new(python)
        .args(["-c", &format!("import {module}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    assert!(
        status.success(),
        "this test needs the Python module `{module}` for {python} ({package}); \
         `scripts/test` installs every tool the tests need"
    );
}

/// Fails the test, saying what to install, unless a real browser can be
/// driven: Chromium, its driver, and Selenium for Debian's own Python.
pub fn require_browser() {
    require_tool("chromium");
    require_tool("chromedriver");
    require_python_module(
        "/usr/bin/python3",
        "selenium",
        "Debian package python3-selenium",
    );
}

/// The `distloop` binary of this build.
pub fn distloop_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_distloop"))
}

/// The `pi-backend` binary, built beside `distloop` by `cargo test --workspace`.
pub fn pi_backend_bin() -> PathBuf {
    let bin = distloop_bin().with_file_name("pi-backend");
    assert!(
        bin.exists(),
        "{} is missing: run the tests with `cargo test --workspace`",
        bin.display()
    );
    bin
}

/// A loopback address where nothing listens (bound, then released).
pub fn dead_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// A client connection to `addr` whose reads and writes give up after
/// [`IO_TIMEOUT`].
pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
        .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    stream
}

/// A path under the temporary directory unique to this test process and `name`.
pub fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("distloop-{}-{name}", std::process::id()))
}

/// Writes `bytes` to [`temp_path`]`(name)` and returns the path.
pub fn temp_file(name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
    let path = temp_path(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Runs `distloop args...` to its end: exit code, stdout, stderr.
pub fn run_distloop(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(distloop_bin())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run distloop {args:?}: {e}"));
    (
        output.status.code().expect("an exit code, not a signal"),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A server process that is killed when dropped.
pub struct Server {
    /// The running process.
    pub child: Child,
    /// The first address it printed (`listening on ADDR`).
    pub addr: SocketAddr,
    /// Every further `... listening on ADDR` line, in order (e.g. an admin port).
    pub other_addrs: Vec<(String, SocketAddr)>,
    lines: mpsc::Receiver<String>,
    /// Its stderr, line by line, when started by [`Server::start_with_logs`].
    logs: Option<mpsc::Receiver<String>>,
}

impl Server {
    /// Starts `bin args...` and waits for its `listening on ADDR` line.
    pub fn start(bin: impl Into<PathBuf>, args: &[&str]) -> Server {
        Self::start_expecting(bin, args, 1)
    }

    /// Starts `bin args...` and waits for `count` lines ending in `listening on ADDR`.
    pub fn start_expecting(bin: impl Into<PathBuf>, args: &[&str], count: usize) -> Server {
        Self::spawn(bin.into(), args, count, false)
    }

    /// Starts `bin args...`, its stderr kept for [`Server::next_log_line`].
    pub fn start_with_logs(bin: impl Into<PathBuf>, args: &[&str]) -> Server {
        Self::spawn(bin.into(), args, 1, true)
    }

    fn spawn(bin: PathBuf, args: &[&str], count: usize, keep_logs: bool) -> Server {
        let stderr = match keep_logs {
            true => Stdio::piped(),
            false => Stdio::inherit(),
        };
        let mut child = Command::new(&bin)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let lines = forward_lines(stdout);
        let logs = child.stderr.take().map(forward_lines);
        let mut found = Vec::new();
        while found.len() < count {
            let line = lines
                .recv_timeout(STARTUP_TIMEOUT)
                .unwrap_or_else(|_| panic!("{} {args:?} printed no listening line", bin.display()));
            if let Some((label, addr)) = line.rsplit_once("listening on ") {
                let addr: SocketAddr = addr
                    .trim()
                    .parse()
                    .expect("an address after `listening on`");
                found.push((label.trim().to_string(), addr));
            }
        }
        let addr = found[0].1;
        Server {
            child,
            addr,
            other_addrs: found.split_off(1),
            lines,
            logs,
        }
    }

    /// The next line the server logs on stderr, if one comes within
    /// `timeout` (for a server started by [`Server::start_with_logs`]).
    pub fn next_log_line(&self, timeout: Duration) -> Option<String> {
        let logs = self.logs.as_ref().expect("started with its logs kept");
        logs.recv_timeout(timeout).ok()
    }

    /// The next line the server prints on stdout, if one comes within `timeout`.
    pub fn next_line(&self, timeout: Duration) -> Option<String> {
        self.lines.recv_timeout(timeout).ok()
    }

    /// Sends a signal (by number) to the server.
    pub fn signal(&self, signal: i32) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// Waits for the process to exit, at most `timeout`; returns its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status.code();
            }
            thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn forward_lines(stdout: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
            let _ = tx.send(line.trim_end().to_string());
            line.clear();
        }
        // Keep draining so the child never blocks on a full pipe.
        let _ = reader.read_to_end(&mut Vec::new());
    });
    rx
}
