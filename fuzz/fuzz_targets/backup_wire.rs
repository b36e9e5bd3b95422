//! Feeds arbitrary bytes to the backup protocol's head reader and parsers
//! (requests, replies, trailers) and to the name check, and checks that
//! nothing panics, that a head stays within its limit, and that a parsed
//! message writes back to a head that parses to the same message.
#![no_main]

use std::io::BufReader;

use distloop::apps::backup::name::{MAX_NAME_BYTES, check_name};
use distloop::apps::backup::wire::{
    MAX_HEAD_BYTES, Reply, Request, Trailer, parse_head, read_head, write_head,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut reader = BufReader::new(data);
    while let Ok(Some(head)) = read_head(&mut reader) {
        assert!(head.len() <= MAX_HEAD_BYTES);
        if let Ok(request) = parse_head::<Request>(&head) {
            let mut line = Vec::new();
            write_head(&mut line, &request).unwrap();
            assert_eq!(
                parse_head::<Request>(&line[..line.len() - 1]).unwrap(),
                request
            );
        }
        if let Ok(reply) = parse_head::<Reply>(&head) {
            let mut line = Vec::new();
            write_head(&mut line, &reply).unwrap();
            assert_eq!(parse_head::<Reply>(&line[..line.len() - 1]).unwrap(), reply);
        }
        let _ = parse_head::<Trailer>(&head);
    }
    if let Ok(text) = std::str::from_utf8(data)
        && check_name(text).is_ok()
    {
        assert!(text.len() <= MAX_NAME_BYTES);
        assert!(!text.starts_with('/') && !text.contains('\0'));
        assert!(text.split('/').all(|part| part != ".." && !part.is_empty()));
    }
});
