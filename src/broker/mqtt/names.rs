//! The mapping between MQTT topic names and filters and the broker's topic
//! paths: the MQTT name `a/b` is the path `/a/b`, one leading `/` added or
//! taken away. A name or filter with an empty level (`/a`, `a//b`, `a/`)
//! has no path, so it is refused; a path with a `+` or `#` in a segment
//! has no MQTT name, so its messages do not reach MQTT subscribers.

use std::fmt;

use crate::broker::frame::MAX_TOPIC_BYTES;
use crate::broker::topic;

/// One level of a topic filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level<'a> {
    /// A level that must be equal.
    Exact(&'a str),
    /// `+`: any one level.
    AnyOne,
    /// `#`: this level and every one below, or none (only last).
    Rest,
}

/// Why an MQTT name or filter has no topic path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameError {
    /// The offending name or filter, cut to a readable length.
    pub name: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MQTT topic `{}` has no path: {}", self.name, self.reason)
    }
}

impl std::error::Error for NameError {}

fn refuse<T>(name: &str, reason: &'static str) -> Result<T, NameError> {
    Err(NameError {
        name: name.chars().take(80).collect(),
        reason,
    })
}

/// The path of a topic name (as published): `a/b` -> `/a/b`.
pub fn path_of_name(name: &str) -> Result<String, NameError> {
    if name.contains(['+', '#']) {
        return refuse(name, "a topic name holds no wildcard");
    }
    let path = format!("/{name}");
    match topic::segments(&path) {
        Ok(_) => Ok(path),
        Err(e) => refuse(name, e.reason),
    }
}

/// The MQTT name of a path, or `None` when a segment holds `+` or `#`.
pub fn name_of_path(path: &str) -> Option<&str> {
    let name = path.strip_prefix('/')?;
    (!name.contains(['+', '#'])).then_some(name)
}

/// The levels of a topic filter, checked as MQTT 3.1.1 and the path
/// rules require.
pub fn filter_levels(filter: &str) -> Result<Vec<Level<'_>>, NameError> {
    if filter.is_empty() {
        return refuse(filter, "empty filter");
    }
    if filter.len() + 1 > MAX_TOPIC_BYTES {
        return refuse(filter, "longer than the longest path");
    }
    if filter.chars().any(char::is_control) {
        return refuse(filter, "control character");
    }
    let count = filter.split('/').count();
    let mut levels = Vec::with_capacity(count);
    for (index, level) in filter.split('/').enumerate() {
        levels.push(match level {
            "" => return refuse(filter, "empty level"),
            "+" => Level::AnyOne,
            "#" if index + 1 == count => Level::Rest,
            "#" => return refuse(filter, "`#` is not the last level"),
            _ if level.contains(['+', '#']) => {
                return refuse(filter, "a wildcard shares its level");
            }
            _ => Level::Exact(level),
        });
    }
    Ok(levels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_paths_differ_by_one_leading_slash() {
        assert_eq!(
            path_of_name("home/kitchen/temp").unwrap(),
            "/home/kitchen/temp"
        );
        assert_eq!(
            name_of_path("/home/kitchen/temp"),
            Some("home/kitchen/temp")
        );
        assert_eq!(name_of_path("/a/+"), None);
    }

    #[test]
    fn names_with_empty_levels_or_wildcards_have_no_path() {
        for bad in ["", "/a", "a/", "a//b", "a/+", "#", "a\n"] {
            assert!(path_of_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn filters_split_into_levels_with_their_wildcards() {
        assert_eq!(
            filter_levels("a/+/#").unwrap(),
            [Level::Exact("a"), Level::AnyOne, Level::Rest]
        );
        assert_eq!(filter_levels("#").unwrap(), [Level::Rest]);
        for bad in ["", "a/#/b", "a/b#", "a+/b", "/a", "a//b"] {
            assert!(filter_levels(bad).is_err(), "{bad:?}");
        }
    }
}
