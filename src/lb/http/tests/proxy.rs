//! An in-memory client connection to the proxy: the bytes each side sent
//! and got, and the pump's part (lending backend connections, parking,
//! closing, timing out) played the way the real pump plays it.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use crate::lb::backends::Backends;
use crate::lb::http::incoming::{Action, Env, Incoming};
use crate::lb::http::peer::Peer;
use crate::lb::http::settings::{Settings, buffer_limits};
use crate::lb::{LbConfig, Mode, Strategy};
use crate::reactor::buffer_pool::BufferPool;
use crate::reactor::{HalfClose, Readiness};

/// One end of an in-memory connection, as the proxy sees it.
#[derive(Debug, Default)]
pub(super) struct Wire {
    /// Sent by the far end, not yet read by the proxy.
    unread: VecDeque<u8>,
    /// The far end closed its side.
    pub closed: bool,
    /// The far end reset the connection: reads fail.
    pub reset: bool,
    /// Written by the proxy.
    written: Vec<u8>,
    /// The proxy half-closed.
    pub shut: bool,
    /// The stream holds written bytes back (as TLS does with records the
    /// socket did not take): `flush` says `WouldBlock`.
    pub holds_back: bool,
}

impl Read for Wire {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.reset {
            return Err(io::ErrorKind::ConnectionReset.into());
        }
        if self.unread.is_empty() {
            return match self.closed {
                true => Ok(0),
                false => Err(io::ErrorKind::WouldBlock.into()),
            };
        }
        let n = self.unread.read(buf)?;
        Ok(n)
    }
}

impl Write for Wire {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.written.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.holds_back {
            true => Err(io::ErrorKind::WouldBlock.into()),
            false => Ok(()),
        }
    }
}

impl HalfClose for Wire {
    fn close_write(&mut self) -> io::Result<()> {
        self.shut = true;
        Ok(())
    }
}

fn sends(peer: &mut Peer<Wire>, bytes: &[u8]) {
    peer.stream.unread.extend(bytes);
    peer.note(Readiness {
        readable: true,
        ..Readiness::default()
    });
}

pub(super) fn closes(peer: &mut Peer<Wire>) {
    peer.stream.closed = true;
    peer.note(Readiness {
        readable: true,
        read_closed: true,
        ..Readiness::default()
    });
}

fn taken(peer: &mut Peer<Wire>) -> String {
    String::from_utf8(std::mem::take(&mut peer.stream.written)).unwrap()
}

/// A client connection to a proxy with two backends, the pump's part
/// played in memory: backend connections connect at once, and one released
/// for parking is lent again to the next request.
pub(super) struct Proxy {
    pub settings: Settings,
    pub backends: Backends,
    /// The worker's read buffers, shared by the client and its backends.
    pub buffers: BufferPool,
    pub now: Instant,
    pub incoming: Incoming,
    pub client: Peer<Wire>,
    pub backend: Option<Peer<Wire>>,
    pub parked: Option<Peer<Wire>>,
    /// Backend picked for each connection asked for, and whether it had to be fresh.
    pub connects: Vec<(usize, bool)>,
    /// Whether each backend connection released was parked.
    pub released: Vec<bool>,
    pub refuse_connects: bool,
    /// New backend connections stay connecting until the test says otherwise.
    pub slow_connects: bool,
    pub closed: Option<io::Error>,
}

impl Proxy {
    pub fn new() -> Self {
        Self::with(|_| {})
    }

    pub fn with(configure: impl FnOnce(&mut LbConfig)) -> Self {
        let mut config = LbConfig::new(
            "127.0.0.1:0".parse().unwrap(),
            vec![
                "127.0.0.1:9001".parse().unwrap(),
                "127.0.0.1:9002".parse().unwrap(),
            ],
            Strategy::RoundRobin,
            Mode::Http,
        );
        configure(&mut config);
        let backends = Backends::new(&config, None);
        let now = Instant::now();
        let buffers = BufferPool::new(buffer_limits(&config), now).unwrap();
        let settings = Settings::new(config);
        Self {
            buffers,
            incoming: Incoming::new("10.0.0.7:4000".parse().unwrap(), &settings, now),
            client: Peer::connected(Wire::default()),
            settings,
            backends,
            now,
            backend: None,
            parked: None,
            connects: Vec::new(),
            released: Vec::new(),
            refuse_connects: false,
            slow_connects: false,
            closed: None,
        }
    }

