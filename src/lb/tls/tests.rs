//! The TLS stream against a rustls client, both ends in memory: no sockets.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::rc::Rc;
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, HandshakeKind, RootCertStore};

use super::test_certs::{Leaf, TestCa, provider};
use super::{CertStore, TlsStream, TlsTermination};
use crate::reactor::HalfClose;

/// One direction of an in-memory socket, with a bounded queue.
#[derive(Default)]
struct Wire {
    bytes: VecDeque<u8>,
    capacity: usize,
    closed: bool,
}

/// The server's end of an in-memory connection.
#[derive(Clone)]
struct MemSocket {
    /// Client to server.
    inbound: Rc<RefCell<Wire>>,
    /// Server to client.
    outbound: Rc<RefCell<Wire>>,
}

impl MemSocket {
    fn new(outbound_capacity: usize) -> Self {
        Self {
            inbound: Rc::new(RefCell::new(Wire {
                capacity: usize::MAX,
                ..Wire::default()
            })),
            outbound: Rc::new(RefCell::new(Wire {
                capacity: outbound_capacity,
                ..Wire::default()
            })),
        }
    }
}

impl Read for MemSocket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut wire = self.inbound.borrow_mut();
        if wire.bytes.is_empty() {
            return if wire.closed {
                Ok(0)
            } else {
                Err(io::ErrorKind::WouldBlock.into())
            };
        }
        let n = buf.len().min(wire.bytes.len());
        for (slot, byte) in buf.iter_mut().zip(wire.bytes.drain(..n)) {
            *slot = byte;
        }
        Ok(n)
    }
}

