//! Feeds the echo framer arbitrary input, cut into reads at arbitrary points
//! and echoed into an output of arbitrary room, and checks it against a
//! plain reading of the protocol: every line up to and including the first
//! `fim`, unless a line passes the limit first.
#![no_main]

use distloop::apps::echo::line::{Framer, Framing, FramingError, Step, is_end_of_session};
use libfuzzer_sys::fuzz_target;

const LIMIT: usize = 64;

/// What the protocol says the whole input should produce.
fn expected(input: &[u8]) -> (Vec<u8>, bool, bool) {
    let mut echoed = Vec::new();
    for line in input.split_inclusive(|&b| b == b'\n') {
        let whole = line.ends_with(b"\n");
        if line.len() > LIMIT || (!whole && line.len() >= LIMIT) {
            return (echoed, false, true);
        }
        echoed.extend_from_slice(line);
        if is_end_of_session(line) {
            return (echoed, true, false);
        }
    }
    (echoed, false, false)
}

fuzz_target!(|data: &[u8]| {
    let Some((&cuts, input)) = data.split_first() else {
        return;
    };
    let raw = cuts & 0x80 != 0;
    let chunk = usize::from(cuts & 0x0f) + 1;
    let room = LIMIT + usize::from((cuts >> 4) & 0x07) * 16;
    let mut framer = Framer::with_max_line(if raw { Framing::Raw } else { Framing::Lines }, LIMIT);
    let (mut buffered, mut echoed) = (Vec::new(), Vec::new());
    let (mut ended, mut refused) = (false, false);
    let mut fed = 0;
    'feed: loop {
        let next = (fed + chunk).min(input.len());
        buffered.extend_from_slice(&input[fed..next]);
        fed = next;
        let eof = fed == input.len();
        loop {
            // The output drains completely between reads, as a socket would.
            match framer.next(&buffered, room, eof) {
                Ok(Step::Echo(len)) => {
                    assert!(len > 0 && len <= room.min(buffered.len()));
                    echoed.extend(buffered.drain(..len));
                }
                Ok(Step::End(len)) => {
                    assert!(!raw && is_end_of_session(&buffered[..len]));
                    echoed.extend(buffered.drain(..len));
                    ended = true;
                    break 'feed;
                }
                Ok(Step::NeedRoom) => panic!("a line of at most {LIMIT} bytes fits in {room}"),
                Ok(Step::NeedMore) => break,
                Err(FramingError::LineTooLong { limit }) => {
                    assert!(!raw && limit == LIMIT);
                    refused = true;
                    break 'feed;
                }
            }
            assert!(buffered.len() < LIMIT + chunk, "input stays bounded");
        }
        if eof {
            break;
        }
    }
    if raw {
        assert_eq!(echoed, input);
    } else {
        assert_eq!((echoed, ended, refused), expected(input));
    }
});