    /// Steps until the machine waits or closes the connection.
    pub fn run(&mut self) {
        for _ in 0..1000 {
            let mut env = Env {
                now: self.now,
                settings: &self.settings,
                backends: &mut self.backends,
                buffers: &mut self.buffers,
            };
            let action = self
                .incoming
                .step(&mut env, &mut self.client, self.backend.as_mut());
            if !self.perform(action) {
                return;
            }
        }
        panic!("the machine never waits");
    }

    /// Does what an action asks; false when stepping should stop.
    fn perform(&mut self, action: Action) -> bool {
        let mut env = Env {
            now: self.now,
            settings: &self.settings,
            backends: &mut self.backends,
            buffers: &mut self.buffers,
        };
        match action {
            Action::Progress => {}
            Action::Wait => return false,
            Action::Connect { pick, fresh_only } => {
                self.connects.push((pick.backend, fresh_only));
                let addr = env.backends.addr(pick.backend);
                if self.refuse_connects {
                    let refused = io::ErrorKind::ConnectionRefused.into();
                    self.incoming.connect_failed(&mut env, pick, &refused);
                } else if let Some(parked) = self.parked.take().filter(|_| !fresh_only) {
                    self.backend = Some(parked);
                    self.incoming.attach(pick, addr, true, self.now);
                } else {
                    self.backend = Some(Peer::connecting(Wire::default(), 4096));
                    self.incoming.attach(pick, addr, false, self.now);
                    assert!(self.incoming.awaiting_connect());
                    if !self.slow_connects {
                        self.backend.as_mut().unwrap().writable = true;
                        self.incoming.backend_connected();
                    }
                }
            }
            Action::Release { park } => {
                self.released.push(park);
                if let Some(mut backend) = self.backend.take() {
                    match park {
                        true => self.parked = Some(backend),
                        false => backend.give_back(&mut self.buffers),
                    }
                }
            }
            Action::Queue { target, earlier } => {
                let ticket = env.backends.queue().join(0, target, self.now, earlier);
                self.incoming.wait_in_queue(ticket);
                return false;
            }
            Action::Close(reason) => {
                self.closed = Some(reason);
                self.incoming.give_back(&mut self.buffers, &mut self.client);
                if let Some(backend) = self.backend.as_mut() {
                    backend.give_back(&mut self.buffers);
                }
                return false;
            }
        }
        true
    }

    /// Lets the current deadline pass.
    pub fn time_out(&mut self) {
        self.now = self.incoming.deadline(&self.settings) + Duration::from_millis(1);
        let mut env = Env {
            now: self.now,
            settings: &self.settings,
            backends: &mut self.backends,
            buffers: &mut self.buffers,
        };
        let buffered = !self.client.has_no_input();
        let action = self.incoming.on_deadline(&mut env, buffered);
        if self.perform(action) {
            self.run();
        }
    }

    /// Lets the waiting request in, as the balancer does when a slot
    /// frees; false when no backend has room for it.
    pub fn admit(&mut self) -> bool {
        let Some((ticket, _)) = self.backends.next_admissible(|_| &[]) else {
            return false;
        };
        self.backends.queue().admit(ticket, self.now);
        self.incoming.admitted();
        self.run();
        true
    }

    pub fn client_sends(&mut self, bytes: &str) {
        sends(&mut self.client, bytes.as_bytes());
        self.run();
    }

    pub fn backend_sends(&mut self, bytes: &str) {
        sends(
            self.backend.as_mut().expect("a backend connection"),
            bytes.as_bytes(),
        );
        self.run();
    }

    pub fn client_got(&mut self) -> String {
        taken(&mut self.client)
    }

    pub fn backend_got(&mut self) -> String {
        taken(self.backend.as_mut().expect("a backend connection"))
    }

    /// The status line of the error the client got (and was half-closed after).
    pub fn error_answer(&mut self) -> String {
        let out = self.client_got();
        assert!(self.client.stream.shut, "half-closed after an error: {out}");
        out.lines().next().unwrap_or_default().to_string()
    }
}
