//! The certificates the balancer serves: PEM certificate and key pairs read
//! from files, and the choice among them by the name the client asks for
//! (SNI). The first pair is the default, for clients that name nothing or a
//! name no certificate carries.
//!
//! Loading checks everything it can before a single client sees a pair: the
//! files parse, the chain is not empty, the key is of a supported type and
//! matches the certificate. A wrong pair is refused with the file and why.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::TlsError;

/// One certificate (chain) and its key, as files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertPair {
    /// PEM certificate chain, the server's certificate first.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// A loaded certificate with the DNS names it is valid for.
struct Loaded {
    key: Arc<CertifiedKey>,
    names: Vec<String>,
}

/// The loaded pairs, looked up by server name.
pub struct CertStore {
    default: Arc<CertifiedKey>,
    /// Exact names (lowercase) to certificates; the first pair naming one wins.
    exact: HashMap<String, Arc<CertifiedKey>>,
    /// `*.example.com` entries, by the part after `*.`.
    wildcard: HashMap<String, Arc<CertifiedKey>>,
    /// Every name, in load order, for logs.
    names: Vec<String>,
}

impl fmt::Debug for CertStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertStore")
            .field("names", &self.names)
            .finish()
    }
}

impl CertStore {
    /// Reads every pair; the first is the default.
    pub fn load(pairs: &[CertPair], provider: &CryptoProvider) -> Result<Self, TlsError> {
        let mut loaded = Vec::with_capacity(pairs.len());
        for pair in pairs {
            loaded.push(load_pair(pair, provider)?);
        }
        Self::from_loaded(loaded).ok_or(TlsError::NoCertificate)
    }

    /// A store of certificates already in memory (DER chain and key), the
    /// first the default.
    pub fn from_der(
        pairs: Vec<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
        provider: &CryptoProvider,
    ) -> Result<Self, TlsError> {
        let mut loaded = Vec::with_capacity(pairs.len());
        for (chain, key) in pairs {
            loaded.push(certified(chain, key, provider, Path::new("(memory)"))?);
        }
        Self::from_loaded(loaded).ok_or(TlsError::NoCertificate)
    }

    fn from_loaded(loaded: Vec<Loaded>) -> Option<Self> {
        let default = Arc::clone(&loaded.first()?.key);
        let mut exact = HashMap::new();
        let mut wildcard = HashMap::new();
        let mut names = Vec::new();
        for entry in loaded {
            for name in entry.names {
                let lower = name.to_ascii_lowercase();
                match lower.strip_prefix("*.") {
                    Some(parent) => wildcard
                        .entry(parent.to_string())
                        .or_insert_with(|| Arc::clone(&entry.key)),
                    None => exact
                        .entry(lower.clone())
                        .or_insert_with(|| Arc::clone(&entry.key)),
                };
                names.push(lower);
            }
        }
        Some(Self {
            default,
            exact,
            wildcard,
            names,
        })
    }

    /// The certificate for `server_name` (the default when none matches).
    pub fn for_name(&self, server_name: Option<&str>) -> Arc<CertifiedKey> {
        let Some(name) = server_name else {
            return Arc::clone(&self.default);
        };
        let name = name.to_ascii_lowercase();
        if let Some(key) = self.exact.get(&name) {
            return Arc::clone(key);
        }
        // A wildcard covers exactly one label.
        if let Some((_, parent)) = name.split_once('.') {
            if let Some(key) = self.wildcard.get(parent) {
                return Arc::clone(key);
            }
        }
        Arc::clone(&self.default)
    }

    /// The DNS names of all certificates, in load order.
    pub fn names(&self) -> &[String] {
        &self.names
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.for_name(client_hello.server_name()))
    }
}

