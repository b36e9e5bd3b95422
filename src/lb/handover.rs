//! Zero-downtime upgrade: a running balancer hands its listening sockets to
//! a new process over a Unix socket, then stops accepting and drains.
//!
//! Passing the sockets themselves (SCM_RIGHTS), as HAProxy does, rather
//! than binding the port again with SO_REUSEPORT, matters: a connection
//! already queued in a listener's backlog belongs to that listener, and
//! closing it resets the connection. A passed listener is the same kernel
//! socket in both processes, so nothing queued is lost; whichever process
//! accepts next serves it.
//!
//! The exchange on the Unix socket (`--upgrade-socket PATH`):
//! 1. the new process connects; the old one sends one message, the line
//!    [`Offer`] carrying the client listeners (one per worker) and the admin
//!    listener as ancillary data;
//! 2. the new process answers `ok` once it has built its workers on them,
//!    or `refused REASON` (the old one then keeps serving as before);
//! 3. on `ok` the old process removes PATH, closes the Unix connection (the
//!    new one then listens on PATH for the next upgrade) and drains.
//!
//! [`Offer`] is plain data, parsed and written apart from the sockets.

use std::fmt;
use std::io::{self, BufRead, BufReader, IoSlice, IoSliceMut, Read, Write};
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};

use crate::reactor::Handle;
use crate::{info, warn};

/// The most listeners one handover carries: the most workers and the admin.
pub const MAX_LISTENERS: usize = super::config::MAX_WORKERS + 1;
/// The longest the offer line may be, in bytes.
const MAX_OFFER_BYTES: usize = 512;
/// How long either side waits for the other during a handover.
pub const HANDOVER_TIMEOUT: Duration = Duration::from_secs(10);
/// The first word of an offer, with the version of the exchange.
const OFFER_TAG: &str = "distloop-lb-listeners/1";

/// What the old process offers: which listeners come with the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offer {
    /// Client listeners, one per worker, first in the message.
    pub workers: usize,
    /// Whether the admin listener follows them.
    pub admin: bool,
    /// The address the client listeners accept on.
    pub listen: SocketAddr,
}

impl Offer {
    /// The offer as its one line, `distloop-lb-listeners/1 workers=2 admin=1 listen=ADDR\n`.
    pub fn to_line(&self) -> String {
        format!(
            "{OFFER_TAG} workers={} admin={} listen={}\n",
            self.workers,
            u8::from(self.admin),
            self.listen
        )
    }

    /// Parses an offer line.
    pub fn parse(line: &str) -> Result<Self, HandoverError> {
        let bad = || HandoverError::Protocol(format!("unexpected offer `{}`", line.trim()));
        let mut words = line.split_whitespace();
        if words.next() != Some(OFFER_TAG) {
            return Err(bad());
        }
        let (mut workers, mut admin, mut listen) = (None, None, None);
        for word in words {
            match word.split_once('=').ok_or_else(bad)? {
                ("workers", n) => workers = n.parse().ok(),
                ("admin", "0") => admin = Some(false),
                ("admin", "1") => admin = Some(true),
                ("listen", addr) => listen = addr.parse().ok(),
                _ => return Err(bad()),
            }
        }
        match (workers, admin, listen) {
            (Some(workers), Some(admin), Some(listen)) if (1..MAX_LISTENERS).contains(&workers) => {
                Ok(Self {
                    workers,
                    admin,
                    listen,
                })
            }
            _ => Err(bad()),
        }
    }

    /// How many sockets come with the offer.
    pub fn listeners(&self) -> usize {
        self.workers + usize::from(self.admin)
    }
}

/// Why a handover failed.
#[derive(Debug)]
pub enum HandoverError {
    /// The Unix socket failed.
    Io(io::Error),
    /// The other side said something unexpected.
    Protocol(String),
    /// The new configuration cannot run on the offered listeners.
    Mismatch(String),
}

