//! `distloop lb --config lb.toml`: the balancer's settings as a TOML file.
//!
//! Every flag has a key of the same name with `_` for `-` (`connect_timeout =
//! "3s"`; a duration key also takes a plain number of seconds), backends are `[[backend]]` tables and health checks a `[health]`
//! table. Flags given on the command line win over the file. A bad file is
//! refused with the line and the reason; on SIGHUP a bad file leaves the
//! running configuration as it is.

use std::fmt;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

/// The file's contents, every setting optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSettings {
    /// `listen = "127.0.0.1:8080"`
    pub listen: Option<Spanned<String>>,
    /// `mode = "http"`
    pub mode: Option<Spanned<String>>,
    /// `strategy = "round-robin"`
    pub strategy: Option<Spanned<String>>,
    /// `hash_on = "client-ip"`
    pub hash_on: Option<Spanned<String>>,
    /// `workers = 2`
    pub workers: Option<Spanned<usize>>,
    /// `admin = "127.0.0.1:9000"`
    pub admin: Option<Spanned<String>>,
    /// `access_log = "-"`
    pub access_log: Option<Spanned<String>>,
    /// `connect_timeout = "3s"`
    pub connect_timeout: Option<Spanned<DurationText>>,
    /// `idle_timeout = "60s"`
    pub idle_timeout: Option<Spanned<DurationText>>,
    /// `backoff = "1s"`
    pub backoff: Option<Spanned<DurationText>>,
    /// `drain_timeout = "30s"`
    pub drain_timeout: Option<Spanned<DurationText>>,
    /// `buffer_bytes = 32768`
    pub buffer_bytes: Option<Spanned<usize>>,
    /// `max_connections = 10000`
    pub max_connections: Option<Spanned<usize>>,
    /// `head_timeout = "10s"`
    pub head_timeout: Option<Spanned<DurationText>>,
    /// `response_timeout = "30s"`
    pub response_timeout: Option<Spanned<DurationText>>,
    /// `max_head_bytes = 65536`
    pub max_head_bytes: Option<Spanned<usize>>,
    /// `max_body_bytes = 1048576`
    pub max_body_bytes: Option<Spanned<u64>>,
    /// `max_idle_per_backend = 256`
    pub max_idle_per_backend: Option<Spanned<usize>>,
    /// `max_buffers = 20000`
    pub max_buffers: Option<Spanned<usize>>,
    /// `pool_idle_timeout = "15s"`
    pub pool_idle_timeout: Option<Spanned<DurationText>>,
    /// `queue_timeout = "5s"`
    pub queue_timeout: Option<Spanned<DurationText>>,
    /// `[[backend]]` tables, in list order.
    #[serde(default)]
    pub backend: Vec<Spanned<FileBackend>>,
    /// The `[health]` table.
    pub health: Option<FileHealth>,
    /// `[[tls]]` tables: certificate and key pairs, the first the default.
    #[serde(default)]
    pub tls: Vec<Spanned<super::tls::FileTlsPair>>,
}

/// One `[[backend]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileBackend {
    /// `address = "127.0.0.1:5000"`
    pub address: String,
    /// `name = "pi0"`
    pub name: Option<String>,
    /// `weight = 1`
    pub weight: Option<u16>,
    /// `agent = 9000`
    pub agent: Option<u16>,
    /// `maxconn = 512`
    pub maxconn: Option<u32>,
}

impl FileBackend {
    /// The same backend in the flag syntax,
    /// `ADDR[,name=..][,weight=..][,agent=..][,maxconn=..]`.
    pub fn to_flag(&self) -> String {
        let mut text = self.address.clone();
        if let Some(name) = &self.name {
            text.push_str(&format!(",name={name}"));
        }
        if let Some(weight) = self.weight {
            text.push_str(&format!(",weight={weight}"));
        }
        if let Some(agent) = self.agent {
            text.push_str(&format!(",agent={agent}"));
        }
        if let Some(maxconn) = self.maxconn {
            text.push_str(&format!(",maxconn={maxconn}"));
        }
        text
    }
}

