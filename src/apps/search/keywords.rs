//! Keywords as the user types them, turned into the patterns the counter
//! searches for: trimmed, inner whitespace runs made one space, and (unless
//! the search is case-sensitive) each character replaced by its Unicode
//! simple case folding. Also the text classes the whole counting core
//! shares: what a word character and a whitespace character are.
//!
//! This file owns no search: [`super::count`] builds the automaton.

use std::fmt;

/// Most keywords one search may count at once.
pub const MAX_KEYWORDS: usize = 64;
/// Longest keyword, in bytes of UTF-8.
pub const MAX_KEYWORD_BYTES: usize = 256;

/// How keywords match the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MatchOptions {
    /// Compare characters exactly instead of by simple case folding.
    pub case_sensitive: bool,
    /// Count occurrences inside longer words too (no whole-word check).
    pub substring: bool,
}

/// A keyword list the counter cannot use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeywordError {
    /// No keyword was given.
    NoKeywords,
    /// More than [`MAX_KEYWORDS`] keywords.
    TooMany(usize),
    /// A keyword is empty or only whitespace.
    Empty,
    /// A keyword is longer than [`MAX_KEYWORD_BYTES`].
    TooLong(String),
}

impl fmt::Display for KeywordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeywordError::NoKeywords => write!(f, "no keyword given"),
            KeywordError::TooMany(n) => {
                write!(f, "{n} keywords given, at most {MAX_KEYWORDS} allowed")
            }
            KeywordError::Empty => write!(f, "a keyword is empty"),
            KeywordError::TooLong(k) => write!(
                f,
                "keyword {:?}... is longer than {MAX_KEYWORD_BYTES} bytes",
                k.chars().take(20).collect::<String>()
            ),
        }
    }
}

impl std::error::Error for KeywordError {}

/// Splits the original's keyword field (`"k1, k2"`) on commas, trimming
/// each part and dropping empty ones.
pub fn split_keyword_list(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The pattern a keyword becomes: trimmed, each whitespace run one space,
/// folded unless `case_sensitive`.
pub fn normalize_keyword(keyword: &str, case_sensitive: bool) -> Result<String, KeywordError> {
    if keyword.len() > MAX_KEYWORD_BYTES {
        return Err(KeywordError::TooLong(keyword.to_owned()));
    }
    let mut pattern = String::with_capacity(keyword.len());
    for word in keyword.split_whitespace() {
        if !pattern.is_empty() {
            pattern.push(' ');
        }
        if case_sensitive {
            pattern.push_str(word);
        } else {
            pattern.extend(word.chars().map(fold));
        }
    }
    if pattern.is_empty() {
        return Err(KeywordError::Empty);
    }
    Ok(pattern)
}

/// Checks the count and returns each keyword's pattern, in order.
pub fn normalize_keywords(
    keywords: &[String],
    case_sensitive: bool,
) -> Result<Vec<String>, KeywordError> {
    if keywords.is_empty() {
        return Err(KeywordError::NoKeywords);
    }
    if keywords.len() > MAX_KEYWORDS {
        return Err(KeywordError::TooMany(keywords.len()));
    }
    keywords
        .iter()
        .map(|k| normalize_keyword(k, case_sensitive))
        .collect()
}

/// Unicode simple case folding (CaseFolding.txt statuses C and S): one
/// character to one character, so a folded text keeps its character count.
pub fn fold(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_lowercase();
    }
    unicode_case_mapping::case_folded(c)
        .and_then(|n| char::from_u32(n.get()))
        .unwrap_or(c)
}

/// A word character: a Unicode letter or digit, or `_`. A word is a maximal
/// run of them.
pub fn is_word_char(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phrases_become_single_spaced_and_folded() {
        assert_eq!(
            normalize_keyword("  Distributed \n\t SYSTEMS ", false).unwrap(),
            "distributed systems"
        );
        assert_eq!(normalize_keyword("Straße", true).unwrap(), "Straße");
    }

    #[test]
    fn folding_is_simple_and_unicode() {
        assert_eq!(fold('Σ'), 'σ');
        assert_eq!(fold('ς'), 'σ');
        assert_eq!(fold('\u{212A}'), 'k'); // KELVIN SIGN
        assert_eq!(fold('ẞ'), 'ß');
        // ß has only a full folding ("ss"), which simple folding leaves out.
        assert_eq!(fold('ß'), 'ß');
        assert_eq!(fold('É'), 'é');
    }

    #[test]
    fn bad_keyword_lists_are_refused_with_reasons() {
        assert_eq!(
            normalize_keywords(&[], false),
            Err(KeywordError::NoKeywords)
        );
        assert_eq!(
            normalize_keywords(&[" \t".to_owned()], false),
            Err(KeywordError::Empty)
        );
        let long = "x".repeat(MAX_KEYWORD_BYTES + 1);
        assert!(matches!(
            normalize_keywords(&[long], false),
            Err(KeywordError::TooLong(_))
        ));
        let many = vec!["a".to_owned(); MAX_KEYWORDS + 1];
        assert_eq!(
            normalize_keywords(&many, false),
            Err(KeywordError::TooMany(MAX_KEYWORDS + 1))
        );
    }

    #[test]
    fn the_original_keyword_field_splits_on_commas() {
        assert_eq!(split_keyword_list("k1, k2 ,,k3 "), ["k1", "k2", "k3"]);
    }

    #[test]
    fn word_characters_are_letters_digits_and_underscore() {
        for c in ['a', 'Z', '7', '_', 'é', 'Ж', '中', '٣'] {
            assert!(is_word_char(c), "{c:?}");
        }
        for c in [' ', '-', '\'', '.', '\u{a0}', '€'] {
            assert!(!is_word_char(c), "{c:?}");
        }
    }
}
