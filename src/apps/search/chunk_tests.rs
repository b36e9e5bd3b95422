//! Chunking against a single pass: random texts and keywords, chunk sizes
//! down to one byte, input pushed in random pieces; and the single pass
//! itself against a character-by-character reference count.

use super::*;
use crate::apps::search::{Counter, MatchOptions, fold, is_word_char};

/// A small deterministic generator (xorshift64*), so failures replay.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Pieces texts are made of: words that fold into each other, whitespace
/// runs, punctuation, multi-byte letters and invalid UTF-8.
const TEXT_PIECES: &[&[u8]] = &[
    b"a",
    b"A",
    b"b",
    b"ab",
    b"AB",
    b" ",
    b"  ",
    b"\n",
    b"\t\n ",
    b"-",
    b"_",
    b".",
    "é".as_bytes(),
    "É".as_bytes(),
    "\u{212A}".as_bytes(),
    b"k",
    b"K",
    "ß".as_bytes(),
    "ẞ".as_bytes(),
    "\u{3000}".as_bytes(),
    "中".as_bytes(),
    "€".as_bytes(),
    b"\xff",
    b"\xe2\x82",
    b"\x82",
    b"\xf0\x9f\x98",
];

const KEYWORD_CHOICES: &[&str] = &[
    "a", "ab", "a b", "b a", "é", "k", "ß", "ẞ", "a\n b", "ab ab", "中", "-", "é a", "aa",
];

fn random_text(rng: &mut Rng) -> Vec<u8> {
    let pieces = rng.below(120);
    let mut text = Vec::new();
    for _ in 0..pieces {
        let piece: &[u8] = TEXT_PIECES[rng.below(TEXT_PIECES.len())];
        text.extend_from_slice(piece);
    }
    text
}

fn random_keywords(rng: &mut Rng) -> Vec<String> {
    (0..1 + rng.below(4))
        .map(|_| rng.pick(KEYWORD_CHOICES).to_string())
        .collect()
}

fn random_options(rng: &mut Rng) -> MatchOptions {
    MatchOptions {
        case_sensitive: rng.below(2) == 0,
        substring: rng.below(2) == 0,
    }
}

/// Counts through the chunker, pushing the text in random pieces.
fn chunked_counts(counter: &Counter, text: &[u8], chunk_bytes: usize, rng: &mut Rng) -> Vec<u64> {
    let mut chunker = Chunker::new(chunk_bytes, counter.longest_keyword_chars());
    let mut chunks = Vec::new();
    let mut at = 0;
    while at < text.len() {
        let n = (1 + rng.below(9)).min(text.len() - at);
        chunker.push(&text[at..at + n], &mut chunks);
        at += n;
    }
    chunker.finish(&mut chunks);
    let mut next_owned = 0u64;
    let mut totals = vec![0; counter.keywords().len()];
    for chunk in &chunks {
        assert_eq!(
            chunk.offset + chunk.owned.start as u64,
            next_owned,
            "owned ranges tile the stream"
        );
        assert!(!chunk.owned.is_empty());
        next_owned += chunk.owned.len() as u64;
        for (total, n) in totals
            .iter_mut()
            .zip(counter.count_owned(&chunk.bytes, chunk.owned.clone()))
        {
            *total += n;
        }
    }
    assert_eq!(next_owned, text.len() as u64);
    totals
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Symbol {
    Char(char),
    Space,
    Invalid,
}

fn symbols(text: &[u8], case_sensitive: bool) -> Vec<Symbol> {
    let mut out = Vec::new();
    for piece in text.utf8_chunks() {
        for c in piece.valid().chars() {
            if c.is_whitespace() {
                if out.last() != Some(&Symbol::Space) {
                    out.push(Symbol::Space);
                }
            } else {
                out.push(Symbol::Char(if case_sensitive { c } else { fold(c) }));
            }
        }
        out.extend(piece.invalid().iter().map(|_| Symbol::Invalid));
    }
    out
}

fn is_word(symbol: Option<&Symbol>) -> bool {
    matches!(symbol, Some(Symbol::Char(c)) if is_word_char(*c))
}

/// The definition, one position and one keyword at a time.
fn reference_counts(keywords: &[String], options: MatchOptions, text: &[u8]) -> Vec<u64> {
    let text = symbols(text, options.case_sensitive);
    keywords
        .iter()
        .map(|k| {
            let pattern = symbols(k.trim().as_bytes(), options.case_sensitive);
            let n = pattern.len();
            (0..text.len().saturating_sub(n - 1))
                .filter(|&i| text[i..i + n] == pattern[..])
                .filter(|&i| {
                    options.substring
                        || (!is_word(i.checked_sub(1).and_then(|j| text.get(j)))
                            && !is_word(text.get(i + n)))
                })
                .count() as u64
        })
        .collect()
}

#[test]
fn single_pass_matches_the_reference_definition() {
    let mut rng = Rng(0x5EED_0001);
    for round in 0..3000 {
        let text = random_text(&mut rng);
        let keywords = random_keywords(&mut rng);
        let options = random_options(&mut rng);
        let counter = Counter::new(&keywords, options).unwrap();
        assert_eq!(
            counter.count(&text),
            reference_counts(&keywords, options, &text),
            "round {round}: {keywords:?} {options:?} in {:?}",
            String::from_utf8_lossy(&text)
        );
    }
}

#[test]
fn chunked_totals_equal_a_single_pass_for_any_chunk_size() {
    let mut rng = Rng(0x5EED_0002);
    for round in 0..1500 {
        let text = random_text(&mut rng);
        let keywords = random_keywords(&mut rng);
        let options = random_options(&mut rng);
        let counter = Counter::new(&keywords, options).unwrap();
        let whole = counter.count(&text);
        for chunk_bytes in [1, 2, 3, 4, 5, 7, 11, 16, 64] {
            assert_eq!(
                chunked_counts(&counter, &text, chunk_bytes, &mut rng),
                whole,
                "round {round}, chunks of {chunk_bytes}: {keywords:?} {options:?} in {:?}",
                String::from_utf8_lossy(&text)
            );
        }
    }
}

#[test]
fn a_phrase_across_a_long_newline_run_at_a_boundary_is_found_once() {
    let counter = Counter::new(&["alpha beta".to_owned()], MatchOptions::default()).unwrap();
    let mut text = b"xx alpha".to_vec();
    text.extend(std::iter::repeat_n(b'\n', 1000));
    text.extend_from_slice(b"BETA yy");
    let mut rng = Rng(7);
    for chunk_bytes in [1, 5, 8, 100, 2000] {
        assert_eq!(chunked_counts(&counter, &text, chunk_bytes, &mut rng), [1]);
    }
}

#[test]
fn an_empty_stream_makes_no_chunk() {
    let mut chunks = Vec::new();
    Chunker::new(4, 3).finish(&mut chunks);
    assert!(chunks.is_empty());
}

#[test]
fn chunks_never_split_a_character() {
    let text = "€€€€".as_bytes();
    let mut chunks = Vec::new();
    let mut chunker = Chunker::new(1, 1);
    chunker.push(text, &mut chunks);
    chunker.finish(&mut chunks);
    let owned: Vec<&[u8]> = chunks.iter().map(|c| &c.bytes[c.owned.clone()]).collect();
    assert_eq!(owned, ["€".as_bytes(); 4]);
}
