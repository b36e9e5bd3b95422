//! Launchers and probes for the broker's connection limits: a broker under
//! a small open-files limit, and raw clients that ask for the topic list and
//! tell whether the broker answered.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use distloop::broker::{Frame, Serializer};

use crate::support::{Server, distloop_bin};

/// A broker on an ephemeral port with `extra` flags.
pub fn broker(extra: &[&str]) -> Server {
    let mut args = vec!["broker", "--listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    Server::start(distloop_bin(), &args)
}

/// A broker whose process may hold at most `open_files` descriptors (set
/// with the shell's `ulimit -n` before it starts).
pub fn broker_with_open_files(open_files: u32) -> Server {
    let bin = distloop_bin();
    let script = format!("ulimit -n {open_files} && exec \"$0\" \"$@\"");
    Server::start(
        "sh",
        &[
            "-c",
            &script,
            bin.to_str().expect("a UTF-8 path"),
            "broker",
            "--listen",
            "127.0.0.1:0",
        ],
    )
}

/// A connection that has asked for the topic list.
pub struct Asker {
    stream: TcpStream,
}

impl Asker {
    /// Connects (the kernel completes the handshake even while the broker
    /// does not accept) and sends one topic-list request.
    pub fn ask(addr: SocketAddr) -> Asker {
        let mut stream = TcpStream::connect(addr).expect("connect to the broker");
        let request = Frame::List {
            serializer: Serializer::Json,
        }
        .to_bytes();
        stream.write_all(&request).expect("send the request");
        Asker { stream }
    }

    /// True when the answer's first byte arrives within `wait`.
    pub fn answered_within(&mut self, wait: Duration) -> bool {
        self.stream.set_read_timeout(Some(wait)).unwrap();
        let mut byte = [0u8; 1];
        matches!(self.stream.read(&mut byte), Ok(1))
    }
}
