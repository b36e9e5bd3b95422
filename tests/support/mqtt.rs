//! MQTT pieces of the broker tests: a raw MQTT client on a blocking socket
//! (the broker's own codec, for the packets the real tools will not send)
//! and `mosquitto_sub` as a child process that says when it is subscribed.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use distloop::broker::mqtt::codec::{Decoded, Will, parse_packet};
use distloop::broker::mqtt::encode;

/// How long a test waits for one thing to arrive.
pub const WAIT: Duration = Duration::from_secs(10);

/// An MQTT connection on a blocking socket, packets read with the codec.
pub struct RawMqtt {
    /// The socket.
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl RawMqtt {
    /// Opens a TCP connection and sends nothing yet.
    pub fn open(addr: SocketAddr) -> RawMqtt {
        let stream = TcpStream::connect(addr).expect("connect to the MQTT listener");
        stream.set_read_timeout(Some(WAIT)).unwrap();
        RawMqtt {
            stream,
            buf: Vec::new(),
        }
    }

    /// Opens a connection, sends CONNECT and expects CONNACK 0.
    pub fn connect(
        addr: SocketAddr,
        client_id: &str,
        keep_alive: u16,
        will: Option<&Will<'_>>,
    ) -> RawMqtt {
        let mut c = RawMqtt::open(addr);
        let mut out = Vec::new();
        encode::connect(client_id, true, keep_alive, will, &mut out);
        c.send(&out);
        assert_eq!(c.next_packet(), Some("ConnAck(false, 0)".into()));
        c
    }

    /// Writes bytes as they are.
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Subscribes to filters and waits for the SUBACK; returns its codes.
    pub fn subscribe(&mut self, filters: &[(&str, u8)]) -> String {
        let mut out = Vec::new();
        encode::subscribe(1, filters, &mut out);
        self.send(&out);
        self.next_packet().expect("a SUBACK")
    }

    /// Publishes at QoS 0.
    pub fn publish(&mut self, topic: &str, payload: &[u8]) {
        let mut out = Vec::new();
        encode::publish(topic, 0, false, 0, payload, &mut out);
        self.send(&out);
    }

    /// The next packet as its Debug text; `None` when the broker closed
    /// the connection (or it broke).
    pub fn next_packet(&mut self) -> Option<String> {
        loop {
            match parse_packet(&self.buf, usize::MAX) {
                Ok(Decoded::Complete(packet, n)) => {
                    let text = format!("{packet:?}");
                    self.buf.drain(..n);
                    return Some(text);
                }
                Ok(Decoded::Partial) => {}
                Err(e) => panic!("the broker sent a bad packet: {e}"),
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// The payload of the next PUBLISH, as text.
    pub fn next_payload(&mut self) -> String {
        let packet = self.next_packet().expect("a PUBLISH");
        assert!(packet.starts_with("Publish"), "{packet}");
        packet
    }

    /// True when the broker closes the connection within `WAIT` (whatever
    /// it sends first).
    pub fn is_closed_by_broker(&mut self) -> bool {
        let mut chunk = [0u8; 65536];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e) => return e.kind() == std::io::ErrorKind::ConnectionReset,
            }
        }
    }
}

/// Encodes the Debug text of a payload the way `Packet::Publish` shows it.
pub fn shown(payload: &[u8]) -> String {
    format!("payload: {:?}", payload.to_vec())
}

/// A `mosquitto_sub` child, killed when dropped, its message lines on a channel.
pub struct MosquittoSub {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl MosquittoSub {
    /// Runs `mosquitto_sub -v -d` with `args` and waits for its SUBACK.
    /// `stdbuf` makes its stdout line-buffered, so each line comes at once.
    pub fn start(addr: SocketAddr, args: &[&str]) -> MosquittoSub {
        let port = addr.port().to_string();
        crate::support::require_tool("mosquitto_sub");
        let mut child = crate::support::tool("stdbuf")
            .args(["-oL", "mosquitto_sub", "-h", "127.0.0.1", "-p", &port])
            .args(["-v", "-d", "-W", "20"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("mosquitto_sub is installed (Debian: mosquitto-clients)");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let sub = MosquittoSub { child, lines };
        loop {
            let line = sub
                .lines
                .recv_timeout(WAIT)
                .expect("mosquitto_sub subscribes");
            if line.contains("received SUBACK") {
                return sub;
            }
        }
    }

    /// The next message line (`TOPIC PAYLOAD`), skipping debug lines.
    pub fn next_message(&self) -> Option<String> {
        loop {
            let line = self.lines.recv_timeout(WAIT).ok()?;
            if !line.starts_with("Client ") && !line.starts_with("Subscribed") {
                return Some(line);
            }
        }
    }
}

impl Drop for MosquittoSub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `mosquitto_pub` with `args` against `addr`; true on exit 0.
pub fn mosquitto_pub(addr: SocketAddr, args: &[&str]) -> bool {
    let port = addr.port().to_string();
    crate::support::tool("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &port])
        .args(args)
        .status()
        .expect("mosquitto_pub is installed (Debian: mosquitto-clients)")
        .success()
}
