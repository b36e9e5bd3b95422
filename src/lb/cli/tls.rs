//! `distloop lb --tls-cert FILE --tls-key FILE`: TLS termination for clients,
//! from flags or from `[[tls]]` tables of the config file (`cert = "..."`,
//! `key = "..."`). Several pairs pick by the name the client asks for (SNI);
//! the first is the default. Flags, when given, replace the file's pairs.
//!
//! The files are read when the configuration is resolved: at start (a wrong
//! file is one line and exit 2) and on SIGHUP (a wrong file refuses the
//! reload and the running certificates stay).

use std::path::PathBuf;

use clap::Args;
use serde::Deserialize;

use super::config_file::{ConfigFile, FileError};
use crate::lb::Mode;
use crate::lb::tls::{CertPair, TlsTermination};

/// The TLS flags of `distloop lb`.
#[derive(Debug, Clone, Default, Args)]
pub struct TlsArgs {
    /// Terminate TLS with this PEM certificate chain (server certificate
    /// first); repeat with --tls-key for each name, the first the default.
    #[arg(long = "tls-cert", value_name = "FILE")]
    pub certs: Vec<PathBuf>,
    /// The PEM private key of the --tls-cert at the same position.
    #[arg(long = "tls-key", value_name = "FILE")]
    pub keys: Vec<PathBuf>,
}

/// One `[[tls]]` table of the config file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileTlsPair {
    /// `cert = "lb.pem"`
    pub cert: PathBuf,
    /// `key = "lb.key"`
    pub key: PathBuf,
}

impl TlsArgs {
    /// The TLS termination of the flags (or else the file), loaded now;
    /// `None` when no certificate is configured. A problem is added to
    /// `problems`.
    pub fn merge(
        &self,
        file: &ConfigFile,
        mode: Mode,
        problems: &mut Vec<FileError>,
    ) -> Option<TlsTermination> {
        let from_flags = !self.certs.is_empty() || !self.keys.is_empty();
        let command_line = |reason: String| FileError {
            path: "command line".into(),
            line: None,
            reason,
        };
        let (pairs, at) = if from_flags {
            if self.certs.len() != self.keys.len() {
                problems.push(command_line(format!(
                    "--tls-cert given {} time(s) but --tls-key {} time(s); give them in pairs",
                    self.certs.len(),
                    self.keys.len()
                )));
                return None;
            }
            let pairs = self.certs.iter().zip(&self.keys);
            let pairs: Vec<CertPair> = pairs
                .map(|(cert, key)| CertPair {
                    cert: cert.clone(),
                    key: key.clone(),
                })
                .collect();
            (pairs, None)
        } else {
            let tables = &file.settings.tls;
            let pairs = tables
                .iter()
                .map(|t| CertPair {
                    cert: t.get_ref().cert.clone(),
                    key: t.get_ref().key.clone(),
                })
                .collect();
            (pairs, tables.first().map(|t| t.span()))
        };
        if pairs.is_empty() {
            return None;
        }
        match TlsTermination::load(pairs, mode == Mode::Http) {
            Ok(tls) => Some(tls),
            Err(e) => {
                problems.push(match at {
                    Some(span) => file.error_at(span, format!("tls: {e}")),
                    None => command_line(format!("TLS certificate: {e}")),
                });
                None
            }
        }
    }
}