impl fmt::Display for HandoverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandoverError::Io(e) => write!(f, "upgrade socket: {e}"),
            HandoverError::Protocol(why) => write!(f, "upgrade socket: {why}"),
            HandoverError::Mismatch(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for HandoverError {}

impl From<io::Error> for HandoverError {
    fn from(e: io::Error) -> Self {
        HandoverError::Io(e)
    }
}

/// The listening sockets a new process took over.
#[derive(Debug)]
pub struct Inherited {
    /// The client listeners, one per worker.
    pub clients: Vec<OwnedFd>,
    /// The admin listener, when the old process had one.
    pub admin: Option<OwnedFd>,
}

/// A handover in progress, on the new process's side.
#[derive(Debug)]
pub struct Takeover {
    stream: UnixStream,
    /// What the old process offered.
    pub offer: Offer,
}

/// Asks the balancer at `path` for its listeners. `Ok(None)` when no
/// balancer answers there (a stale socket file is removed).
pub fn take_over(path: &Path) -> Result<Option<(Takeover, Inherited)>, HandoverError> {
    let stream = match UnixStream::connect(path) {
        Ok(stream) => stream,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            // Left behind by a process that did not stop cleanly.
            std::fs::remove_file(path)?;
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    stream.set_read_timeout(Some(HANDOVER_TIMEOUT))?;
    stream.set_write_timeout(Some(HANDOVER_TIMEOUT))?;
    let mut text = [0u8; MAX_OFFER_BYTES];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_LISTENERS))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let received = rustix::net::recvmsg(
        &stream,
        &mut [IoSliceMut::new(&mut text)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )
    .map_err(io::Error::from)?;
    let mut fds: Vec<OwnedFd> = Vec::new();
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(passed) = message {
            fds.extend(passed);
        }
    }
    if received.bytes == 0 {
        return Err(HandoverError::Protocol(
            "the running balancer is stopping; start again once it has exited".into(),
        ));
    }
    let line = String::from_utf8_lossy(&text[..received.bytes]);
    let offer = Offer::parse(&line)?;
    if fds.len() != offer.listeners() {
        return Err(HandoverError::Protocol(format!(
            "{} listeners offered, {} received",
            offer.listeners(),
            fds.len()
        )));
    }
    let admin = if offer.admin { fds.pop() } else { None };
    Ok(Some((
        Takeover { stream, offer },
        Inherited {
            clients: fds,
            admin,
        },
    )))
}

impl Takeover {
    /// Tells the old process to stop accepting and drain, and waits until it
    /// has given up `path` (so that this process can listen there).
    pub fn accept(mut self) -> Result<(), HandoverError> {
        self.stream.write_all(b"ok\n")?;
        // The old process closes the connection once it removed the path.
        let mut rest = Vec::new();
        self.stream.read_to_end(&mut rest)?;
        Ok(())
    }

    /// Tells the old process to keep serving, with why.
    pub fn refuse(mut self, why: &str) {
        let line = format!("refused {}\n", why.replace('\n', " "));
        let _ = self.stream.write_all(line.as_bytes());
    }
}

/// The old process's side: answers upgrades on `path` from a thread of its
/// own.
pub struct HandoverServer {
    path: PathBuf,
    /// Set once the path is no longer this process's to remove.
    released: Arc<AtomicBool>,
    /// Copies of the listeners; dropped when the balancer stops, so that
    /// the listening sockets close with the balancer's own.
    listeners: Arc<Mutex<Option<Vec<OwnedFd>>>>,
}

impl HandoverServer {
    /// Listens on `path` and hands `listeners` (client listeners, then the
    /// admin one) to the first new process that accepts them; then shuts
    /// down the reactors behind `handles`.
    pub fn start(
        path: PathBuf,
        offer: Offer,
        listeners: Vec<OwnedFd>,
        handles: Vec<Handle>,
    ) -> io::Result<Self> {
        let unix = UnixListener::bind(&path)?;
        let released = Arc::new(AtomicBool::new(false));
        let listeners = Arc::new(Mutex::new(Some(listeners)));
        let (done, offered) = (Arc::clone(&released), Arc::clone(&listeners));
        let thread_path = path.clone();
        std::thread::Builder::new()
            .name("upgrade".into())
            .spawn(move || {
                for stream in unix.incoming() {
                    let Ok(stream) = stream else { continue };
                    // Held through the exchange: a stop waits for it to end.
                    let listeners = offered.lock().unwrap_or_else(PoisonError::into_inner);
                    let Some(listeners) = listeners.as_ref() else {
                        return;
                    };
                    match hand_over(&stream, &offer, listeners, &thread_path) {
                        Ok(()) => {
                            info!("listeners handed over: stopping accepting and draining");
                            done.store(true, Ordering::SeqCst);
                            for handle in &handles {
                                handle.shutdown();
                            }
                            return;
                        }
                        Err(e) => warn!("upgrade not done, still serving: {e}"),
                    }
                }
            })?;
        Ok(Self {
            path,
            released,
            listeners,
        })
    }

