//! The backup wire protocol (docs/backup.md): every message is one JSON line,
//! its *head*, and a head may announce a raw body of `size` bytes that follows
//! it at once. Bodies are streamed in pieces of [`BODY_CHUNK_BYTES`], never
//! held whole. An uploaded body is followed by a [`Trailer`] line with its
//! SHA-256, so the sender hashes while it sends instead of reading the file
//! twice. One connection carries one request and its reply.
//!
//! This module owns the message types and the framing; it opens no listener
//! and knows nothing of catalogues or stores.

use std::fmt;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The longest head accepted, in bytes (a heartbeat lists every hash held).
pub const MAX_HEAD_BYTES: usize = 8 << 20;
/// The piece in which bodies are read, written and forwarded, in bytes.
pub const BODY_CHUNK_BYTES: usize = 1 << 20;
/// The buffer of a connection's reads and of its writes, in bytes (a body
/// piece larger than this goes straight to the socket).
pub const CONNECTION_BUFFER_BYTES: usize = 64 << 10;
/// The kernel's socket buffers asked for each way, in bytes: on a busy
/// machine each wake-up of a process in the pipeline moves this much.
pub const SOCKET_BUFFER_BYTES: usize = 4 << 20;
/// How long a connect may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one read or write may stall before the peer is given up.
pub const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// A request: the head a client, a server or the manager sends first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// Server to manager: I am alive, with this much room, holding these.
    Heartbeat {
        /// The address the server serves on (its identity).
        addr: String,
        /// Bytes it can still take.
        free: u64,
        /// The SHA-256 (hex) of every object it holds intact.
        held: Vec<String>,
    },
    /// Client to manager: where should this file go?
    Place {
        /// The file's name.
        name: String,
        /// Its size in bytes.
        size: u64,
        /// Servers the client could not upload to: placed only when no
        /// other server can take the file.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        avoid: Vec<String>,
    },
    /// Client to manager: these servers hold the content durably; record it.
    Commit {
        /// The file's name.
        name: String,
        /// Its size in bytes.
        size: u64,
        /// Its SHA-256, hex.
        sha256: String,
        /// The servers that acknowledged the content.
        holders: Vec<String>,
    },
    /// Client to manager: where can I read this version (the latest if none)?
    Locate {
        /// The file's name.
        name: String,
        /// A version number, from 1.
        version: Option<u32>,
    },
    /// Client to manager: the files whose names start with `prefix`.
    List {
        /// The prefix ("" for all).
        prefix: String,
    },
    /// Client to manager: forget every version of a name.
    Remove {
        /// The file's name.
        name: String,
    },
    /// Client to manager: servers and replication health.
    Status,
    /// To a server: store the body and [`Trailer`] that follow, and forward
    /// both down the pipeline.
    Store {
        /// The body's size in bytes.
        size: u64,
        /// The servers after this one in the pipeline, in order.
        forward: Vec<String>,
    },
    /// To a server: send me the object with this SHA-256.
    Fetch {
        /// The SHA-256, hex.
        sha256: String,
    },
}

/// The line after an uploaded body: the SHA-256 the body must have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trailer {
    /// Lowercase hex.
    pub sha256: String,
}

/// Work the manager hands a server in its heartbeat reply.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "task", rename_all = "snake_case")]
pub enum Task {
    /// Send your copy of `sha256` to the server at `to`.
    Copy {
        /// The object.
        sha256: String,
        /// Its size in bytes.
        size: u64,
        /// The receiving server.
        to: String,
    },
    /// Delete your copy of `sha256` (an extra or unreferenced copy).
    Delete {
        /// The object.
        sha256: String,
    },
}

/// One line of `ls`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileEntry {
    /// The name.
    pub name: String,
    /// The latest version's size in bytes.
    pub size: u64,
    /// How many versions are kept.
    pub versions: u32,
    /// Live copies of the latest version.
    pub copies: usize,
}

/// One server in `status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerEntry {
    /// Its address.
    pub addr: String,
    /// Heard from within the dead-after window.
    pub alive: bool,
    /// Bytes it can still take.
    pub free: u64,
    /// Objects it holds.
    pub held: usize,
}

