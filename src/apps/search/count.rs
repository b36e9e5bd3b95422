//! The counting core: every keyword counted in one pass over a chunk of
//! text with one Aho-Corasick automaton, sans-IO.
//!
//! A match is an occurrence of a keyword's pattern (see [`super::keywords`])
//! in the text after the same normalization: folded (unless case-sensitive)
//! and each whitespace run made one space, so a phrase matches across any
//! run of whitespace, newlines included. By default a match must also be a
//! whole word: the characters just before and after it are not word
//! characters. Each keyword is counted on its own: the automaton reports
//! every occurrence of every pattern, overlapping ones included, so one
//! keyword never hides another (`new` still counts inside `new york`).
//!
//! A chunk carries an owned range; a match counts only if its first byte is
//! in that range. With the overlap the chunker adds, every match is counted
//! in exactly one chunk (see [`super::chunk`]).
//!
//! Text that is ASCII (or any text when the search is case-sensitive), with
//! no phrase among the keywords, is searched as it is; other text is
//! normalized into a scratch buffer first.

use std::ops::Range;

use aho_corasick::{AhoCorasick, Input, MatchKind};

use super::keywords::{KeywordError, MatchOptions, fold, is_word_char, normalize_keywords};

/// What normalization writes for a byte that is not part of valid UTF-8: a
/// byte that never occurs in UTF-8, so no pattern matches across it.
const INVALID_BYTE_MARK: u8 = 0xFF;

/// A compiled keyword set that counts matches in chunks of text.
#[derive(Debug, Clone)]
pub struct Counter {
    keywords: Vec<String>,
    options: MatchOptions,
    automaton: AhoCorasick,
    overlaps_possible: bool,
    /// For each keyword, the index of its (deduplicated) pattern.
    pattern_of_keyword: Vec<usize>,
    pattern_count: usize,
    has_phrase: bool,
    longest_pattern_bytes: usize,
    longest_pattern_chars: usize,
}

impl Counter {
    /// Compiles `keywords` (as typed) for `options`.
    pub fn new(keywords: &[String], options: MatchOptions) -> Result<Counter, KeywordError> {
        let normalized = normalize_keywords(keywords, options.case_sensitive)?;
        let mut patterns: Vec<String> = Vec::new();
        let mut pattern_of_keyword = Vec::with_capacity(normalized.len());
        for pattern in normalized {
            let index = match patterns.iter().position(|p| *p == pattern) {
                Some(i) => i,
                None => {
                    patterns.push(pattern);
                    patterns.len() - 1
                }
            };
            pattern_of_keyword.push(index);
        }
        // Whole words made only of word characters cannot overlap one
        // another, so the faster leftmost search (which skips overlaps)
        // finds every match that can count: a match that fails the
        // whole-word check cannot span the non-word character a valid one
        // starts after, and at one start only the longest can be valid.
        let overlaps_possible =
            options.substring || patterns.iter().any(|p| !p.chars().all(is_word_char));
        let automaton = AhoCorasick::builder()
            .match_kind(if overlaps_possible {
                MatchKind::Standard
            } else {
                MatchKind::LeftmostLongest
            })
            .ascii_case_insensitive(!options.case_sensitive)
            .build(&patterns)
            .expect("bounded keyword sets build");
        Ok(Counter {
            keywords: keywords.to_vec(),
            options,
            automaton,
            overlaps_possible,
            pattern_of_keyword,
            pattern_count: patterns.len(),
            has_phrase: patterns.iter().any(|p| p.contains(' ')),
            longest_pattern_bytes: patterns.iter().map(String::len).max().unwrap_or(0),
            longest_pattern_chars: patterns
                .iter()
                .map(|p| p.chars().count())
                .max()
                .unwrap_or(0),
        })
    }

    /// The keywords, as given.
    pub fn keywords(&self) -> &[String] {
        &self.keywords
    }

    /// The options the counter was built with.
    pub fn options(&self) -> MatchOptions {
        self.options
    }

    /// The longest keyword in characters after normalization, each
    /// whitespace run counting as one: what the chunker's overlap must hold.
    pub fn longest_keyword_chars(&self) -> usize {
        self.longest_pattern_chars
    }

