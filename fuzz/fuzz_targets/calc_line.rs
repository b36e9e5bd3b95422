//! Feeds arbitrary bytes to the calculator's request-line answerer (the JSON
//! and text framings, and through them the expression evaluator) and checks
//! that every line gets exactly one answer line, a JSON one when the line
//! was a JSON request.
#![no_main]

use distloop::apps::calc::number::Notation;
use distloop::apps::calc::wire::answer_line;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let line: Vec<u8> = data.iter().copied().filter(|&b| b != b'\n').collect();
    let answer = answer_line(&line, Notation::default());
    assert_eq!(answer.reply.iter().filter(|&&b| b == b'\n').count(), 1);
    assert_eq!(answer.reply.last(), Some(&b'\n'));
    let is_json = line.trim_ascii_start().starts_with(b"{") && std::str::from_utf8(&line).is_ok();
    if is_json {
        assert!(answer.reply.starts_with(b"{\"status\": \""), "{answer:?}");
    }
});