/// A reply head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Reply {
    /// The request failed; nothing was done.
    Error {
        /// Why, in words.
        error: String,
    },
    /// The request was carried out.
    Done,
    /// To a heartbeat: work to do.
    Tasks {
        /// Copies to send and copies to delete.
        tasks: Vec<Task>,
    },
    /// To a place: send the body to `pipeline[0]`, forwarding to the rest.
    Placement {
        /// Servers, most free space first.
        pipeline: Vec<String>,
    },
    /// To a commit: the version number given.
    Committed {
        /// From 1.
        version: u32,
    },
    /// To a locate: the version and where its copies live, live ones first.
    Location {
        /// The version number.
        version: u32,
        /// Size in bytes.
        size: u64,
        /// SHA-256, hex.
        sha256: String,
        /// Servers to try in order.
        copies: Vec<String>,
    },
    /// To a list.
    Files {
        /// Sorted by name.
        files: Vec<FileEntry>,
    },
    /// To a status.
    Status {
        /// Every server ever heard from since the manager started.
        servers: Vec<ServerEntry>,
        /// The replication factor.
        replicas: usize,
        /// Names in the catalogue.
        files: usize,
        /// Distinct contents with fewer live copies than `replicas`.
        under_replicated: usize,
    },
    /// To a store: every server that now holds the content durably.
    Stored {
        /// This server first, then those down the pipeline.
        holders: Vec<String>,
    },
    /// To a fetch: a body of `size` bytes follows.
    Body {
        /// In bytes.
        size: u64,
    },
}

/// What goes wrong on a connection.
#[derive(Debug)]
pub enum WireError {
    /// A socket or file operation failed.
    Io(io::Error),
    /// The peer closed before a whole message arrived.
    Closed,
    /// A head longer than [`MAX_HEAD_BYTES`].
    HeadTooLong,
    /// A head that is not a message of this protocol.
    BadHead(String),
    /// The peer answered with an error.
    Remote(String),
    /// The peer answered with a reply that does not fit the request.
    Unexpected(String),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Io(e) => write!(f, "{e}"),
            WireError::Closed => write!(f, "the peer closed the connection mid-message"),
            WireError::HeadTooLong => write!(f, "a message head over {MAX_HEAD_BYTES} bytes"),
            WireError::BadHead(why) => write!(f, "bad request: {why}"),
            WireError::Remote(why) => write!(f, "{why}"),
            WireError::Unexpected(what) => write!(f, "unexpected reply: {what}"),
        }
    }
}

impl std::error::Error for WireError {}

impl From<io::Error> for WireError {
    fn from(e: io::Error) -> Self {
        WireError::Io(e)
    }
}