fn load_pair(pair: &CertPair, provider: &CryptoProvider) -> Result<Loaded, TlsError> {
    let bad = |path: &Path, why: String| TlsError::File {
        path: path.to_path_buf(),
        why,
    };
    let chain = CertificateDer::pem_file_iter(&pair.cert)
        .map_err(|e| bad(&pair.cert, pem_problem(e)))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(&pair.cert, pem_problem(e)))?;
    if chain.is_empty() {
        return Err(bad(&pair.cert, "no CERTIFICATE block found".into()));
    }
    let key =
        PrivateKeyDer::from_pem_file(&pair.key).map_err(|e| bad(&pair.key, pem_problem(e)))?;
    certified(chain, key, provider, &pair.key)
}

fn certified(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    provider: &CryptoProvider,
    key_path: &Path,
) -> Result<Loaded, TlsError> {
    let names = {
        let end_entity =
            webpki::EndEntityCert::try_from(&chain[0]).map_err(|e| TlsError::File {
                path: key_path.to_path_buf(),
                why: format!("the certificate does not parse: {e}"),
            })?;
        end_entity.valid_dns_names().map(str::to_string).collect()
    };
    let key = CertifiedKey::from_der(chain, key, provider).map_err(|e| TlsError::File {
        path: key_path.to_path_buf(),
        why: match e {
            rustls::Error::InconsistentKeys(_) => {
                "the key does not belong to the certificate".into()
            }
            other => format!("unusable key: {other}"),
        },
    })?;
    Ok(Loaded {
        key: Arc::new(key),
        names,
    })
}

fn pem_problem(e: rustls_pki_types::pem::Error) -> String {
    use rustls_pki_types::pem::Error;
    match e {
        Error::Io(io) => io.to_string(),
        Error::NoItemsFound => "no PEM block of the expected kind found".into(),
        other => format!("not valid PEM: {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lb::tls::test_certs::{TestCa, provider};

    #[test]
    fn sni_picks_the_matching_certificate_and_falls_back_to_the_first() {
        let ca = TestCa::new();
        let a = ca.leaf(&["a.test"]);
        let b = ca.leaf(&["b.test", "*.wild.test"]);
        let store = CertStore::from_der(vec![a.der(), b.der()], &provider()).unwrap();
        let cert_of = |name| store.for_name(name).cert[0].clone();
        assert_eq!(cert_of(Some("a.test")), a.cert_der());
        assert_eq!(cert_of(Some("B.TEST")), b.cert_der());
        assert_eq!(cert_of(Some("x.wild.test")), b.cert_der());
        assert_eq!(cert_of(Some("x.y.wild.test")), a.cert_der());
        assert_eq!(cert_of(Some("other.test")), a.cert_der());
        assert_eq!(cert_of(None), a.cert_der());
        assert_eq!(store.names(), ["a.test", "b.test", "*.wild.test"]);
    }

    #[test]
    fn a_key_of_another_certificate_is_refused() {
        let ca = TestCa::new();
        let a = ca.leaf(&["a.test"]);
        let b = ca.leaf(&["b.test"]);
        let (chain, _) = a.der();
        let (_, key) = b.der();
        let err = CertStore::from_der(vec![(chain, key)], &provider()).unwrap_err();
        assert!(err.to_string().contains("does not belong"), "{err}");
    }

    #[test]
    fn missing_and_non_pem_files_are_named_in_the_error() {
        let dir = std::env::temp_dir().join(format!("distloop-tls-store-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let junk = dir.join("junk.pem");
        std::fs::write(&junk, "not a certificate\n").unwrap();
        let missing = CertPair {
            cert: dir.join("missing.pem"),
            key: junk.clone(),
        };
        let err = CertStore::load(&[missing], &provider()).unwrap_err();
        assert!(err.to_string().contains("missing.pem"), "{err}");
        let not_pem = CertPair {
            cert: junk.clone(),
            key: junk.clone(),
        };
        let err = CertStore::load(&[not_pem], &provider()).unwrap_err();
        assert!(
            err.to_string().contains("junk.pem: no CERTIFICATE"),
            "{err}"
        );
        assert!(matches!(
            CertStore::load(&[], &provider()),
            Err(TlsError::NoCertificate)
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
