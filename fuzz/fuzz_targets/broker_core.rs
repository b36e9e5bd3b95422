//! Drives the sans-IO broker with two clients whose input arrives as
//! arbitrary bytes cut at arbitrary points, and checks that nothing panics,
//! that every outbox stays within its bound (plus one error frame), and
//! that a closing client stays closing.
#![no_main]

use distloop::broker::{Broker, BrokerConfig, ClientId, SlowConsumerPolicy};
use libfuzzer_sys::fuzz_target;

/// Frame limit: small, so oversized frames are easy to reach.
const MAX_FRAME_BYTES: usize = 2048;
/// Outbox bound: small, so slow-consumer handling is reached.
const OUTBOUND_LIMIT_BYTES: usize = 4096;
/// Slack over the bound: one error frame, queued unbounded.
const ERROR_FRAME_SLACK_BYTES: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, mut script)) = data.split_first() else {
        return;
    };
    let mut broker = Broker::new(BrokerConfig {
        max_frame_bytes: MAX_FRAME_BYTES,
        outbound_limit_bytes: OUTBOUND_LIMIT_BYTES,
        slow_consumer: if mode & 1 == 0 {
            SlowConsumerPolicy::Disconnect
        } else {
            SlowConsumerPolicy::DropOldest
        },
        ..BrokerConfig::default()
    });
    let mut clients: [(ClientId, Vec<u8>, bool); 2] = [
        (broker.connect(), Vec::new(), false),
        (broker.connect(), Vec::new(), false),
    ];
    let mut touched = Vec::new();
    // Each step: a control byte (which client, whether to flush its outbox,
    // whether to reconnect it) and a length byte, then that many input bytes.
    while let [control, len, rest @ ..] = script {
        let n = usize::from(*len).min(rest.len());
        let (chunk, tail) = rest.split_at(n);
        script = tail;
        let slot = &mut clients[usize::from(control & 1)];
        if control & 4 != 0 {
            broker.disconnect(slot.0);
            assert_eq!(broker.outbox_len(slot.0), 0);
            *slot = (broker.connect(), Vec::new(), false);
        }
        let id = slot.0;
        slot.1.extend_from_slice(chunk);
        let used = broker.receive(id, &slot.1);
        assert!(used <= slot.1.len());
        slot.1.drain(..used);
        assert!(slot.1.len() <= MAX_FRAME_BYTES + 4, "unread input grows");
        let closing = broker.is_closing(id);
        assert!(!slot.2 || closing, "a closing client came back");
        slot.2 = closing;
        if control & 2 != 0
            && let Some(outbox) = broker.outbox_mut(id)
        {
            let n = outbox.len();
            outbox.consume(n);
        }
        for (other, _, _) in &clients {
            assert!(
                broker.outbox_len(*other) <= OUTBOUND_LIMIT_BYTES + ERROR_FRAME_SLACK_BYTES,
                "outbox over its bound"
            );
        }
        broker.take_touched(&mut touched);
        touched.clear();
    }
});
