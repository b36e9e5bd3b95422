//! Starting the anchor brokers (mosquitto, nats-server) on free loopback
//! ports for the bench's tests, and running the `broker-bench` binary.
//! Every broker is killed when its handle drops.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long a broker may take to accept its first connection.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A broker process listening on `addr`.
pub struct Broker {
    pub addr: SocketAddr,
    child: Child,
    config: Option<PathBuf>,
}

impl Broker {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(path) = &self.config {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
}

/// The path of a system tool, also looking in /usr/sbin (where Debian puts
/// mosquitto and nats-server).
fn tool(name: &str) -> PathBuf {
    for dir in std::env::var("PATH").unwrap_or_default().split(':') {
        let path = PathBuf::from(dir).join(name);
        if path.exists() {
            return path;
        }
    }
    let sbin = PathBuf::from("/usr/sbin").join(name);
    assert!(
        sbin.exists(),
        "this test needs `{name}` (Debian package {name}); `scripts/test` installs every tool the tests need"
    );
    sbin
}

fn start(mut command: Command, addr: SocketAddr, config: Option<PathBuf>) -> Broker {
    let child = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the broker starts");
    let mut broker = Broker {
        addr,
        child,
        config,
    };
    let deadline = Instant::now() + START_TIMEOUT;
    while TcpStream::connect(addr).is_err() {
        if let Ok(Some(status)) = broker.child.try_wait() {
            panic!("the broker exited with {status}");
        }
        assert!(Instant::now() < deadline, "nothing listens on {addr}");
        std::thread::sleep(Duration::from_millis(20));
    }
    broker
}

/// mosquitto with the configuration stress/compare-brokers uses.
pub fn mosquitto() -> Broker {
    let addr = free_addr();
    let config = std::env::temp_dir().join(format!(
        "broker-bench-test-mosquitto-{}-{}.conf",
        std::process::id(),
        addr.port()
    ));
    std::fs::write(
        &config,
        format!(
            "listener {} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\npersistence false\n",
            addr.port()
        ),
    )
    .expect("the mosquitto configuration is written");
    let mut command = Command::new(tool("mosquitto"));
    command.arg("-c").arg(&config);
    start(command, addr, Some(config))
}

/// nats-server with its defaults.
pub fn nats_server() -> Broker {
    let addr = free_addr();
    let mut command = Command::new(tool("nats-server"));
    command.args(["-a", "127.0.0.1", "-p", &addr.port().to_string()]);
    start(command, addr, None)
}

/// Runs `broker-bench` with `args`, within a bound.
pub fn bench(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_broker-bench"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("broker-bench starts");
    let deadline = Instant::now() + Duration::from_secs(120);
    while child
        .try_wait()
        .expect("broker-bench can be waited for")
        .is_none()
    {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("broker-bench {args:?} ran past 120 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("broker-bench's output")
}

/// The number after `key` in `text` (`-` when absent reads as `None`).
pub fn figure(text: &str, key: &str) -> Option<f64> {
    let at = text.find(key)? + key.len();
    text[at..]
        .split_whitespace()
        .next()?
        .trim_end_matches(',')
        .parse()
        .ok()
}
