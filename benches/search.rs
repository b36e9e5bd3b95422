//! Throughput of the search counting core in bytes per second: ten
//! keywords over 16 MiB of English-like ASCII text (searched as it is) and
//! over the same text with accented letters (normalized first), and with a
//! phrase among the keywords.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use distloop::apps::search::{Counter, MatchOptions};

const TEXT_BYTES: usize = 16 * 1024 * 1024;

const WORDS: &[&str] = &[
    "and", "the", "of", "unto", "lord", "shall", "he", "in", "that", "him", "said", "they", "for",
    "his", "be", "is", "with", "not", "all", "thou", "thy", "was", "which", "my", "house", "god",
    "king", "people", "son", "hand", "day", "land", "earth", "father",
];

fn text(accented: bool) -> Vec<u8> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut out = Vec::with_capacity(TEXT_BYTES + 16);
    while out.len() < TEXT_BYTES {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let word = WORDS[(state % WORDS.len() as u64) as usize];
        if accented && state % 7 == 0 {
            out.extend_from_slice("Émile ".as_bytes());
        }
        out.extend_from_slice(word.as_bytes());
        out.extend_from_slice(if state % 11 == 0 { b".\n" } else { b" " });
    }
    out
}

fn keywords(phrase: bool) -> Vec<String> {
    let mut list = vec![
        "lord",
        "king",
        "people",
        "earth",
        "father",
        "house",
        "jerusalem",
        "israel",
        "moses",
        "david",
    ];
    if phrase {
        list[9] = "the lord";
    }
    list.into_iter().map(str::to_owned).collect()
}

fn count(c: &mut Criterion) {
    let mut group = c.benchmark_group("search_count");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(TEXT_BYTES as u64));
    for (name, accented, phrase) in [
        ("ascii_words", false, false),
        ("unicode_words", true, false),
        ("ascii_with_phrase", false, true),
    ] {
        let text = text(accented);
        let counter = Counter::new(&keywords(phrase), MatchOptions::default()).unwrap();
        group.bench_function(name, |b| {
            b.iter(|| black_box(counter.count(black_box(&text))))
        });
    }
    group.finish();
}

criterion_group!(benches, count);
criterion_main!(benches);
