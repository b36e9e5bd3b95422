//! The agent-check reply: one line of words a backend's agent sends about itself.
//!
//! Sans-IO. The line follows HAProxy's agent-check protocol, with one addition
//! for this project: a bare number (no `%`) is the backend's load in percent,
//! as the distributed calculator's status port reports its CPU use. Words are
//! separated by spaces, tabs or commas and compared without regard to case;
//! everything after a `#` is a free-text description and is ignored.
//!
//! Like HAProxy, unknown words are skipped, so that an agent may speak a newer
//! dialect. A known word with a bad value (`weight:x`, `-5%`) refuses the whole
//! line: a reply that is half understood is not trusted.

use std::fmt;

use crate::lb::backend_spec::MAX_WEIGHT;

/// The longest agent reply read, in bytes, newline included.
pub const MAX_AGENT_REPLY_BYTES: usize = 512;

/// The largest relative weight an agent may ask for, in percent of the
/// configured weight (the result is capped at [`MAX_WEIGHT`] anyway).
pub const MAX_WEIGHT_PERCENT: u32 = 25_600;

/// What an agent says about its backend's availability.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentState {
    /// Operational: may take work (`up`).
    Up,
    /// Not operational: no new work (`down`, also `fail`, `failed`, `stopped`).
    Down,
    /// Finish the work in flight, take no new work (`drain`).
    Drain,
    /// Under maintenance: no new work (`maint`).
    Maint,
    /// Leaves drain or maintenance: may take work again (`ready`).
    Ready,
}

impl AgentState {
    /// True when the backend may be given new work in this state.
    pub fn takes_new_work(self) -> bool {
        matches!(self, AgentState::Up | AgentState::Ready)
    }
}

impl fmt::Display for AgentState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AgentState::Up => "up",
            AgentState::Down => "down",
            AgentState::Drain => "drain",
            AgentState::Maint => "maint",
            AgentState::Ready => "ready",
        })
    }
}

/// One understood word of an agent reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentWord {
    /// `up`, `down`, `drain`, `maint`, `ready` (and the aliases of down).
    State(AgentState),
    /// `N%`: the weight, in percent of the configured weight.
    WeightPercent(u32),
    /// `weight:N`: the weight itself, 0 to [`MAX_WEIGHT`].
    Weight(u16),
    /// `maxconn:N`: at most N connections at once; `maxconn:0` lifts the limit.
    MaxConn(Option<u32>),
    /// A bare number: the backend's load in percent, capped at 100 (a
    /// multi-core host may report more).
    Load(u8),
}

/// Why an agent reply was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentError {
    /// The reply held no word at all.
    Empty,
    /// A known word carried a value that is not valid.
    BadValue {
        /// The word as sent.
        word: String,
        /// What a valid value looks like.
        expected: &'static str,
    },
}

impl fmt::Display for AgentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AgentError::Empty => f.write_str("agent reply is empty"),
            AgentError::BadValue { word, expected } => {
                write!(f, "agent word `{word}` is invalid: expected {expected}")
            }
        }
    }
}

impl std::error::Error for AgentError {}

