//! Feeds arbitrary bytes to the broker's frame parser and to every payload
//! codec, and checks that nothing panics, that a parsed frame encodes back
//! to the bytes it came from, and that a decoded payload, encoded in any
//! serialization, decodes again and encodes to the same bytes.
#![no_main]

use distloop::broker::codec::ALL_SERIALIZERS;
use distloop::broker::{Frame, Parsed, Serializer, parse_frame};
use libfuzzer_sys::fuzz_target;

/// Frame limit for the parser: small, so the limit check is reached often.
const MAX_FRAME_BYTES: usize = 4096;

fuzz_target!(|data: &[u8]| {
    frames(data);
    if let Some((&selector, payload)) = data.split_first() {
        payloads(
            Serializer::from_id(selector % 3).expect("0, 1 or 2"),
            payload,
        );
    }
});

fn frames(mut stream: &[u8]) {
    while let Ok(Parsed::Complete(frame, used)) = parse_frame(stream, MAX_FRAME_BYTES) {
        assert!(used <= stream.len() && used <= MAX_FRAME_BYTES + 4);
        // An ERROR frame keeps neither its serializer byte nor a code this
        // version does not know, so only its length, kind and message are
        // compared.
        let again = frame.to_bytes();
        match frame {
            Frame::Error { .. } => {
                assert_eq!(again.len(), used);
                assert_eq!(again[..5], stream[..5]);
                assert_eq!(again[7..], stream[7..used]);
            }
            _ => assert_eq!(again, stream[..used], "frame does not re-encode"),
        }
        if let Frame::Publish {
            serializer,
            payload,
            ..
        }
        | Frame::Deliver {
            serializer,
            payload,
            ..
        } = frame
        {
            payloads(serializer, payload);
        }
        stream = &stream[used..];
    }
}

fn payloads(serializer: Serializer, payload: &[u8]) {
    let decoded = serializer.decode(payload);
    let validated = serializer.validate(payload);
    if decoded.is_ok() {
        assert!(
            validated.is_ok(),
            "{serializer}: decodes but does not validate"
        );
    }
    let Ok(value) = decoded else {
        return;
    };
    for target in ALL_SERIALIZERS {
        let encoded = target.encode(&value);
        let again = target
            .decode(&encoded)
            .unwrap_or_else(|e| panic!("{serializer} -> {target}: re-encoded value fails: {e}"));
        assert_eq!(
            target.encode(&again),
            encoded,
            "{serializer} -> {target}: value changed on the way"
        );
        assert!(target.validate(&encoded).is_ok());
    }
}
