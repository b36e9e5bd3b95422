//! Command-line parsing shared by the subcommands: durations and addresses,
//! and the quiet end on a closed standard output.
//!
//! Each service's command line lives in the service's own folder
//! (`lb/cli/`, `broker/cli.rs`, `dht/cli.rs`, `apps/*/cli.rs`) and uses these
//! parsers; the commands that compose several services are in `cluster/`, and
//! `main.rs` only dispatches. Parse errors become clap errors, which
//! print one line and exit 2.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

/// The one duration syntax (`500ms`, `2s`, `1m`, `1h`, a plain number of
/// seconds), and its variant for the flags that counted milliseconds. They
/// live in `distloop-cmdline` so that the Pi backend parses its flags with
/// the same code.
pub use distloop_cmdline::{
    DURATION_HELP, DURATION_OR_MILLIS_HELP, parse_duration, parse_duration_or_millis,
};

/// A quiet end when standard output's reader goes away (`| head -1`).
pub use distloop_cmdline::{end_quietly_on_closed_stdout, stdout};

/// Parses a duration with [`parse_duration`] and refuses zero: for a period
/// or a timeout that zero would break.
pub fn parse_positive_duration(text: &str) -> Result<Duration, String> {
    longer_than_zero(text, parse_duration(text)?)
}

/// Parses a duration with [`parse_duration_or_millis`] (a plain number is
/// milliseconds) and refuses zero.
pub fn parse_positive_duration_or_millis(text: &str) -> Result<Duration, String> {
    longer_than_zero(text, parse_duration_or_millis(text)?)
}

fn longer_than_zero(text: &str, duration: Duration) -> Result<Duration, String> {
    if duration.is_zero() {
        Err(format!("`{text}` must be longer than zero"))
    } else {
        Ok(duration)
    }
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
    fn positive_durations_refuse_zero_in_either_form() {
        assert_eq!(parse_positive_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(
            parse_positive_duration_or_millis("250"),
            Ok(Duration::from_millis(250))
        );
        for text in ["0", "0s", "0ms", "-1"] {
            assert!(parse_positive_duration(text).is_err(), "{text}");
            assert!(parse_positive_duration_or_millis(text).is_err(), "{text}");
        }
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