    /// Counts per keyword over the whole of `text`.
    pub fn count(&self, text: &[u8]) -> Vec<u64> {
        self.count_owned(text, 0..text.len())
    }

    /// Counts per keyword of the matches whose first byte lies in `owned`.
    /// `owned` must start and end where a character does (the chunker cuts
    /// only there); bytes outside it are context for the whole-word check
    /// and for matches that run past its end.
    pub fn count_owned(&self, chunk: &[u8], owned: Range<usize>) -> Vec<u64> {
        let mut per_pattern = vec![0u64; self.pattern_count];
        let searchable_as_is =
            !self.has_phrase && (self.options.case_sensitive || chunk.is_ascii());
        if searchable_as_is {
            self.count_matches(chunk, owned, &mut per_pattern);
        } else {
            let mut normalized = Vec::with_capacity(chunk.len() + chunk.len() / 8);
            let mut in_space = false;
            let case_sensitive = self.options.case_sensitive;
            normalize(
                &chunk[..owned.start],
                case_sensitive,
                &mut in_space,
                &mut normalized,
            );
            let start = normalized.len();
            normalize(
                &chunk[owned.clone()],
                case_sensitive,
                &mut in_space,
                &mut normalized,
            );
            let end = normalized.len();
            normalize(
                &chunk[owned.end..],
                case_sensitive,
                &mut in_space,
                &mut normalized,
            );
            self.count_matches(&normalized, start..end, &mut per_pattern);
        }
        self.pattern_of_keyword
            .iter()
            .map(|&p| per_pattern[p])
            .collect()
    }

    fn count_matches(&self, text: &[u8], owned: Range<usize>, per_pattern: &mut [u64]) {
        if owned.is_empty() {
            return;
        }
        let limit = text.len().min(owned.end + self.longest_pattern_bytes);
        let input = Input::new(text).span(owned.start..limit);
        let mut tally = |start: usize, end: usize, pattern: usize| {
            if start >= owned.end {
                return;
            }
            if !self.options.substring
                && (ends_in_word_char(&text[..start]) || starts_with_word_char(&text[end..]))
            {
                return;
            }
            per_pattern[pattern] += 1;
        };
        if self.overlaps_possible {
            for found in self.automaton.find_overlapping_iter(input) {
                tally(found.start(), found.end(), found.pattern().as_usize());
            }
        } else {
            for found in self.automaton.find_iter(input) {
                tally(found.start(), found.end(), found.pattern().as_usize());
            }
        }
    }
}

/// Appends the normalized form of `text` to `out`: folded unless
/// `case_sensitive`, each whitespace run one space (`in_space` carries a
/// run across calls), each byte of invalid UTF-8 one [`INVALID_BYTE_MARK`].
fn normalize(text: &[u8], case_sensitive: bool, in_space: &mut bool, out: &mut Vec<u8>) {
    for piece in text.utf8_chunks() {
        let valid = piece.valid();
        let bytes = valid.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            if b.is_ascii() {
                i += 1;
                if matches!(b, b'\t'..=b'\r' | b' ') {
                    if !*in_space {
                        out.push(b' ');
                        *in_space = true;
                    }
                } else {
                    out.push(if case_sensitive {
                        b
                    } else {
                        b.to_ascii_lowercase()
                    });
                    *in_space = false;
                }
                continue;
            }
            let c = valid[i..].chars().next().expect("i is a char boundary");
            i += c.len_utf8();
            if c.is_whitespace() {
                if !*in_space {
                    out.push(b' ');
                    *in_space = true;
                }
            } else {
                let c = if case_sensitive { c } else { fold(c) };
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                *in_space = false;
            }
        }
        for _ in piece.invalid() {
            out.push(INVALID_BYTE_MARK);
            *in_space = false;
        }
    }
}