    /// The balancer stops: no more upgrades, the listener copies closed and
    /// the socket file removed (unless a new process owns the path now).
    pub fn stop(&self) {
        let taken = self
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        drop(taken);
        if !self.released.swap(true, Ordering::SeqCst) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn hand_over(
    stream: &UnixStream,
    offer: &Offer,
    listeners: &[OwnedFd],
    path: &Path,
) -> Result<(), HandoverError> {
    stream.set_read_timeout(Some(HANDOVER_TIMEOUT))?;
    stream.set_write_timeout(Some(HANDOVER_TIMEOUT))?;
    let fds: Vec<BorrowedFd<'_>> = listeners.iter().map(AsFd::as_fd).collect();
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_LISTENERS))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !control.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(HandoverError::Protocol("too many listeners".into()));
    }
    let line = offer.to_line();
    rustix::net::sendmsg(
        stream,
        &[IoSlice::new(line.as_bytes())],
        &mut control,
        SendFlags::empty(),
    )
    .map_err(io::Error::from)?;
    let mut answer = String::new();
    BufReader::new(stream.take(MAX_OFFER_BYTES as u64)).read_line(&mut answer)?;
    match answer.trim_end() {
        "ok" => {
            // Removed before the connection closes: the new process binds
            // the path once it sees the close.
            let _ = std::fs::remove_file(path);
            Ok(())
        }
        refused => Err(HandoverError::Protocol(format!(
            "the new process answered `{}`",
            if refused.is_empty() {
                "nothing"
            } else {
                refused
            }
        ))),
    }
}

/// Checks that a configuration can run on the offered listeners.
pub fn fits(
    offer: &Offer,
    workers: usize,
    admin: Option<SocketAddr>,
    listen: SocketAddr,
) -> Result<(), HandoverError> {
    let mismatch = |why: String| Err(HandoverError::Mismatch(why));
    if offer.workers != workers {
        return mismatch(format!(
            "the running balancer has {} worker(s); an upgrade keeps --workers",
            offer.workers
        ));
    }
    if offer.admin != admin.is_some() {
        return mismatch("an upgrade keeps the admin listener as it is (--admin)".into());
    }
    if listen.port() != 0 && listen != offer.listen {
        return mismatch(format!(
            "the running balancer listens on {}; an upgrade keeps --listen",
            offer.listen
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offer_reads_back_as_written() {
        let offer = Offer {
            workers: 3,
            admin: true,
            listen: "127.0.0.1:8080".parse().unwrap(),
        };
        assert_eq!(Offer::parse(&offer.to_line()).unwrap(), offer);
        assert_eq!(offer.listeners(), 4);
    }

    #[test]
    fn malformed_offers_are_refused() {
        for line in [
            "",
            "hello",
            "distloop-lb-listeners/2 workers=1 admin=0 listen=127.0.0.1:1",
            "distloop-lb-listeners/1 workers=0 admin=0 listen=127.0.0.1:1",
            "distloop-lb-listeners/1 workers=1 admin=2 listen=127.0.0.1:1",
            "distloop-lb-listeners/1 workers=1 admin=0",
            "distloop-lb-listeners/1 workers=1 admin=0 listen=x other=1",
        ] {
            assert!(Offer::parse(line).is_err(), "{line}");
        }
    }

    #[test]
    fn a_configuration_must_fit_the_offer() {
        let offer = Offer {
            workers: 2,
            admin: false,
            listen: "127.0.0.1:8080".parse().unwrap(),
        };
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        assert!(fits(&offer, 2, None, any).is_ok());
        assert!(fits(&offer, 2, None, offer.listen).is_ok());
        assert!(fits(&offer, 1, None, any).is_err());
        assert!(fits(&offer, 2, Some(any), any).is_err());
        let other: SocketAddr = "127.0.0.1:9090".parse().unwrap();
        assert!(fits(&offer, 2, None, other).is_err());
    }

    #[test]
    fn listeners_pass_between_two_ends_of_a_unix_socket() {
        let (old, new) = UnixStream::pair().unwrap();
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let listen = tcp.local_addr().unwrap();
        let offer = Offer {
            workers: 1,
            admin: false,
            listen,
        };
        let fd: OwnedFd = tcp.try_clone().unwrap().into();
        // No socket file here: the pair has no path to remove.
        let nowhere = std::env::temp_dir().join(format!("distloop-none-{}", std::process::id()));
        let sender = std::thread::spawn(move || hand_over(&old, &offer, &[fd], &nowhere));
        // Queued before the handover: must be served by the receiver.
        let queued = std::net::TcpStream::connect(listen).unwrap();
        drop(tcp);
        let mut text = [0u8; MAX_OFFER_BYTES];
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_LISTENERS))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let got = rustix::net::recvmsg(
            &new,
            &mut [IoSliceMut::new(&mut text)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        )
        .unwrap();
        let mut fds = Vec::new();
        for message in control.drain() {
            if let RecvAncillaryMessage::ScmRights(passed) = message {
                fds.extend(passed);
            }
        }
        assert_eq!(
            Offer::parse(&String::from_utf8_lossy(&text[..got.bytes])).unwrap(),
            offer
        );
        (&new).write_all(b"ok\n").unwrap();
        sender.join().unwrap().unwrap();
        let listener = std::net::TcpListener::from(fds.pop().unwrap());
        let (accepted, _) = listener.accept().unwrap();
        assert_eq!(accepted.peer_addr().unwrap(), queued.local_addr().unwrap());
    }
}