impl Write for MemSocket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut wire = self.outbound.borrow_mut();
        assert!(!wire.closed, "write after the write side was shut");
        let room = wire.capacity - wire.bytes.len();
        if room == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = room.min(buf.len());
        wire.bytes.extend(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl HalfClose for MemSocket {
    fn close_write(&mut self) -> io::Result<()> {
        self.outbound.borrow_mut().closed = true;
        Ok(())
    }
}

struct Pair {
    client: ClientConnection,
    server: TlsStream<MemSocket>,
    socket: MemSocket,
}

fn client_config(
    ca: &TestCa,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> ClientConfig {
    let mut roots = RootCertStore::empty();
    roots.add(ca.cert_der()).unwrap();
    let mut config = ClientConfig::builder_with_provider(Arc::new(provider()))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config
}

fn termination(leaves: &[&Leaf]) -> TlsTermination {
    let store = CertStore::from_der(leaves.iter().map(|l| l.der()).collect(), &provider()).unwrap();
    TlsTermination::with_store(store, provider(), Vec::new(), true).unwrap()
}

fn connect(tls: &TlsTermination, config: &Arc<ClientConfig>, name: &str, capacity: usize) -> Pair {
    let socket = MemSocket::new(capacity);
    let server = TlsStream::new(tls.session().unwrap(), socket.clone());
    let name = ServerName::try_from(name.to_string()).unwrap();
    let client = ClientConnection::new(Arc::clone(config), name).unwrap();
    Pair {
        client,
        server,
        socket,
    }
}

impl Pair {
    /// Moves records both ways until nothing moves; returns the plaintext
    /// the server read.
    fn pump(&mut self) -> Vec<u8> {
        let mut received = Vec::new();
        for _ in 0..100 {
            let mut moved = false;
            while self.client.wants_write() {
                let mut inbound = Vec::new();
                self.client.write_tls(&mut inbound).unwrap();
                self.socket.inbound.borrow_mut().bytes.extend(inbound);
                moved = true;
            }
            let mut buf = [0u8; 4096];
            loop {
                match self.server.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        received.extend_from_slice(&buf[..n]);
                        moved = true;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => panic!("server read failed: {e}"),
                }
            }
            moved |= self.client_reads() > 0;
            if !moved {
                break;
            }
        }
        received
    }

    /// Feeds the client what the server sent; returns the bytes taken.
    fn client_reads(&mut self) -> usize {
        let bytes: Vec<u8> = self.socket.outbound.borrow_mut().bytes.drain(..).collect();
        let mut offered = &bytes[..];
        while !offered.is_empty() {
            self.client.read_tls(&mut offered).unwrap();
            self.client.process_new_packets().unwrap();
        }
        bytes.len()
    }

    fn client_plaintext(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = [0u8; 16 * 1024];
        loop {
            match self.client.reader().read(&mut buf) {
                Ok(0) => return out,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return out,
                Err(e) => panic!("client read failed: {e}"),
            }
        }
    }
}

#[test]
fn bytes_cross_both_ways_after_the_handshake_with_alpn_http_1_1() {
    let ca = TestCa::new();
    let leaf = ca.leaf(&["lb.test"]);
    let tls = termination(&[&leaf]);
    let config = Arc::new(client_config(&ca, &[&rustls::version::TLS13]));
    let mut pair = connect(&tls, &config, "lb.test", usize::MAX);
    pair.client
        .writer()
        .write_all(b"GET / HTTP/1.1\r\n\r\n")
        .unwrap();
    assert_eq!(pair.pump(), b"GET / HTTP/1.1\r\n\r\n");
    assert!(!pair.server.is_handshaking());
    assert_eq!(pair.client.alpn_protocol(), Some(&b"http/1.1"[..]));
    assert_eq!(pair.server.write(b"HTTP/1.1 200 OK\r\n\r\n").unwrap(), 19);
    pair.client_reads();
    assert_eq!(pair.client_plaintext(), b"HTTP/1.1 200 OK\r\n\r\n");
}

#[test]
fn a_read_drains_the_socket_and_blocks_only_when_both_are_empty() {
    let ca = TestCa::new();
    let tls = termination(&[&ca.leaf(&["lb.test"])]);
    let config = Arc::new(client_config(&ca, &[&rustls::version::TLS12]));
    let mut pair = connect(&tls, &config, "lb.test", usize::MAX);
    pair.pump();
    // Many records in the socket at once: one read with room takes them all,
    // so a short read truly means the socket is empty (edge-triggered rule).
    let message: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    pair.client.set_buffer_limit(None);
    pair.client.writer().write_all(&message).unwrap();
    while pair.client.wants_write() {
        let mut inbound = Vec::new();
        pair.client.write_tls(&mut inbound).unwrap();
        pair.socket.inbound.borrow_mut().bytes.extend(inbound);
    }
    let mut buf = vec![0u8; 1 << 20];
    assert_eq!(pair.server.read(&mut buf).unwrap(), message.len());
    assert_eq!(&buf[..message.len()], &message[..]);
    let again = pair.server.read(&mut buf).unwrap_err();
    assert_eq!(again.kind(), io::ErrorKind::WouldBlock);
    // A small buffer is filled to the brim; the rest stays for the next read.
    pair.client.writer().write_all(&message[..1000]).unwrap();
    pair.pump_client_only();
    let mut small = [0u8; 100];
    assert_eq!(pair.server.read(&mut small).unwrap(), 100);
}

impl Pair {
    fn pump_client_only(&mut self) {
        while self.client.wants_write() {
            let mut inbound = Vec::new();
            self.client.write_tls(&mut inbound).unwrap();
            self.socket.inbound.borrow_mut().bytes.extend(inbound);
        }
    }
}

#[test]
fn a_full_socket_bounds_the_queue_and_flush_sends_the_rest() {
    let ca = TestCa::new();
    let tls = termination(&[&ca.leaf(&["lb.test"])]);
    let config = Arc::new(client_config(&ca, &[&rustls::version::TLS13]));
    let mut pair = connect(&tls, &config, "lb.test", 8 * 1024);
    pair.pump();
    let chunk = vec![7u8; 16 * 1024];
    let mut accepted = 0;
    loop {
        match pair.server.write(&chunk) {
            Ok(n) => accepted += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("{e}"),
        }
        assert!(accepted < 1 << 20, "writes never blocked");
    }
    assert!(
        accepted <= super::MAX_PENDING_TLS_BYTES + 32 * 1024,
        "{accepted}"
    );
    assert!(pair.server.has_pending_output());
    let mut delivered = 0;
    while pair.server.has_pending_output() {
        pair.client_reads();
        delivered += pair.client_plaintext().len();
        pair.server.flush_pending().unwrap();
    }
    pair.client_reads();
    delivered += pair.client_plaintext().len();
    assert_eq!(delivered, accepted);
}

#[test]
fn a_half_close_sends_close_notify_then_shuts_the_socket() {
    let ca = TestCa::new();
    let tls = termination(&[&ca.leaf(&["lb.test"])]);
    let config = Arc::new(client_config(&ca, &[&rustls::version::TLS13]));
    let mut pair = connect(&tls, &config, "lb.test", usize::MAX);
    pair.pump();
    pair.server.write_all(b"bye").unwrap();
    pair.server.close_write().unwrap();
    assert!(pair.socket.outbound.borrow().closed);
    pair.client_reads();
    assert_eq!(pair.client_plaintext(), b"bye");
    assert!(
        pair.client.reader().read(&mut [0u8; 8]).unwrap() == 0,
        "close_notify seen"
    );
    // The client's close_notify ends the server's read side.
    pair.client.send_close_notify();
    pair.pump_client_only();
    assert_eq!(pair.server.read(&mut [0u8; 8]).unwrap(), 0);
}

#[test]
fn plain_http_on_the_tls_port_is_refused_with_an_alert() {
    let ca = TestCa::new();
    let tls = termination(&[&ca.leaf(&["lb.test"])]);
    let socket = MemSocket::new(usize::MAX);
    let mut server = TlsStream::new(tls.session().unwrap(), socket.clone());
    socket
        .inbound
        .borrow_mut()
        .bytes
        .extend(b"GET / HTTP/1.1\r\nHost: lb.test\r\n\r\n");
    let err = server.read(&mut [0u8; 1024]).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    let sent: Vec<u8> = socket.outbound.borrow().bytes.iter().copied().collect();
    assert_eq!(sent.first(), Some(&0x15), "a TLS alert record: {sent:?}");
}

#[test]
fn a_second_connection_resumes_the_session() {
    let ca = TestCa::new();
    let tls = termination(&[&ca.leaf(&["lb.test"])]);
    for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
        let config = Arc::new(client_config(&ca, &[version]));
        let mut first = connect(&tls, &config, "lb.test", usize::MAX);
        first.client.writer().write_all(b"one").unwrap();
        assert_eq!(first.pump(), b"one");
        assert_eq!(first.client.handshake_kind(), Some(HandshakeKind::Full));
        let mut second = connect(&tls, &config, "lb.test", usize::MAX);
        second.client.writer().write_all(b"two").unwrap();
        assert_eq!(second.pump(), b"two");
        assert_eq!(second.client.handshake_kind(), Some(HandshakeKind::Resumed));
    }
}

