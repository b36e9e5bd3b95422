//! An in-memory client connection to the proxy: the bytes each side sent
//! and got, and the adapter's part (lending backend connections, parking,
//! closing, timing out) played the way the real adapter plays it.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use crate::lb::backends::Backends;
use crate::lb::http::client::{Action, ClientConnection, Ending, Env, Event};
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

/// A client connection to a proxy with two backends, the adapter's part
/// played in memory: backend connections connect at once, and one released
/// for parking is lent again to the next request.
pub(super) struct Proxy {
    pub settings: Settings,
    pub backends: Backends,
    /// The worker's read buffers, shared by the client and its backends.
    pub buffers: BufferPool,
    pub now: Instant,
    pub connection: ClientConnection,
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
    pub closed: Option<Ending>,
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
            connection: ClientConnection::new(1, "10.0.0.7:4000".parse().unwrap(), &settings, now),
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
            let (connection, client, backend, mut env) = self.lend();
            let action = connection.step(&mut env, client, backend);
            if !self.perform(action) {
                return;
            }
        }
        panic!("the machine never waits");
    }

    /// Feeds an event to the machine and does what it asks; false when
    /// stepping should stop.
    fn tell(&mut self, event: Event) -> bool {
        let (connection, _, _, mut env) = self.lend();
        let action = connection.handle(&mut env, event);
        self.perform(action)
    }

    /// The machine, its peers and what it is lent, apart.
    fn lend(
        &mut self,
    ) -> (
        &mut ClientConnection,
        &mut Peer<Wire>,
        Option<&mut Peer<Wire>>,
        Env<'_>,
    ) {
        let env = Env {
            now: self.now,
            settings: &self.settings,
            backends: &mut self.backends,
            buffers: &mut self.buffers,
        };
        let backend = self.backend.as_mut();
        (&mut self.connection, &mut self.client, backend, env)
    }

    /// Does what an action asks; false when stepping should stop.
    fn perform(&mut self, action: Action) -> bool {
        match action {
            Action::Progress => {}
            Action::Wait => return false,
            Action::Connect { pick, fresh_only } => {
                self.connects.push((pick.backend, fresh_only));
                let addr = self.backends.addr(pick.backend);
                if self.refuse_connects {
                    let error = io::ErrorKind::ConnectionRefused.into();
                    return self.tell(Event::NoConnection { pick, error });
                }
                if let Some(parked) = self.parked.take().filter(|_| !fresh_only) {
                    self.backend = Some(parked);
                    return self.tell(Event::Lent {
                        pick,
                        addr,
                        reused: true,
                    });
                }
                self.backend = Some(Peer::connecting(Wire::default(), 4096));
                let lent = Event::Lent {
                    pick,
                    addr,
                    reused: false,
                };
                if !self.tell(lent) {
                    return false;
                }
                assert!(self.connection.awaiting_connect());
                if !self.slow_connects {
                    self.backend.as_mut().unwrap().writable = true;
                    return self.tell(Event::Connected);
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
                let now = self.now;
                let ticket = self.backends.queue().join(0, target, now, earlier);
                return self.tell(Event::Joined(ticket));
            }
            Action::Close(reason) => {
                self.closed = Some(reason);
                // As the adapter does: the connection goes, whatever it asks.
                let (connection, client, _, mut env) = self.lend();
                connection.handle(&mut env, Event::Closed);
                connection.give_back(env.buffers, client);
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
        self.now = self.connection.deadline(&self.settings) + Duration::from_millis(1);
        let buffered = !self.client.has_no_input();
        if self.tell(Event::Deadline { buffered }) {
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
        self.tell(Event::Admitted);
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
