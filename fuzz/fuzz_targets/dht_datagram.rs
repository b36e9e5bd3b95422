//! Feeds arbitrary datagrams to the DHT's decoders: the JSON messages of
//! its own nodes, and the pickled dicts of the original client. Checks that
//! nothing panics, that a decoded message or pickle encodes to bytes that
//! decode to the same thing, and that the legacy reply encoders accept
//! whatever a request parsed into.
#![no_main]

use distloop::dht::{ClientRequest, Outcome, legacy, pickle, wire};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() > wire::MAX_DATAGRAM_BYTES {
        return;
    }
    if let Ok(message) = wire::decode(data) {
        let bytes = wire::encode(&message);
        let again = wire::decode(&bytes).expect("an encoded message decodes");
        assert_eq!(again, message);
    }
    if let Ok(value) = pickle::decode(data) {
        let bytes = pickle::encode(&value);
        let again = pickle::decode(&bytes).expect("an encoded pickle decodes");
        // Bytes, not values, are compared: a NaN float is not equal to itself.
        assert_eq!(pickle::encode(&again), bytes);
    }
    if let Ok((method, request)) = legacy::parse_request(data) {
        let _ = format!("{request:?}");
        for outcome in [
            Outcome::<()>::Stored,
            Outcome::Value(None),
            Outcome::Value(Some(data.to_vec())),
        ] {
            let reply = legacy::encode_reply(method, &outcome);
            pickle::decode(&reply).expect("a reply is a pickle");
        }
        // A stored value is given back whole, as a pickle of data only.
        if let ClientRequest::PutPickle { pickle: stored, .. } = request {
            let reply = legacy::encode_reply(legacy::Method::Get, &Outcome::<()>::Pickled(stored));
            let limits = pickle::Limits::default();
            pickle::decode_document(&reply, &limits).expect("a reply is a pickle");
        }
    }
});
