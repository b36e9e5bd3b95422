//! TLS for the integration tests: a certificate authority made on the spot
//! (rcgen), certificate and key files it signs, a rustls client over a
//! blocking socket, and the curl and openssl command-line clients.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

/// Read and write timeout of test clients.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

/// A test CA and a folder of the files it signed; the folder goes on drop.
pub struct TestPki {
    pub dir: PathBuf,
    /// The CA certificate, for `curl --cacert` and `openssl -CAfile`.
    pub ca_pem: PathBuf,
    ca: rcgen::Certificate,
    ca_key: KeyPair,
}

impl TestPki {
    /// A new CA in a fresh folder named after `tag`.
    pub fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("distloop-tls-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "distloop test CA");
        let ca_key = KeyPair::generate().unwrap();
        let ca = params.self_signed(&ca_key).unwrap();
        let ca_pem = dir.join("ca.pem");
        std::fs::write(&ca_pem, ca.pem()).unwrap();
        Self {
            dir,
            ca_pem,
            ca,
            ca_key,
        }
    }

    /// Writes `STEM.pem` (a certificate for `names`) and `STEM.key`;
    /// returns their paths.
    pub fn leaf(&self, stem: &str, names: &[&str]) -> (PathBuf, PathBuf) {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names.clone()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, names[0].as_str());
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.ca, &self.ca_key).unwrap();
        let (cert_path, key_path) = (
            self.path(&format!("{stem}.pem")),
            self.path(&format!("{stem}.key")),
        );
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        (cert_path, key_path)
    }

    /// A path in the folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// A rustls client configuration that trusts this CA only.
    pub fn client_config(&self) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca.der().clone()).unwrap();
        let mut config =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }

    /// A TLS connection to `addr` for `name`, handshake done.
    pub fn connect(&self, addr: SocketAddr, name: &str) -> TlsClient {
        connect_with(&self.client_config(), addr, name)
    }
}

impl Drop for TestPki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A blocking TLS client stream.
pub type TlsClient = StreamOwned<ClientConnection, TcpStream>;

/// A TLS connection with `config`, handshake done.
pub fn connect_with(config: &Arc<ClientConfig>, addr: SocketAddr, name: &str) -> TlsClient {
    let socket = TcpStream::connect(addr).expect("connect to the balancer");
    socket.set_read_timeout(Some(CLIENT_TIMEOUT)).unwrap();
    socket.set_write_timeout(Some(CLIENT_TIMEOUT)).unwrap();
    let name = ServerName::try_from(name.to_string()).unwrap();
    let conn = ClientConnection::new(Arc::clone(config), name).unwrap();
    let mut stream = StreamOwned::new(conn, socket);
    while stream.conn.is_handshaking() {
        stream
            .conn
            .complete_io(&mut stream.sock)
            .expect("TLS handshake with the balancer");
    }
    stream
}

/// Reads until the end of stream; an unclean TLS end counts as an end too.
pub fn read_to_end(stream: &mut impl Read) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return out,
            Err(e) => panic!("read failed after {} bytes: {e}", out.len()),
        }
    }
}

/// Reads a response head (through the blank line) byte by byte.
pub fn read_head(stream: &mut impl Read) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).expect("a response head");
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

/// Sends `request` and returns the whole answer of a `Connection: close` exchange.
pub fn exchange(stream: &mut TlsClient, request: &[u8]) -> String {
    stream.write_all(request).unwrap();
    stream.flush().unwrap();
    String::from_utf8_lossy(&read_to_end(stream)).into_owned()
}

/// Runs curl with `args` (bounded by its own timeouts).
pub fn curl(args: &[&str]) -> Output {
    crate::support::tool("curl")
        .args(["-sS", "--max-time", "60"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run curl (apt install curl)")
}

/// Runs `openssl s_client -connect ADDR args...` with `input` on stdin;
/// returns stdout and stderr together.
pub fn s_client(addr: SocketAddr, args: &[&str], input: &[u8]) -> String {
    crate::support::require_tool("openssl");
    let mut child = crate::support::tool("timeout")
        .args(["30", "openssl", "s_client", "-connect"])
        .arg(addr.to_string())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run openssl (apt install openssl)");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let output = child.wait_with_output().unwrap();
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    text
}

/// `--resolve NAME:PORT:127.0.0.1` for curl.
pub fn resolve(name: &str, addr: SocketAddr) -> String {
    format!("{name}:{}:127.0.0.1", addr.port())
}

/// A path as a `&str` for command lines.
pub fn arg(path: &Path) -> &str {
    path.to_str().unwrap()
}
