//! A backup cluster of real processes for the integration tests: one
//! `distloop backup manager` and N `distloop backup server`s on ephemeral
//! loopback ports, in a temporary folder removed on drop, and the client
//! commands run as the real binary.
#![allow(dead_code)]

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::support::{SIGTERM, Server, distloop_bin};

static NEXT_ROOT: AtomicUsize = AtomicUsize::new(0);

/// How long the test managers keep unreferenced objects, in seconds.
pub const ORPHAN_GRACE: &str = "1";

/// Heartbeats in the tests, in seconds.
pub const HEARTBEAT: &str = "0.2";

/// One storage server process and its folder.
pub struct StorageProcess {
    /// The process (killed on drop).
    pub process: Server,
    /// Its `--dir`.
    pub dir: PathBuf,
}

/// A manager and its storage servers.
pub struct BackupCluster {
    /// The manager process.
    pub manager: Server,
    /// The servers, in start order.
    pub servers: Vec<StorageProcess>,
    /// Everything lives under here.
    pub root: PathBuf,
    /// `--replicas`.
    pub replicas: usize,
    dead_after: String,
    scrub: String,
}

impl BackupCluster {
    /// Starts a manager (`--dead-after`, in seconds) and `count` servers
    /// (scrubbing every `scrub` seconds), and waits until all are up.
    pub fn start(count: usize, replicas: usize, dead_after: &str, scrub: &str) -> BackupCluster {
        let root = std::env::temp_dir().join(format!(
            "distloop-backup-test-{}-{}",
            std::process::id(),
            NEXT_ROOT.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).unwrap();
        let mut cluster = BackupCluster {
            manager: start_manager(&root, "127.0.0.1:0", replicas, dead_after),
            servers: Vec::new(),
            root,
            replicas,
            dead_after: dead_after.to_string(),
            scrub: scrub.to_string(),
        };
        for _ in 0..count {
            cluster.add_server(None);
        }
        cluster.wait_until("every server is up", Duration::from_secs(20), |c| {
            c.status().matches(" up ").count() == count
        });
        cluster
    }

    /// The manager's address.
    pub fn manager_addr(&self) -> SocketAddr {
        self.manager.addr
    }

    /// Starts one more server (with `--capacity` when given).
    pub fn add_server(&mut self, capacity: Option<u64>) {
        let dir = self.root.join(format!("server{}", self.servers.len()));
        let process = self.start_server(&dir, "127.0.0.1:0", capacity);
        self.servers.push(StorageProcess { process, dir });
    }

    /// Starts server `index` again, on its old address and folder (after a kill).
    pub fn restart_server(&mut self, index: usize) {
        let dir = self.servers[index].dir.clone();
        let listen = self.servers[index].process.addr.to_string();
        self.servers[index].process = self.start_server(&dir, &listen, None);
    }

    fn start_server(&self, dir: &Path, listen: &str, capacity: Option<u64>) -> Server {
        let manager = self.manager.addr.to_string();
        let mut args = vec![
            "backup",
            "server",
            "--listen",
            listen,
            "--manager",
            &manager,
            "--dir",
            dir.to_str().unwrap(),
            "--heartbeat-interval",
            HEARTBEAT,
            "--scrub-interval",
            &self.scrub,
        ];
        let capacity = capacity.map(|c| c.to_string());
        if let Some(capacity) = &capacity {
            args.extend(["--capacity", capacity]);
        }
        Server::start(distloop_bin(), &args)
    }

    /// Stops the manager with SIGTERM (asserting exit 0) and starts a new
    /// one on the same address and state folder.
    pub fn restart_manager(&mut self) {
        self.manager.signal(SIGTERM);
        assert_eq!(self.manager.wait_exit(Duration::from_secs(15)), Some(0));
        let addr = self.manager.addr.to_string();
        self.manager = start_manager(&self.root, &addr, self.replicas, &self.dead_after);
    }

    /// Runs `distloop backup SUB --manager M REST...`.
    pub fn client(&self, args: &[&str]) -> Output {
        let manager = self.manager.addr.to_string();
        let mut full = vec!["backup", args[0], "--manager", &manager];
        full.extend_from_slice(&args[1..]);
        Command::new(distloop_bin())
            .args(&full)
            .output()
            .expect("run the client")
    }

    /// Runs a client command that must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let output = self.client(args);
        assert!(
            output.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// `status` output.
    pub fn status(&self) -> String {
        self.ok(&["status"])
    }

    /// `ls` output.
    pub fn ls(&self) -> String {
        self.ok(&["ls"])
    }

    /// Polls `check` every 200 ms until it holds, panicking after `limit`.
    pub fn wait_until(&self, what: &str, limit: Duration, check: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + limit;
        while !check(self) {
            assert!(
                Instant::now() < deadline,
                "{what}: not within {limit:?}\n{}",
                self.status()
            );
            thread::sleep(Duration::from_millis(200));
        }
    }

    /// The servers' object files named `sha256`, with their bytes.
    pub fn copies_of(&self, sha256: &str) -> Vec<(usize, Vec<u8>)> {
        self.servers
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                fs::read(s.dir.join("objects").join(sha256))
                    .ok()
                    .map(|b| (i, b))
            })
            .collect()
    }

    /// Which server (by index) listens on `addr`.
    pub fn server_at(&self, addr: &str) -> usize {
        self.servers
            .iter()
            .position(|s| s.process.addr.to_string() == addr)
            .unwrap_or_else(|| panic!("no server at {addr}"))
    }
}

impl Drop for BackupCluster {
    fn drop(&mut self) {
        self.servers.clear();
        let _ = fs::remove_dir_all(&self.root);
    }
}

fn start_manager(root: &Path, listen: &str, replicas: usize, dead_after: &str) -> Server {
    let state = root.join("manager");
    let replicas = replicas.to_string();
    Server::start(
        distloop_bin(),
        &[
            "backup",
            "manager",
            "--listen",
            listen,
            "--state",
            state.to_str().unwrap(),
            "--replicas",
            &replicas,
            "--dead-after",
            dead_after,
            "--orphan-grace",
            ORPHAN_GRACE,
        ],
    )
}

/// Sends raw bytes to `addr` and returns the first line answered ("" when
/// the peer closed without one).
pub fn raw_exchange(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let _ = stream.write_all(bytes);
    let mut line = String::new();
    let _ = BufReader::new(stream).read_line(&mut line);
    line
}

/// The `Location` reply of the manager for `name`, as JSON.
pub fn locate(manager: SocketAddr, name: &str) -> serde_json::Value {
    let request = serde_json::json!({"op": "locate", "name": name, "version": null});
    let line = raw_exchange(manager, format!("{request}\n").as_bytes());
    serde_json::from_str(&line).unwrap()
}

/// Lowercase hex SHA-256 of `bytes`, computed by the `sha256sum` tool.
pub fn sha256_hex(path: &Path) -> String {
    let output = crate::support::tool("sha256sum")
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8(output.stdout).unwrap()[..64].to_string()
}

/// Bytes that differ from file to file (a simple generator, no randomness
/// needed: only equality is checked).
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as u8
        })
        .collect()
}