/// The `[health]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileHealth {
    /// `check = "http:/health"` or `"tcp"`
    pub check: Option<Spanned<String>>,
    /// `interval = "2s"`
    pub interval: Option<Spanned<DurationText>>,
    /// `timeout = "1s"`
    pub timeout: Option<Spanned<DurationText>>,
    /// `rise = 2`
    pub rise: Option<Spanned<u32>>,
    /// `fall = 3`
    pub fall: Option<Spanned<u32>>,
}

/// A duration key's value as written, `"3s"` or a plain TOML number
/// (`3`, `0.5`: seconds, as a plain number is on the command line), kept as
/// text for `parse_duration`, which reads flags and keys alike.
#[derive(Debug, Clone, PartialEq)]
pub struct DurationText(pub String);

impl AsRef<str> for DurationText {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Text;
        impl serde::de::Visitor<'_> for Text {
            type Value = DurationText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"3s\" or \"500ms\", or a number of seconds")
            }
            fn visit_str<E>(self, text: &str) -> Result<DurationText, E> {
                Ok(DurationText(text.to_string()))
            }
            fn visit_i64<E>(self, n: i64) -> Result<DurationText, E> {
                Ok(DurationText(n.to_string()))
            }
            fn visit_u64<E>(self, n: u64) -> Result<DurationText, E> {
                Ok(DurationText(n.to_string()))
            }
            fn visit_f64<E>(self, n: f64) -> Result<DurationText, E> {
                Ok(DurationText(n.to_string()))
            }
        }
        deserializer.deserialize_any(Text)
    }
}

/// A refused configuration file, with where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    /// The file's path as given.
    pub path: String,
    /// 1-based line of the offending value, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.path, self.reason),
            None => write!(f, "{}: {}", self.path, self.reason),
        }
    }
}

impl std::error::Error for FileError {}

/// A parsed file together with its text, to turn spans into line numbers.
#[derive(Debug)]
pub struct ConfigFile {
    /// The path as given.
    pub path: String,
    text: String,
    /// The settings it holds.
    pub settings: FileSettings,
}

impl ConfigFile {
    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<Self, FileError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| FileError {
            path: name.clone(),
            line: None,
            reason: format!("cannot read: {e}"),
        })?;
        Self::parse(&name, text)
    }

    /// Parses `text` (read from `path`).
    pub fn parse(path: &str, text: String) -> Result<Self, FileError> {
        match toml::from_str::<FileSettings>(&text) {
            Ok(settings) => Ok(Self {
                path: path.to_string(),
                text,
                settings,
            }),
            Err(e) => {
                let line = e.span().map(|span| line_of(&text, span.start));
                let reason = e.message().trim().to_string();
                Err(FileError {
                    path: path.to_string(),
                    line,
                    reason,
                })
            }
        }
    }

    /// An error about the value at `span`.
    pub fn error_at(&self, span: std::ops::Range<usize>, reason: impl Into<String>) -> FileError {
        FileError {
            path: self.path.clone(),
            line: Some(line_of(&self.text, span.start)),
            reason: reason.into(),
        }
    }

    /// Parses a spanned string value with `parse`, pointing at its line on failure.
    pub fn value<S: AsRef<str>, T, E: fmt::Display>(
        &self,
        key: &str,
        value: &Option<Spanned<S>>,
        parse: impl Fn(&str) -> Result<T, E>,
    ) -> Result<Option<T>, FileError> {
        match value {
            None => Ok(None),
            Some(spanned) => parse(spanned.get_ref().as_ref())
                .map(Some)
                .map_err(|e| self.error_at(spanned.span(), format!("{key}: {e}"))),
        }
    }
}

