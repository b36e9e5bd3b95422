//! The network adapter: one [`Node`] on the reactor, over one UDP socket.
//! It feeds datagrams and timer ticks into the node and sends what the node
//! returns; retries and timeouts live in the node, so no call waits forever.
//! Datagrams that are not JSON are read as the original Python client's
//! pickles (see [`super::legacy`]) and answered in its format.
//! On SIGTERM or SIGINT the node leaves gracefully and the loop ends once
//! its keys are handed over (or the hand-over timed out).

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::reactor::{Context, Interest, Reactor, Readiness, Service, TimerId, Token, UdpSocket};

use super::config::Config;
use super::legacy::{self, Method};
use super::message::{Message, NodeRef};
use super::node::{Node, OpId, Outgoing};
use super::wire;

/// How often the node's maintenance and timeouts run.
pub const TICK_INTERVAL: Duration = Duration::from_millis(50);
/// Datagrams read per wake-up before yielding to timers.
pub const DATAGRAMS_PER_WAKEUP: usize = 256;

const SOCKET: Token = Token(0);

/// A Chord node serving on a UDP socket.
pub struct UdpNode {
    socket: UdpSocket,
    node: Node<SocketAddr>,
    buffer: Vec<u8>,
    /// Operations started for the original client, and who waits for them.
    legacy: BTreeMap<OpId, (SocketAddr, Method)>,
    timer: Option<TimerId>,
}

impl UdpNode {
    /// Binds `listen` and prepares a node that creates a ring, or joins the
    /// ring of `join`. The node's id is the hash of its bound address.
    pub fn bind(
        listen: SocketAddr,
        join: Option<SocketAddr>,
        config: Config,
        now: Instant,
    ) -> io::Result<Self> {
        let socket = UdpSocket::bind(listen)?;
        let addr = socket.local_addr()?;
        let me = NodeRef {
            id: config.ring.key_id(addr.to_string().as_bytes()),
            addr,
        };
        let node = match join {
            None => Node::create(config, me, now),
            Some(known) => Node::join(config, me, known, now),
        };
        Ok(Self {
            socket,
            node,
            buffer: vec![0; wire::MAX_DATAGRAM_BYTES],
            legacy: BTreeMap::new(),
            timer: None,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.node.me().addr
    }

    /// The node.
    pub fn node(&self) -> &Node<SocketAddr> {
        &self.node
    }

    /// Registers the socket and the first tick on `reactor`.
    pub fn register(&mut self, reactor: &mut Reactor) -> io::Result<()> {
        reactor
            .registry()
            .register(&mut self.socket, SOCKET, Interest::READABLE)?;
        self.timer = Some(reactor.set_timer(Instant::now(), 0));
        Ok(())
    }

    fn send(&mut self, out: Vec<Outgoing<SocketAddr>>) {
        for (to, message) in out {
            self.send_one(to, &message);
        }
        for done in self.node.take_completions() {
            if let Some((client, method)) = self.legacy.remove(&done.op) {
                let _ = self
                    .socket
                    .send_to(&legacy::encode_reply(method, &done.outcome), client);
            }
        }
    }

    fn send_one(&self, to: SocketAddr, message: &Message<SocketAddr>) {
        // A datagram the kernel will not take now is as good as lost: the
        // request it carries is retried by its sender.
        let _ = self.socket.send_to(&wire::encode(message), to);
    }

    fn read_datagrams(&mut self, ctx: &mut Context<'_>) {
        for _ in 0..DATAGRAMS_PER_WAKEUP {
            let (len, from) = match self.socket.recv_from(&mut self.buffer) {
                Ok(got) => got,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // ICMP errors from an earlier send surface here; the request
                // that caused them times out on its own.
                Err(_) => continue,
            };
            let datagram = &self.buffer[..len];
            let now = ctx.now();
            if wire::is_json(datagram) {
                match wire::decode(datagram) {
                    Ok(message) => {
                        let out = self.node.handle(now, from, message);
                        self.send(out);
                    }
                    Err(e) => eprintln!("dht: dropped a datagram from {from}: {e}"),
                }
            } else {
                // Anything else is taken for the original client's pickles.
                match legacy::parse_request(datagram) {
                    Ok((method, request)) => {
                        let (op, out) = self.node.start(now, request);
                        self.legacy.insert(op, (from, method));
                        self.send(out);
                    }
                    Err(e) => {
                        eprintln!("dht: NACK to {from}: {e}");
                        let _ = self.socket.send_to(&legacy::nack(), from);
                    }
                }
            }
        }
        // Capped: come back after the timers had their turn.
        ctx.defer(SOCKET);
    }
}

impl Service for UdpNode {
    fn on_ready(&mut self, ctx: &mut Context<'_>, token: Token, _readiness: Readiness) {
        if token == SOCKET {
            self.read_datagrams(ctx);
        }
    }

    fn on_timer(&mut self, ctx: &mut Context<'_>, _id: TimerId, _payload: u64) {
        let out = self.node.tick(ctx.now());
        self.send(out);
        self.timer = Some(ctx.set_timer_after(TICK_INTERVAL, 0));
    }

    fn on_shutdown(&mut self, ctx: &mut Context<'_>) {
        let out = self.node.leave(ctx.now());
        self.send(out);
    }

    fn is_drained(&self) -> bool {
        self.node.has_left()
    }
}
