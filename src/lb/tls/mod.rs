//! TLS termination for the balancer's client side, on the event loop.
//!
//! - [`store`]: the certificate and key pairs (PEM files), chosen by SNI.
//! - [`stream`]: a TLS session as a non-blocking byte stream (`Read` +
//!   `Write`) over the socket, driven by rustls' sans-IO connection.
//! - [`client_stream`]: the accepted client connection, plain or TLS, which
//!   the TCP and HTTP adapters read and write without knowing which.
//!
//! [`TlsTermination`] is the part of the configuration that a reload
//! replaces: new connections take the new certificates, running ones keep
//! the session they started with. Session tickets (TLS 1.3 and 1.2) and the
//! TLS 1.2 session cache live for the whole process, so a client resumes
//! across workers and across reloads.

pub mod client_stream;
pub mod store;
pub mod stream;
#[cfg(test)]
pub(crate) mod test_certs;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::server::{ProducesTickets, ServerSessionMemoryCache, StoresServerSessions};

pub use client_stream::ClientStream;
pub use store::{CertPair, CertStore};
pub use stream::{MAX_PENDING_TLS_BYTES, TlsStream};

/// TLS 1.2 sessions remembered for resumption by session id.
pub const SESSION_CACHE_ENTRIES: usize = 4096;
/// The ALPN protocol offered in HTTP mode.
pub const ALPN_HTTP_1_1: &[u8] = b"http/1.1";

/// Why TLS could not be set up.
#[derive(Debug)]
pub enum TlsError {
    /// A certificate or key file is missing, unreadable or wrong.
    File {
        /// The file at fault.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// No certificate was given.
    NoCertificate,
    /// rustls refused the settings.
    Setup(rustls::Error),
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::File { path, why } => write!(f, "{}: {why}", path.display()),
            TlsError::NoCertificate => {
                f.write_str("TLS needs at least one --tls-cert and --tls-key")
            }
            TlsError::Setup(e) => write!(f, "TLS setup failed: {e}"),
        }
    }
}

impl std::error::Error for TlsError {}

/// The cryptography used (ring: see the crate's manifest for why).
pub fn provider() -> CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// Ticket keys and the TLS 1.2 session cache.
type Resumption = (Arc<dyn ProducesTickets>, Arc<dyn StoresServerSessions>);

/// The [`Resumption`] state, shared by every configuration of this process
/// so that a reload does not end resumption.
fn resumption() -> Result<Resumption, TlsError> {
    static SHARED: OnceLock<Resumption> = OnceLock::new();
    if let Some(shared) = SHARED.get() {
        return Ok(shared.clone());
    }
    let ticketer = rustls::crypto::ring::Ticketer::new().map_err(TlsError::Setup)?;
    let cache: Arc<dyn StoresServerSessions> = ServerSessionMemoryCache::new(SESSION_CACHE_ENTRIES);
    Ok(SHARED.get_or_init(|| (ticketer, cache)).clone())
}

/// Terminating TLS for clients: the rustls configuration new connections
/// start from, and the files it was loaded from.
#[derive(Clone)]
pub struct TlsTermination {
    config: Arc<ServerConfig>,
    pairs: Vec<CertPair>,
    names: Vec<String>,
}

impl fmt::Debug for TlsTermination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsTermination")
            .field("pairs", &self.pairs)
            .field("names", &self.names)
            .finish()
    }
}

impl TlsTermination {
    /// Loads `pairs` (the first the default). `offer_http` offers ALPN
    /// `http/1.1` (HTTP mode); TCP mode offers no ALPN, as it does not know
    /// the protocol it carries.
    pub fn load(pairs: Vec<CertPair>, offer_http: bool) -> Result<Self, TlsError> {
        let provider = provider();
        let store = CertStore::load(&pairs, &provider)?;
        Self::with_store(store, provider, pairs, offer_http)
    }

    /// As [`TlsTermination::load`], with certificates already loaded.
    pub fn with_store(
        store: CertStore,
        provider: CryptoProvider,
        pairs: Vec<CertPair>,
        offer_http: bool,
    ) -> Result<Self, TlsError> {
        let names = store.names().to_vec();
        let mut config = ServerConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(TlsError::Setup)?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(store));
        let (ticketer, cache) = resumption()?;
        config.ticketer = ticketer;
        config.session_storage = cache;
        if offer_http {
            config.alpn_protocols = vec![ALPN_HTTP_1_1.to_vec()];
        }
        Ok(Self {
            config: Arc::new(config),
            pairs,
            names,
        })
    }

    /// A new server-side session for an accepted connection.
    pub fn session(&self) -> Result<rustls::ServerConnection, rustls::Error> {
        rustls::ServerConnection::new(Arc::clone(&self.config))
    }

    /// The files the certificates came from.
    pub fn pairs(&self) -> &[CertPair] {
        &self.pairs
    }

    /// The DNS names the certificates carry.
    pub fn names(&self) -> &[String] {
        &self.names
    }
}