impl ConfigFile {
    /// The line that sets `key` (`connect_timeout`, `health.rise`), if the file does.
    pub fn line_of_key(&self, key: &str) -> Option<usize> {
        let f = &self.settings;
        let h = f.health.as_ref();
        let text = |v: &Option<Spanned<String>>| v.as_ref().map(Spanned::span);
        let duration = |v: &Option<Spanned<DurationText>>| v.as_ref().map(Spanned::span);
        let count = |v: &Option<Spanned<usize>>| v.as_ref().map(Spanned::span);
        let span = match key {
            "listen" => text(&f.listen),
            "mode" => text(&f.mode),
            "strategy" => text(&f.strategy),
            "hash_on" => text(&f.hash_on),
            "workers" => count(&f.workers),
            "admin" => text(&f.admin),
            "access_log" => text(&f.access_log),
            "connect_timeout" => duration(&f.connect_timeout),
            "idle_timeout" => duration(&f.idle_timeout),
            "backoff" => duration(&f.backoff),
            "drain_timeout" => duration(&f.drain_timeout),
            "buffer_bytes" => count(&f.buffer_bytes),
            "max_connections" => count(&f.max_connections),
            "head_timeout" => duration(&f.head_timeout),
            "response_timeout" => duration(&f.response_timeout),
            "max_head_bytes" => count(&f.max_head_bytes),
            "max_body_bytes" => f.max_body_bytes.as_ref().map(Spanned::span),
            "max_idle_per_backend" => count(&f.max_idle_per_backend),
            "pool_idle_timeout" => duration(&f.pool_idle_timeout),
            "queue_timeout" => duration(&f.queue_timeout),
            "max_buffers" => count(&f.max_buffers),
            "health.check" => h.and_then(|h| text(&h.check)),
            "health.interval" => h.and_then(|h| duration(&h.interval)),
            "health.timeout" => h.and_then(|h| duration(&h.timeout)),
            "health.rise" => h.and_then(|h| h.rise.as_ref().map(Spanned::span)),
            "health.fall" => h.and_then(|h| h.fall.as_ref().map(Spanned::span)),
            _ => None,
        }?;
        Some(line_of(&self.text, span.start))
    }

    /// The line of the `index`th `[[backend]]` table, if the file has it.
    pub fn line_of_backend(&self, index: usize) -> Option<usize> {
        let backend = self.settings.backend.get(index)?;
        Some(line_of(&self.text, backend.span().start))
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_file_parses() {
        let text = r#"
listen = "127.0.0.1:8080"
strategy = "least-connections"
workers = 2

[[backend]]
address = "127.0.0.1:5000"
name = "pi0"
weight = 3

[[backend]]
address = "127.0.0.1:5001"
agent = 9001
maxconn = 64

[health]
check = "http:/health"
rise = 2
"#;
        let file = ConfigFile::parse("lb.toml", text.into()).unwrap();
        let s = &file.settings;
        assert_eq!(s.strategy.as_ref().unwrap().get_ref(), "least-connections");
        assert_eq!(s.backend.len(), 2);
        assert_eq!(
            s.backend[0].get_ref().to_flag(),
            "127.0.0.1:5000,name=pi0,weight=3"
        );
        assert_eq!(
            s.backend[1].get_ref().to_flag(),
            "127.0.0.1:5001,agent=9001,maxconn=64"
        );
        assert_eq!(
            *s.health.as_ref().unwrap().rise.as_ref().unwrap().get_ref(),
            2
        );
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let err = ConfigFile::parse("lb.toml", "listen = \"a\"\nstrategy = \n".into()).unwrap_err();
        assert_eq!(err.line, Some(2), "{err}");
        assert!(err.to_string().starts_with("lb.toml:2: "), "{err}");
    }

    #[test]
    fn unknown_keys_are_refused_with_their_line() {
        let err = ConfigFile::parse("lb.toml", "\n\nstrategee = \"x\"\n".into()).unwrap_err();
        assert_eq!(err.line, Some(3), "{err}");
        assert!(err.reason.contains("strategee"), "{err}");
    }

    #[test]
    fn bad_values_point_at_their_line() {
        let file = ConfigFile::parse("lb.toml", "\nconnect_timeout = \"soon\"\n".into()).unwrap();
        let err = file
            .value(
                "connect_timeout",
                &file.settings.connect_timeout,
                crate::cli::parse_duration,
            )
            .unwrap_err();
        assert_eq!(err.line, Some(2));
        assert!(err.reason.contains("connect_timeout"), "{err}");
    }
}