/// Whether the last character of `before` is a word character (invalid
/// UTF-8 is not).
fn ends_in_word_char(before: &[u8]) -> bool {
    let Some(&last) = before.last() else {
        return false;
    };
    if last.is_ascii() {
        return last == b'_' || last.is_ascii_alphanumeric();
    }
    let from = before.len().saturating_sub(4);
    let tail = &before[from..];
    // The character that ends here starts at the last byte that is not a
    // continuation byte.
    let Some(lead) = tail.iter().rposition(|b| b & 0xC0 != 0x80) else {
        return false;
    };
    match std::str::from_utf8(&tail[lead..]) {
        Ok(s) => s.chars().next().is_some_and(is_word_char),
        Err(_) => false,
    }
}

/// Whether `after` begins with a word character.
fn starts_with_word_char(after: &[u8]) -> bool {
    let Some(&first) = after.first() else {
        return false;
    };
    if first.is_ascii() {
        return first == b'_' || first.is_ascii_alphanumeric();
    }
    let head = &after[..after.len().min(4)];
    head.utf8_chunks()
        .next()
        .and_then(|piece| piece.valid().chars().next())
        .is_some_and(is_word_char)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter(keywords: &[&str], options: MatchOptions) -> Counter {
        let keywords: Vec<String> = keywords.iter().map(|k| k.to_string()).collect();
        Counter::new(&keywords, options).unwrap()
    }

    fn whole_words(keywords: &[&str]) -> Counter {
        counter(keywords, MatchOptions::default())
    }

    #[test]
    fn whole_words_ignore_case_and_skip_longer_words() {
        let c = whole_words(&["the", "cat"]);
        let text = b"The cat sat on THE mat; thereafter the_cat and cats left. the";
        assert_eq!(c.count(text), [3, 1]);
    }

    #[test]
    fn substring_counts_inside_words() {
        let c = counter(
            &["the", "cat"],
            MatchOptions {
                substring: true,
                ..MatchOptions::default()
            },
        );
        assert_eq!(c.count(b"The cat; thereafter the_cat and cats"), [3, 3]);
    }

    #[test]
    fn case_sensitive_compares_exactly() {
        let c = counter(
            &["The", "été"],
            MatchOptions {
                case_sensitive: true,
                ..MatchOptions::default()
            },
        );
        assert_eq!(c.count("The the THE été Été".as_bytes()), [1, 1]);
    }

    #[test]
    fn unicode_letters_fold_and_bound_words() {
        let c = whole_words(&["été", "σοφία", "k"]);
        let text = "ÉTÉ, Été! étés été_ ΣΟΦΊΑ σοφία \u{212A} K k".as_bytes();
        assert_eq!(c.count(text), [2, 2, 3]);
    }

    #[test]
    fn phrases_match_across_any_whitespace_run() {
        let c = whole_words(&["distributed systems", "systems"]);
        let text = b"Distributed   systems; distributed\n\n\tSYSTEMS and distributed-systems";
        assert_eq!(c.count(text), [2, 3]);
    }

    #[test]
    fn each_keyword_counts_as_if_alone() {
        let c = whole_words(&["new", "new york", "york", "NEW"]);
        assert_eq!(
            c.count(b"new york, New York city, new yorker"),
            [3, 2, 2, 3]
        );
    }

    #[test]
    fn overlapping_occurrences_of_one_keyword_all_count() {
        let c = counter(
            &["aa"],
            MatchOptions {
                substring: true,
                ..MatchOptions::default()
            },
        );
        assert_eq!(c.count(b"aaaa"), [3]);
    }

    #[test]
    fn invalid_utf8_is_neither_word_nor_match() {
        let c = whole_words(&["ab"]);
        assert_eq!(c.count(b"\xffab\xfe ab\xc3"), [2]);
    }

    #[test]
    fn only_matches_starting_in_the_owned_range_count() {
        let c = whole_words(&["ab cd"]);
        let text = b"ab cd ab cd ab cd";
        assert_eq!(c.count_owned(text, 0..6), [1]);
        assert_eq!(c.count_owned(text, 6..12), [1]);
        assert_eq!(c.count_owned(text, 12..17), [1]);
        // The character before the owned range still bounds the word.
        assert_eq!(c.count_owned(b"xab cd", 1..6), [0]);
    }

    #[test]
    fn longest_keyword_is_measured_in_characters() {
        let c = whole_words(&["a", "été  x"]);
        assert_eq!(c.longest_keyword_chars(), 5);
    }
}