/// True for a lowercase hex SHA-256 (64 digits): the only shape an object
/// name on a server's disk can take, so a hash can never be a path.
pub fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Lowercase hex of a finished SHA-256.
pub fn hex_digest(hasher: Sha256) -> String {
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Reads one head line (without its newline) of at most [`MAX_HEAD_BYTES`].
/// `Ok(None)` when the peer closed before sending anything.
pub fn read_head<R: BufRead>(reader: &mut R) -> Result<Option<Vec<u8>>, WireError> {
    let mut head = Vec::new();
    loop {
        let available = match reader.fill_buf() {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        if available.is_empty() {
            return if head.is_empty() {
                Ok(None)
            } else {
                Err(WireError::Closed)
            };
        }
        let (take, done) = match available.iter().position(|&b| b == b'\n') {
            Some(at) => (at + 1, true),
            None => (available.len(), false),
        };
        if head.len() + take > MAX_HEAD_BYTES + 1 {
            return Err(WireError::HeadTooLong);
        }
        head.extend_from_slice(&available[..take]);
        reader.consume(take);
        if done {
            head.pop();
            return Ok(Some(head));
        }
    }
}

/// Parses a head as a message of type `T`.
pub fn parse_head<T: for<'de> Deserialize<'de>>(head: &[u8]) -> Result<T, WireError> {
    serde_json::from_slice(head).map_err(|e| WireError::BadHead(e.to_string()))
}

/// Writes `message` as one head line (not flushed).
pub fn write_head<W: Write, T: Serialize>(writer: &mut W, message: &T) -> io::Result<()> {
    serde_json::to_writer(&mut *writer, message)?;
    writer.write_all(b"\n")
}

/// Copies exactly `size` bytes from `reader` in bounded pieces, handing each
/// piece to `sink`. A short body is [`WireError::Closed`].
pub fn copy_body<R: Read>(
    reader: &mut R,
    size: u64,
    mut sink: impl FnMut(&[u8]) -> Result<(), WireError>,
) -> Result<(), WireError> {
    let mut buffer = vec![0u8; BODY_CHUNK_BYTES];
    let mut left = size;
    while left > 0 {
        let want = left.min(BODY_CHUNK_BYTES as u64) as usize;
        let got = match reader.read(&mut buffer[..want]) {
            Ok(0) => return Err(WireError::Closed),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        sink(&buffer[..got])?;
        left -= got as u64;
    }
    Ok(())
}

/// One request/reply connection.
pub struct Connection {
    /// Buffered reads: the reply head, then its body.
    pub reader: BufReader<TcpStream>,
    /// Buffered writes: the request head, then its body.
    pub writer: BufWriter<TcpStream>,
    /// Who is at the other end.
    pub peer: String,
}

impl Connection {
    /// Connects to `addr` with [`CONNECT_TIMEOUT`] and [`IO_TIMEOUT`].
    pub fn open(addr: &str) -> Result<Connection, WireError> {
        let target: SocketAddr = addr
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address"))?;
        let stream = TcpStream::connect_timeout(&target, CONNECT_TIMEOUT).map_err(|e| {
            WireError::Io(io::Error::new(
                e.kind(),
                format!("cannot reach {addr}: {e}"),
            ))
        })?;
        Self::wrap(stream, addr.to_string())
    }

    /// Wraps an accepted or connected stream.
    pub fn wrap(stream: TcpStream, peer: String) -> Result<Connection, WireError> {
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        let _ = stream.set_nodelay(true);
        let socket = socket2::SockRef::from(&stream);
        let _ = socket.set_send_buffer_size(SOCKET_BUFFER_BYTES);
        let _ = socket.set_recv_buffer_size(SOCKET_BUFFER_BYTES);
        let write_half = stream.try_clone()?;
        Ok(Connection {
            reader: BufReader::with_capacity(CONNECTION_BUFFER_BYTES, stream),
            writer: BufWriter::with_capacity(CONNECTION_BUFFER_BYTES, write_half),
            peer,
        })
    }

    /// Sends a head and flushes it.
    pub fn send<T: Serialize>(&mut self, message: &T) -> Result<(), WireError> {
        write_head(&mut self.writer, message)?;
        self.writer.flush()?;
        Ok(())
    }

    /// Reads a reply head; an `Error` reply becomes [`WireError::Remote`].
    pub fn reply(&mut self) -> Result<Reply, WireError> {
        let head = read_head(&mut self.reader)?.ok_or(WireError::Closed)?;
        match parse_head(&head)? {
            Reply::Error { error } => Err(WireError::Remote(error)),
            reply => Ok(reply),
        }
    }
}

/// Sends one body-less request to `addr` and returns its reply.
pub fn call(addr: &str, request: &Request) -> Result<Reply, WireError> {
    let mut connection = Connection::open(addr)?;
    connection.send(request)?;
    connection.reply()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_is_read_up_to_its_newline_and_the_body_stays_buffered() {
        let bytes = b"{\"op\":\"status\"}\nBODY";
        let mut reader = BufReader::new(&bytes[..]);
        let head = read_head(&mut reader).unwrap().unwrap();
        assert_eq!(parse_head::<Request>(&head).unwrap(), Request::Status);
        let mut body = Vec::new();
        copy_body(&mut reader, 4, |piece| {
            body.extend_from_slice(piece);
            Ok(())
        })
        .unwrap();
        assert_eq!(body, b"BODY");
    }

    #[test]
    fn an_empty_stream_is_no_head_and_a_cut_head_is_closed() {
        assert!(read_head(&mut BufReader::new(&b""[..])).unwrap().is_none());
        assert!(matches!(
            read_head(&mut BufReader::new(&b"{\"op\""[..])),
            Err(WireError::Closed)
        ));
    }

    #[test]
    fn a_head_over_the_limit_is_refused_without_reading_it_all() {
        let long = vec![b'x'; MAX_HEAD_BYTES + 10];
        assert!(matches!(
            read_head(&mut BufReader::new(&long[..])),
            Err(WireError::HeadTooLong)
        ));
    }

    #[test]
    fn garbage_and_unknown_ops_are_bad_heads() {
        assert!(matches!(
            parse_head::<Request>(b"\x00\xff garbage"),
            Err(WireError::BadHead(_))
        ));
        assert!(matches!(
            parse_head::<Request>(br#"{"op":"format_disk"}"#),
            Err(WireError::BadHead(_))
        ));
    }

    #[test]
    fn a_short_body_is_closed() {
        let mut reader = BufReader::new(&b"abc"[..]);
        assert!(matches!(
            copy_body(&mut reader, 10, |_| Ok(())),
            Err(WireError::Closed)
        ));
    }

    #[test]
    fn only_lowercase_64_digit_hex_is_a_hash() {
        assert!(is_sha256_hex(&"a".repeat(64)));
        assert!(!is_sha256_hex(&"A".repeat(64)));
        assert!(!is_sha256_hex("../../etc/passwd"));
        assert!(!is_sha256_hex(&"a".repeat(63)));
    }

    #[test]
    fn messages_round_trip_through_json() {
        let request = Request::Store {
            size: 7,
            forward: vec!["127.0.0.1:1".into()],
        };
        let mut line = Vec::new();
        write_head(&mut line, &request).unwrap();
        assert_eq!(line.last(), Some(&b'\n'));
        assert_eq!(
            parse_head::<Request>(&line[..line.len() - 1]).unwrap(),
            request
        );
        let empty = hex_digest(Sha256::new());
        assert_eq!(
            empty,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
