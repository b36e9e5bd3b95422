//! Topic paths: `/weather/temperature`. A topic starts with `/`, has one or
//! more non-empty segments separated by `/`, and is at most
//! [`MAX_TOPIC_BYTES`] long.

use std::fmt;

use super::frame::MAX_TOPIC_BYTES;

/// Why a string is not a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicError {
    /// The offending topic, cut to a readable length.
    pub topic: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl fmt::Display for TopicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad topic `{}`: {}", self.topic, self.reason)
    }
}

impl std::error::Error for TopicError {}

/// Checks that `topic` is a path like `/a/b`, and returns its segments.
pub fn segments(topic: &str) -> Result<std::str::Split<'_, char>, TopicError> {
    let fail = |reason| {
        Err(TopicError {
            topic: topic.chars().take(80).collect(),
            reason,
        })
    };
    if topic.len() > MAX_TOPIC_BYTES {
        return fail("longer than 1024 bytes");
    }
    let Some(rest) = topic.strip_prefix('/') else {
        return fail("a topic starts with `/`");
    };
    if rest.is_empty() || rest.split('/').any(str::is_empty) {
        return fail("empty segment");
    }
    if topic.chars().any(char::is_control) {
        return fail("control character");
    }
    Ok(rest.split('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_into_their_segments() {
        let s: Vec<_> = segments("/weather/temperature").unwrap().collect();
        assert_eq!(s, ["weather", "temperature"]);
    }

    #[test]
    fn malformed_paths_are_refused() {
        for bad in ["", "/", "a/b", "/a//b", "/a/", "/a\n", &"/x".repeat(600)] {
            assert!(segments(bad).is_err(), "{bad:?}");
        }
    }
}
