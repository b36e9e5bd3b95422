//! Command-line parsing shared by the subcommands: durations and addresses.
//!
//! Each service's command line lives in the service's own folder
//! (`lb/cli/`, `broker/cli.rs`, `dht/cli.rs`, `apps/*/cli.rs`) and uses these
//! parsers; the commands that compose several services are in `cluster/`, and
//! `main.rs` only dispatches. Parse errors become clap errors, which
//! print one line and exit 2.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

/// Parses a duration: a decimal number (`1.5`, `2.5e-1`, `+3`) followed by
/// a unit, `ms`, `s`, `m` or `h`, or by none for seconds. The one grammar of
/// every duration flag and configuration value; zero is allowed (a flag that
/// needs more says so itself), negative, infinite and unknown units are not.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .rfind(|c: char| !c.is_ascii_alphabetic())
        .map_or(0, |i| i + 1);
    let (number, unit) = text.split_at(split);
    let scale = match unit {
        "ms" => 1e-3,
        "" | "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return Err(format!("`{text}` has an unknown unit (use ms, s, m or h)")),
    };
    // `f64` parsing also takes `inf` and `NaN`, but those end in letters
    // and were refused above as units.
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (try 500ms, 3s, 2m)"))?;
    let seconds = value * scale;
    if seconds < 0.0 {
        return Err(format!("`{text}` is negative"));
    }
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
    fn durations_take_every_unit_and_form_the_load_generators_took() {
        assert_eq!(parse_duration("5"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("2.5s"), Ok(Duration::from_millis(2500)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration(".5s"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("+3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("1e3ms"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_duration("2.5e-1"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration(" 7s "), Ok(Duration::from_secs(7)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
    }

    #[test]
    fn durations_refuse_what_is_not_one() {
        for text in [
            "-1s", "inf", "infs", "NaN", "1e99", "s", "ms", "1.2.3s", "5 s", "5sec", "1d", "0x10",
        ] {
            assert!(parse_duration(text).is_err(), "{text}");
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
