//! Command-line parsing shared by the subcommands: durations and addresses.
//!
//! Each service's command line lives in the service's own folder
//! (`lb/cli/`, `broker/cli.rs`, `dht/cli.rs`, `apps/*/cli.rs`) and uses these
//! parsers; `main.rs` only dispatches. Parse errors become clap errors, which
//! print one line and exit 2.

/// The balancer's command line, under the names it had here before.
pub use crate::lb::cli::{
    self as lb, check as lb_check, cluster, config_file, upgrade as lb_upgrade,
};

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

/// Parses `500ms`, `3s`, `2m`, `1h` or a bare number of seconds (`1.5`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (try 500ms, 3s, 2m)"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("`{text}` has an unknown unit (use ms, s, m or h)")),
    };
    if !seconds.is_finite() || seconds > 1e9 {
        return Err(format!("`{text}` is out of range"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// Resolves `host:port` (a name such as `localhost:5000` or an IP address) to
/// its first address.
pub fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    text.to_socket_addrs()
        .map_err(|e| format!("cannot resolve `{text}`: {e}"))?
        .next()
        .ok_or_else(|| format!("`{text}` resolves to no address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_the_common_units() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("3s"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("3 weeks").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn addresses_accept_ips_and_names() {
        assert_eq!(
            parse_addr("127.0.0.1:80"),
            Ok("127.0.0.1:80".parse().unwrap())
        );
        assert!(parse_addr("localhost:80").is_ok());
        assert!(parse_addr("127.0.0.1").is_err(), "a port is required");
    }
}
