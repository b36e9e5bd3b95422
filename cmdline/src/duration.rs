//! The duration syntax of every flag and configuration value: a decimal
//! number followed by `ms`, `s`, `m` or `h`. A plain number is seconds,
//! except for the few flags that took plain milliseconds before they took
//! units (`--stabilize-ms`, `--delay`); those parse with
//! [`parse_duration_or_millis`] so that old command lines keep their meaning.

use std::time::Duration;

/// The `--help` legend of a command whose `DURATION` values parse with
/// [`parse_duration`].
pub const DURATION_HELP: &str =
    "DURATION: a number and a unit, ms, s, m or h (500ms, 2s, 1.5m); a plain number is seconds.";

/// The `--help` legend of a command whose `DURATION` values parse with
/// [`parse_duration_or_millis`].
pub const DURATION_OR_MILLIS_HELP: &str = "DURATION: a number and a unit, ms, s, m or h (500ms, 2s, 1.5m); a plain number is milliseconds.";

/// Parses a duration: a decimal number (`1.5`, `2.5e-1`, `+3`) followed by
/// a unit, `ms`, `s`, `m` or `h`, or by none for seconds. The one grammar of
/// every duration flag and configuration value; zero is allowed (a flag that
/// needs more says so itself), negative, infinite and unknown units are not.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    parse(text, PlainNumber::Seconds)
}

/// Parses a duration as [`parse_duration`] does, except that a number
/// without a unit is milliseconds: for the flags that counted milliseconds
/// before they took units.
pub fn parse_duration_or_millis(text: &str) -> Result<Duration, String> {
    parse(text, PlainNumber::Milliseconds)
}

/// What a number without a unit counts.
#[derive(Debug, Clone, Copy)]
enum PlainNumber {
    Seconds,
    Milliseconds,
}

fn parse(text: &str, plain: PlainNumber) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .rfind(|c: char| !c.is_ascii_alphabetic())
        .map_or(0, |i| i + 1);
    let (number, unit) = text.split_at(split);
    let scale = match (unit, plain) {
        ("ms", _) | ("", PlainNumber::Milliseconds) => 1e-3,
        ("s", _) | ("", PlainNumber::Seconds) => 1.0,
        ("m", _) => 60.0,
        ("h", _) => 3600.0,
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
            assert!(parse_duration_or_millis(text).is_err(), "{text}");
        }
    }

    #[test]
    fn a_plain_number_is_milliseconds_where_flags_counted_them() {
        assert_eq!(
            parse_duration_or_millis("250"),
            Ok(Duration::from_millis(250))
        );
        assert_eq!(
            parse_duration_or_millis("1.5"),
            Ok(Duration::from_micros(1500))
        );
        assert_eq!(parse_duration_or_millis("0"), Ok(Duration::ZERO));
    }

    #[test]
    fn units_mean_the_same_whatever_a_plain_number_counts() {
        for text in ["500ms", "2s", "1.5m", "1h", "0s"] {
            assert_eq!(
                parse_duration_or_millis(text),
                parse_duration(text),
                "{text}"
            );
        }
    }
}