#[test]
fn sni_chooses_the_certificate_the_client_verifies() {
    let ca = TestCa::new();
    let a = ca.leaf(&["a.test"]);
    let b = ca.leaf(&["b.test"]);
    let tls = termination(&[&a, &b]);
    let config = Arc::new(client_config(&ca, &[&rustls::version::TLS13]));
    for (name, leaf) in [("a.test", &a), ("b.test", &b)] {
        let mut pair = connect(&tls, &config, name, usize::MAX);
        pair.pump();
        assert!(!pair.client.is_handshaking(), "{name}: verified");
        let presented = pair.client.peer_certificates().unwrap()[0].clone();
        assert_eq!(presented, leaf.cert_der());
        assert_eq!(pair.server.connection().server_name(), Some(name));
    }
}

#[test]
fn closing_a_session_says_close_notify() {
    let ca = TestCa::new();
    let tls = termination(&[&ca.leaf(&["lb.test"])]);
    let config = Arc::new(client_config(&ca, &[&rustls::version::TLS13]));
    let mut pair = connect(&tls, &config, "lb.test", usize::MAX);
    pair.pump();
    let Pair {
        mut client,
        server,
        socket,
    } = pair;
    drop(server);
    let bytes: Vec<u8> = socket.outbound.borrow_mut().bytes.drain(..).collect();
    client.read_tls(&mut &bytes[..]).unwrap();
    client.process_new_packets().unwrap();
    assert_eq!(
        client.reader().read(&mut [0u8; 8]).unwrap(),
        0,
        "a clean end"
    );
}
