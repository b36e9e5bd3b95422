//! A balancer run from a config file that a test rewrites and reloads with
//! SIGHUP, knowing when the worker has taken the new file: every reload
//! gives the first backend a new weight, and the reload counts as applied
//! once `/stats` on the admin port shows that weight.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{IO_TIMEOUT, SIGHUP, Server, distloop_bin};

/// How long a reload may take to reach the worker (stats are published at
/// once after it, and about once a second anyway).
pub const RELOAD_SETTLE: Duration = Duration::from_secs(10);

/// A running balancer and the file it reads.
pub struct ReloadableLb {
    /// The balancer process (`addr` is where clients connect).
    pub server: Server,
    /// Its admin port.
    pub admin: SocketAddr,
    path: PathBuf,
    backends: Vec<(String, SocketAddr)>,
    /// The first backend's weight in the file now; each reload adds one.
    marker: u64,
}

impl ReloadableLb {
    /// Starts `distloop lb --config FILE` in `mode` with the top-level
    /// `settings` (TOML lines) and `backends` (name, address), plus `flags`.
    pub fn start(
        mode: &str,
        settings: &str,
        backends: &[(&str, SocketAddr)],
        flags: &[&str],
    ) -> ReloadableLb {
        let path = std::env::temp_dir().join(format!(
            "distloop-reload-{}-{}.toml",
            std::process::id(),
            unique()
        ));
        let backends: Vec<(String, SocketAddr)> = backends
            .iter()
            .map(|(name, addr)| (name.to_string(), *addr))
            .collect();
        let marker = 1;
        write_file(&path, settings, &backends, marker);
        let config = path.to_str().unwrap().to_string();
        let mut args = vec![
            "lb",
            "--mode",
            mode,
            "--listen",
            "127.0.0.1:0",
            "--admin",
            "127.0.0.1:0",
            "--config",
            &config,
        ];
        args.extend_from_slice(flags);
        let server = Server::start_expecting(distloop_bin(), &args, 2);
        let admin = server.other_addrs[0].1;
        ReloadableLb {
            server,
            admin,
            path,
            backends,
            marker,
        }
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// Rewrites the file with `settings`, sends SIGHUP and waits until the
    /// worker runs the new configuration.
    pub fn reload(&mut self, settings: &str) {
        self.marker += 1;
        self.write(settings);
        self.server.signal(SIGHUP);
        let deadline = Instant::now() + RELOAD_SETTLE;
        loop {
            if self.first_backend_weight() == Some(self.marker) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the reload to {settings:?} was not applied"
            );
            thread::sleep(Duration::from_millis(30));
        }
    }

    /// `GET /stats` on the admin port, parsed.
    pub fn stats(&self) -> Value {
        let mut stream = TcpStream::connect(self.admin).expect("connect to the admin port");
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream
            .write_all(b"GET /stats HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut raw = String::new();
        stream.read_to_string(&mut raw).unwrap();
        let (_, body) = raw.split_once("\r\n\r\n").expect("a whole response");
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
    }

    fn first_backend_weight(&self) -> Option<u64> {
        let stats = self.stats();
        let name = &self.backends[0].0;
        stats["backends"]
            .as_array()?
            .iter()
            .find(|b| b["name"] == name.as_str())?["weight"]
            .as_u64()
    }

    fn write(&self, settings: &str) {
        write_file(&self.path, settings, &self.backends, self.marker);
    }
}

/// The file: `settings`, then one `[[backend]]` table per backend, the
/// first with weight `marker`.
fn write_file(path: &PathBuf, settings: &str, backends: &[(String, SocketAddr)], marker: u64) {
    let mut text = format!("{settings}\n");
    for (i, (name, addr)) in backends.iter().enumerate() {
        text.push_str(&format!(
            "[[backend]]\naddress = \"{addr}\"\nname = \"{name}\"\n"
        ));
        if i == 0 {
            text.push_str(&format!("weight = {marker}\n"));
        }
    }
    std::fs::write(path, text).expect("write the config file");
}

impl Drop for ReloadableLb {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::SeqCst)
}
