//! A blocking client of a ring over UDP, for the command line and tests:
//! sends one request to any node and waits for its answer, retrying a
//! bounded number of times. Every call ends within
//! `CLIENT_ATTEMPTS × CLIENT_ATTEMPT_TIMEOUT`.

use std::fmt;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use super::message::{Body, ClientRequest, Message, NodeRef, OperationError, Outcome};
use super::wire;

/// How long one attempt waits for the answer. A node's own lookup may meet a
/// few dead nodes, each costing it `request_attempts × request_timeout`.
pub const CLIENT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);
/// Attempts before the client gives up.
pub const CLIENT_ATTEMPTS: u32 = 3;
/// Nodes a ring walk visits at most.
pub const MAX_RING_WALK: usize = 100_000;

/// Why a client call failed.
#[derive(Debug)]
pub enum ClientError {
    /// The node never answered.
    Timeout(SocketAddr),
    /// The local socket failed.
    Io(io::Error),
    /// The node answered that the operation failed.
    Failed(OperationError),
    /// The node answered something that is not an answer to the request.
    Unexpected(SocketAddr),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout(addr) => write!(
                f,
                "node {addr} did not answer {CLIENT_ATTEMPTS} attempts of {CLIENT_ATTEMPT_TIMEOUT:?}"
            ),
            Self::Io(e) => write!(f, "socket error: {e}"),
            Self::Failed(e) => write!(f, "the ring could not do it: {e}"),
            Self::Unexpected(addr) => write!(f, "node {addr} answered out of protocol"),
        }
    }
}

impl std::error::Error for ClientError {}

impl From<io::Error> for ClientError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

/// One node as the ring walk sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    /// The node.
    pub node: NodeRef<SocketAddr>,
    /// Its predecessor.
    pub predecessor: Option<NodeRef<SocketAddr>>,
    /// Its successor list.
    pub successors: Vec<NodeRef<SocketAddr>>,
    /// Keys stored (owned and replicas).
    pub stored: u64,
    /// Keys owned.
    pub owned: u64,
}

/// A UDP client with its own socket.
pub struct Client {
    socket: UdpSocket,
    next_id: u64,
    attempt_timeout: Duration,
    buffer: Vec<u8>,
}

impl Client {
    /// A client on an ephemeral local port of the family of `near`.
    pub fn new(near: SocketAddr) -> Result<Self, ClientError> {
        let local: SocketAddr = if near.is_ipv4() {
            "0.0.0.0:0".parse().expect("literal")
        } else {
            "[::]:0".parse().expect("literal")
        };
        let socket = UdpSocket::bind(local)?;
        // Request ids only need to differ between clients sharing a node's
        // attention at once; the clock's nanoseconds are enough for that.
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        Ok(Self {
            socket,
            next_id: seed | (1 << 63),
            attempt_timeout: CLIENT_ATTEMPT_TIMEOUT,
            buffer: vec![0; wire::MAX_DATAGRAM_BYTES],
        })
    }

    /// Changes the wait of one attempt.
    pub fn set_attempt_timeout(&mut self, timeout: Duration) {
        self.attempt_timeout = timeout;
    }

    /// Sends `body` to `node` and waits for the answer with the same id.
    pub fn call(
        &mut self,
        node: SocketAddr,
        body: Body<SocketAddr>,
    ) -> Result<Body<SocketAddr>, ClientError> {
        self.next_id = self.next_id.wrapping_add(1);
        let message = Message {
            id: self.next_id,
            body,
        };
        let bytes = wire::encode(&message);
        for _ in 0..CLIENT_ATTEMPTS {
            self.socket.send_to(&bytes, node)?;
            let deadline = Instant::now() + self.attempt_timeout;
            while let Some(left) = deadline.checked_duration_since(Instant::now()) {
                if left.is_zero() {
                    break;
                }
                self.socket.set_read_timeout(Some(left))?;
                let (len, from) = match self.socket.recv_from(&mut self.buffer) {
                    Ok(got) => got,
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                        ) =>
                    {
                        break;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    // An ICMP "port unreachable" from an earlier attempt.
                    Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => break,
                    Err(e) => return Err(e.into()),
                };
                if from != node {
                    continue;
                }
                match wire::decode(&self.buffer[..len]) {
                    Ok(answer) if answer.id == message.id => return Ok(answer.body),
                    // A late answer to an earlier attempt or call.
                    _ => continue,
                }
            }
        }
        Err(ClientError::Timeout(node))
    }

    fn client(
        &mut self,
        node: SocketAddr,
        request: ClientRequest,
    ) -> Result<Outcome<SocketAddr>, ClientError> {
        match self.call(node, Body::Client(request))? {
            Body::ClientReply(Outcome::Failed(e)) => Err(ClientError::Failed(e)),
            Body::ClientReply(outcome) => Ok(outcome),
            _ => Err(ClientError::Unexpected(node)),
        }
    }

    /// Stores `value` under `key` through `node`.
    pub fn put(&mut self, node: SocketAddr, key: &str, value: &[u8]) -> Result<(), ClientError> {
        let request = ClientRequest::Put {
            key: key.to_string(),
            value: value.to_vec(),
        };
        match self.client(node, request)? {
            Outcome::Stored => Ok(()),
            _ => Err(ClientError::Unexpected(node)),
        }
    }

    /// Reads `key` through `node`: `None` when absent. A value the original
    /// client put reads as its text (see [`super::legacy::pickled_as_bytes`]).
    pub fn get(&mut self, node: SocketAddr, key: &str) -> Result<Option<Vec<u8>>, ClientError> {
        match self.client(
            node,
            ClientRequest::Get {
                key: key.to_string(),
            },
        )? {
            Outcome::Value(value) => Ok(value),
            Outcome::Pickled(stored) => Ok(Some(super::legacy::pickled_as_bytes(&stored))),
            _ => Err(ClientError::Unexpected(node)),
        }
    }

    /// Deletes `key` through `node`: true when it existed.
    pub fn delete(&mut self, node: SocketAddr, key: &str) -> Result<bool, ClientError> {
        match self.client(
            node,
            ClientRequest::Delete {
                key: key.to_string(),
            },
        )? {
            Outcome::Deleted(existed) => Ok(existed),
            _ => Err(ClientError::Unexpected(node)),
        }
    }

    /// Asks `node` for its neighbours and key counts.
    pub fn info(&mut self, node: SocketAddr) -> Result<NodeInfo, ClientError> {
        match self.call(node, Body::GetNeighbors)? {
            Body::Neighbors {
                node,
                predecessor,
                successors,
                stored,
                owned,
            } => Ok(NodeInfo {
                node,
                predecessor,
                successors,
                stored,
                owned,
            }),
            _ => Err(ClientError::Unexpected(node)),
        }
    }

    /// Walks the ring from `start` along successor pointers until it comes
    /// back to `start`: every node once, in ring order from `start`.
    pub fn walk(&mut self, start: SocketAddr) -> Result<Vec<NodeInfo>, ClientError> {
        let first = self.info(start)?;
        let origin = first.node.addr;
        let mut ring = vec![first];
        while ring.len() < MAX_RING_WALK {
            let last = ring.last().expect("not empty");
            let Some(next) = last.successors.first().map(|n| n.addr) else {
                break;
            };
            if next == origin || ring.iter().any(|n| n.node.addr == next) {
                break;
            }
            ring.push(self.info(next)?);
        }
        Ok(ring)
    }
}
