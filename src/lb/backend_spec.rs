//! How a backend is named on the command line and in config files:
//! `ADDR[,name=NAME][,weight=N][,agent=PORT][,maxconn=N]`.

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::str::FromStr;

/// The largest weight a backend may have (as HAProxy).
pub const MAX_WEIGHT: u16 = 256;
/// The largest connection cap (`maxconn=N`) a backend may have.
pub const MAX_CONN_CAP: u32 = 1_000_000;

/// One backend as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendSpec {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its name in stats, logs and admin URLs (default: the address).
    pub name: String,
    /// Its share of the work relative to the others, 1 to [`MAX_WEIGHT`].
    pub weight: u16,
    /// A port on the backend's host that speaks HAProxy's agent-check protocol.
    pub agent_port: Option<u16>,
    /// At most this many requests (HTTP mode) or connections (TCP mode) at
    /// once; the excess waits in the balancer's queue. An agent's
    /// `maxconn:N` replaces it until the agent says `maxconn:0`.
    pub max_conn: Option<u32>,
}

impl BackendSpec {
    /// A backend at `addr` with the default name and weight 1.
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            name: addr.to_string(),
            weight: 1,
            agent_port: None,
            max_conn: None,
        }
    }

    /// The agent's address: the backend's host on the agent port.
    pub fn agent_addr(&self) -> Option<SocketAddr> {
        self.agent_port
            .map(|port| SocketAddr::new(self.addr.ip(), port))
    }
}

/// Why a backend specification was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendSpecError(String);

impl fmt::Display for BackendSpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BackendSpecError {}

impl FromStr for BackendSpec {
    type Err = BackendSpecError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let fail = |why: String| BackendSpecError(format!("backend `{text}`: {why}"));
        let mut parts = text.split(',');
        let addr_text = parts.next().unwrap_or("").trim();
        let addr = match addr_text.parse::<SocketAddr>() {
            Ok(addr) => addr,
            Err(_) => addr_text
                .to_socket_addrs()
                .map_err(|e| fail(format!("cannot resolve `{addr_text}`: {e}")))?
                .next()
                .ok_or_else(|| fail(format!("`{addr_text}` resolves to no address")))?,
        };
        let mut spec = BackendSpec::new(addr);
        for part in parts {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| fail(format!("`{part}` is not KEY=VALUE")))?;
            match key.trim() {
                "name" => {
                    let value = value.trim();
                    let valid = !value.is_empty()
                        && value
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
                    if !valid {
                        return Err(fail(format!(
                            "name `{value}` must be letters, digits, `-`, `_`, `.` or `:`"
                        )));
                    }
                    spec.name = value.to_string();
                }
                "weight" => {
                    spec.weight = value
                        .trim()
                        .parse()
                        .ok()
                        .filter(|w| (1..=MAX_WEIGHT).contains(w))
                        .ok_or_else(|| fail(format!("weight must be 1 to {MAX_WEIGHT}")))?;
                }
                "agent" => {
                    spec.agent_port = Some(
                        value
                            .trim()
                            .parse()
                            .ok()
                            .filter(|&p: &u16| p != 0)
                            .ok_or_else(|| fail("agent must be a port number".to_string()))?,
                    );
                }
                "maxconn" => {
                    spec.max_conn = Some(
                        value
                            .trim()
                            .parse()
                            .ok()
                            .filter(|n| (1..=MAX_CONN_CAP).contains(n))
                            .ok_or_else(|| fail(format!("maxconn must be 1 to {MAX_CONN_CAP}")))?,
                    );
                }
                other => {
                    return Err(fail(format!(
                        "unknown option `{other}` (expected name, weight, agent or maxconn)"
                    )));
                }
            }
        }
        Ok(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_address_gets_default_name_and_weight() {
        let spec: BackendSpec = "127.0.0.1:5000".parse().unwrap();
        assert_eq!(spec.name, "127.0.0.1:5000");
        assert_eq!(spec.weight, 1);
        assert_eq!(spec.agent_port, None);
        assert_eq!(spec.max_conn, None);
    }

    #[test]
    fn maxconn_caps_a_backend() {
        let spec: BackendSpec = "127.0.0.1:5000,maxconn=512".parse().unwrap();
        assert_eq!(spec.max_conn, Some(512));
    }

    #[test]
    fn options_set_name_weight_and_agent() {
        let spec: BackendSpec = "127.0.0.1:5000,name=pi0,weight=3,agent=9000"
            .parse()
            .unwrap();
        assert_eq!(spec.name, "pi0");
        assert_eq!(spec.weight, 3);
        assert_eq!(spec.agent_addr(), Some("127.0.0.1:9000".parse().unwrap()));
    }

    #[test]
    fn bad_options_are_refused_with_a_reason() {
        for (text, why) in [
            ("127.0.0.1:5000,weight=0", "weight"),
            ("127.0.0.1:5000,weight=257", "weight"),
            ("127.0.0.1:5000,agent=x", "agent"),
            ("127.0.0.1:5000,maxconn=0", "maxconn must be 1 to 1000000"),
            ("127.0.0.1:5000,maxconn=-3", "maxconn"),
            ("127.0.0.1:5000,maxconn=1000001", "maxconn"),
            ("127.0.0.1:5000,color=red", "unknown option"),
            ("127.0.0.1:5000,name=a b", "name"),
            ("127.0.0.1:5000,weight", "KEY=VALUE"),
            ("nowhere", "resolve"),
        ] {
            let err = text.parse::<BackendSpec>().unwrap_err().to_string();
            assert!(err.contains(why), "{text}: {err}");
        }
    }
}