/// Parses one agent reply line (with or without its line end) into the words
/// it understood, in the order sent.
pub fn parse_agent_reply(line: &str) -> Result<Vec<AgentWord>, AgentError> {
    let line = line.split('#').next().unwrap_or("");
    let mut words = Vec::new();
    let mut any = false;
    for raw in line
        .split(|c: char| c == ',' || c.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
    {
        any = true;
        if let Some(word) = parse_word(raw)? {
            words.push(word);
        }
    }
    if any {
        Ok(words)
    } else {
        Err(AgentError::Empty)
    }
}

fn parse_word(raw: &str) -> Result<Option<AgentWord>, AgentError> {
    let lower = raw.to_ascii_lowercase();
    let bad = |expected| AgentError::BadValue {
        word: raw.to_string(),
        expected,
    };
    let state = match lower.as_str() {
        "up" => Some(AgentState::Up),
        "down" | "fail" | "failed" | "stopped" => Some(AgentState::Down),
        "drain" => Some(AgentState::Drain),
        "maint" => Some(AgentState::Maint),
        "ready" => Some(AgentState::Ready),
        _ => None,
    };
    if let Some(state) = state {
        return Ok(Some(AgentWord::State(state)));
    }
    if let Some(value) = lower.strip_suffix('%') {
        const EXPECTED: &str = "a percentage from 0% to 25600%";
        let percent: u32 = value.parse().map_err(|_| bad(EXPECTED))?;
        if percent > MAX_WEIGHT_PERCENT {
            return Err(bad(EXPECTED));
        }
        return Ok(Some(AgentWord::WeightPercent(percent)));
    }
    if let Some(value) = lower.strip_prefix("weight:") {
        const EXPECTED: &str = "weight:N with N from 0 to 256";
        let weight: u16 = value.parse().map_err(|_| bad(EXPECTED))?;
        if weight > MAX_WEIGHT {
            return Err(bad(EXPECTED));
        }
        return Ok(Some(AgentWord::Weight(weight)));
    }
    if let Some(value) = lower.strip_prefix("maxconn:") {
        let limit: u32 = value
            .parse()
            .map_err(|_| bad("maxconn:N with N a whole number"))?;
        return Ok(Some(AgentWord::MaxConn((limit > 0).then_some(limit))));
    }
    if lower.starts_with(|c: char| c.is_ascii_digit()) {
        let load: f64 = lower
            .parse()
            .ok()
            .filter(|l: &f64| l.is_finite())
            .ok_or_else(|| bad("a load in percent such as 37 or 37.5"))?;
        return Ok(Some(AgentWord::Load(load.round().min(100.0) as u8)));
    }
    Ok(None)
}

/// The weight a backend configured with `configured` gets when its agent asks
/// for `percent` of it. Any share above zero keeps at least weight 1, so that
/// a small backend is slowed down rather than drained; the result is capped
/// at [`MAX_WEIGHT`].
pub fn relative_weight(configured: u16, percent: u32) -> u16 {
    if percent == 0 {
        return 0;
    }
    let scaled = (u64::from(configured) * u64::from(percent) + 50) / 100;
    scaled.clamp(1, u64::from(MAX_WEIGHT)) as u16
}

#[cfg(test)]
mod tests {
    use super::*;
    use AgentWord::*;

    fn parse(line: &str) -> Vec<AgentWord> {
        parse_agent_reply(line).unwrap_or_else(|e| panic!("{line:?}: {e}"))
    }

    #[test]
    fn each_state_word_is_understood() {
        for (text, state) in [
            ("up", AgentState::Up),
            ("down", AgentState::Down),
            ("drain", AgentState::Drain),
            ("maint", AgentState::Maint),
            ("ready", AgentState::Ready),
            ("fail", AgentState::Down),
            ("failed", AgentState::Down),
            ("stopped", AgentState::Down),
        ] {
            assert_eq!(parse(text), vec![State(state)], "{text}");
        }
    }

    #[test]
    fn percent_is_a_relative_weight() {
        assert_eq!(parse("75%"), vec![WeightPercent(75)]);
        assert_eq!(parse("0%"), vec![WeightPercent(0)]);
        assert_eq!(parse("200%"), vec![WeightPercent(200)]);
    }

    #[test]
    fn weight_and_maxconn_take_a_value_after_a_colon() {
        assert_eq!(parse("weight:12"), vec![Weight(12)]);
        assert_eq!(parse("maxconn:30"), vec![MaxConn(Some(30))]);
        assert_eq!(
            parse("maxconn:0"),
            vec![MaxConn(None)],
            "zero lifts the limit"
        );
    }

    #[test]
    fn a_bare_number_is_the_load_in_percent() {
        assert_eq!(parse("37"), vec![Load(37)]);
        assert_eq!(parse("37.6"), vec![Load(38)]);
        assert_eq!(parse("0"), vec![Load(0)]);
        assert_eq!(parse("250"), vec![Load(100)], "capped at 100");
    }

    #[test]
    fn several_words_in_one_line_keep_their_order() {
        assert_eq!(
            parse("75%, drain"),
            vec![WeightPercent(75), State(AgentState::Drain)]
        );
        assert_eq!(
            parse("up 50%"),
            vec![State(AgentState::Up), WeightPercent(50)]
        );
        assert_eq!(
            parse("ready,maxconn:10 ,\t12"),
            vec![State(AgentState::Ready), MaxConn(Some(10)), Load(12)]
        );
    }

    #[test]
    fn line_ends_and_extra_separators_are_ignored() {
        assert_eq!(parse("  up,,  \r\n"), vec![State(AgentState::Up)]);
        assert_eq!(parse("drain\n"), vec![State(AgentState::Drain)]);
    }

    #[test]
    fn words_are_case_insensitive() {
        assert_eq!(parse("UP"), vec![State(AgentState::Up)]);
        assert_eq!(parse("Drain"), vec![State(AgentState::Drain)]);
        assert_eq!(
            parse("Weight:3 MAXCONN:4"),
            vec![Weight(3), MaxConn(Some(4))]
        );
    }

    #[test]
    fn text_after_a_hash_is_a_description() {
        assert_eq!(parse("down#disk full, 90%"), vec![State(AgentState::Down)]);
        assert_eq!(parse("maint # upgrading"), vec![State(AgentState::Maint)]);
    }

    #[test]
    fn unknown_words_are_skipped_like_haproxy() {
        assert_eq!(parse("hello up world"), vec![State(AgentState::Up)]);
        assert_eq!(parse("hello"), vec![], "a line of junk says nothing");
    }

    #[test]
    fn an_empty_reply_is_an_error() {
        assert_eq!(parse_agent_reply(""), Err(AgentError::Empty));
        assert_eq!(parse_agent_reply(" ,\r\n"), Err(AgentError::Empty));
        assert_eq!(
            parse_agent_reply("# only a comment"),
            Err(AgentError::Empty)
        );
    }

    #[test]
    fn a_known_word_with_a_bad_value_refuses_the_line() {
        for text in [
            "up x%",
            "-5%",
            "25601%",
            "weight:257",
            "weight:x",
            "weight:",
            "maxconn:-1",
            "maxconn:many",
            "12abc",
            "1e999",
        ] {
            let err = parse_agent_reply(text).unwrap_err();
            assert!(
                matches!(err, AgentError::BadValue { .. }),
                "{text}: {err:?}"
            );
            assert!(err.to_string().contains("expected"), "{err}");
        }
    }

    #[test]
    fn relative_weight_scales_rounds_and_caps() {
        assert_eq!(relative_weight(4, 50), 2);
        assert_eq!(relative_weight(10, 75), 8, "7.5 rounds up");
        assert_eq!(
            relative_weight(1, 10),
            1,
            "a share above zero keeps weight 1"
        );
        assert_eq!(relative_weight(5, 0), 0);
        assert_eq!(relative_weight(200, 200), MAX_WEIGHT);
        assert_eq!(relative_weight(3, 100), 3);
    }
}
