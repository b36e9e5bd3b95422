//! Feeds arbitrary text to the agent-check reply parser and arbitrary bytes
//! to the HTTP check's response judge, and checks that nothing panics and
//! that the answers keep their documented ranges.
#![no_main]

use distloop::lb::health::AgentWord;
use distloop::lb::health::agent::{MAX_WEIGHT_PERCENT, relative_weight};
use distloop::lb::health::http_check::{HttpVerdict, MAX_STATUS_LINE_BYTES, evaluate_response};
use distloop::lb::health::parse_agent_reply;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match evaluate_response(data) {
        HttpVerdict::Pass(status) => assert!((200..400).contains(&status)),
        HttpVerdict::Fail(status) => assert!((100..=999).contains(&status)),
        HttpVerdict::Partial => assert!(data.len() < MAX_STATUS_LINE_BYTES),
        HttpVerdict::Invalid => {}
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(words) = parse_agent_reply(text) {
        for word in words {
            match word {
                AgentWord::WeightPercent(percent) => {
                    assert!(percent <= MAX_WEIGHT_PERCENT);
                    for configured in [0, 1, 7, 256] {
                        relative_weight(configured, percent);
                    }
                }
                AgentWord::Weight(weight) => assert!(weight <= 256),
                AgentWord::Load(load) => assert!(load <= 100),
                AgentWord::MaxConn(limit) => assert_ne!(limit, Some(0)),
                AgentWord::State(_) => {}
            }
        }
    }
});
