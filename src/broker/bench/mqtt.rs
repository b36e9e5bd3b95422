//! The part of MQTT 3.1.1 the bench speaks to an MQTT broker (mosquitto):
//! CONNECT/CONNACK, SUBSCRIBE/SUBACK and QoS 0 PUBLISH, with the
//! remaining-length varint, and PINGREQ/PINGRESP as a round trip. Keep-alive
//! is 0 (off), so long runs need no pings.
//! Pure bytes in, events out; the sockets live in `bench`.

use super::wire::{Event, WireError};

/// Largest value the remaining-length varint can carry (four bytes).
const MAX_REMAINING_LENGTH: usize = 268_435_455;
/// CONNECT flags: clean session, no will, no credentials.
const CLEAN_SESSION: u8 = 0x02;
/// Protocol level of MQTT 3.1.1.
const PROTOCOL_LEVEL: u8 = 4;
/// SUBACK return code of a refused subscription.
const SUBSCRIPTION_REFUSED: u8 = 0x80;

/// PINGREQ: the broker answers PINGRESP after handling what came before.
pub const PINGREQ: [u8; 2] = [0xc0, 0];

/// Appends a CONNECT with a clean session, keep-alive off and `client_id`.
pub fn encode_connect(client_id: &str, out: &mut Vec<u8>) {
    let body = 2 + 4 + 1 + 1 + 2 + 2 + client_id.len();
    out.push(0x10);
    put_remaining_length(body, out);
    put_string("MQTT", out);
    out.extend_from_slice(&[PROTOCOL_LEVEL, CLEAN_SESSION, 0, 0]);
    put_string(client_id, out);
}

/// Appends a SUBSCRIBE to `filter` at QoS 0.
pub fn encode_subscribe(packet_id: u16, filter: &str, out: &mut Vec<u8>) {
    out.push(0x82);
    put_remaining_length(2 + 2 + filter.len() + 1, out);
    out.extend_from_slice(&packet_id.to_be_bytes());
    put_string(filter, out);
    out.push(0);
}

/// Appends a QoS 0, non-retained PUBLISH of `payload` to `topic`.
pub fn encode_publish(topic: &str, payload: &[u8], out: &mut Vec<u8>) {
    out.push(0x30);
    put_remaining_length(2 + topic.len() + payload.len(), out);
    put_string(topic, out);
    out.extend_from_slice(payload);
}

/// Parses one packet from the start of `buf`: `Ok(None)` when more bytes
/// are needed, else the event and the bytes it used. CONNACK and SUBACK
/// are acknowledgements; a refusal in either is an error.
pub fn parse(buf: &[u8], max_packet_bytes: usize) -> Result<Option<(Event<'_>, usize)>, WireError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let Some((length, varint)) = read_remaining_length(&buf[1..])? else {
        return Ok(None);
    };
    let total = 1 + varint + length;
    if total > max_packet_bytes {
        return Err(WireError::TooLarge(total));
    }
    let Some(body) = buf.get(1 + varint..total) else {
        return Ok(None);
    };
    let event = match first >> 4 {
        2 => match body {
            [_, 0] => Event::Ack,
            [_, code] => return Err(WireError::Refused(format!("CONNACK return code {code}"))),
            _ => return Err(WireError::Malformed("CONNACK must be 2 bytes")),
        },
        3 => {
            let topic_len = match body {
                [hi, lo, ..] => usize::from(u16::from_be_bytes([*hi, *lo])),
                _ => return Err(WireError::Malformed("PUBLISH without a topic")),
            };
            let qos = (first >> 1) & 0x03;
            let start = 2 + topic_len + if qos > 0 { 2 } else { 0 };
            match body.get(start..) {
                Some(payload) => Event::Delivery(payload),
                None => return Err(WireError::Malformed("PUBLISH topic overruns the packet")),
            }
        }
        9 => {
            if body.len() < 3 {
                return Err(WireError::Malformed("SUBACK without a return code"));
            }
            if body[2..].contains(&SUBSCRIPTION_REFUSED) {
                return Err(WireError::Refused("SUBACK refused the subscription".into()));
            }
            Event::Ack
        }
        13 => Event::Ack,
        _ => Event::Other,
    };
    Ok(Some((event, total)))
}

fn put_string(text: &str, out: &mut Vec<u8>) {
    let len = u16::try_from(text.len()).expect("MQTT strings are under 64 KiB");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(text.as_bytes());
}

/// Appends `len` as the remaining-length varint: 7 bits a byte, low first,
/// the top bit saying another byte follows.
fn put_remaining_length(mut len: usize, out: &mut Vec<u8>) {
    assert!(
        len <= MAX_REMAINING_LENGTH,
        "an MQTT packet body is at most 256 MiB"
    );
    loop {
        let byte = (len % 128) as u8;
        len /= 128;
        if len == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Reads the varint at the start of `buf`: its value and how many bytes
/// it took, `None` when it is not all there yet.
fn read_remaining_length(buf: &[u8]) -> Result<Option<(usize, usize)>, WireError> {
    let mut value = 0usize;
    for (i, &byte) in buf.iter().enumerate() {
        if i == 4 {
            return Err(WireError::Malformed("remaining length longer than 4 bytes"));
        }
        value |= usize::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(Some((value, i + 1)));
        }
    }
    if buf.len() >= 4 {
        return Err(WireError::Malformed("remaining length longer than 4 bytes"));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: usize = 1 << 20;

    #[test]
    fn remaining_length_round_trips_at_every_varint_width() {
        for len in [
            0,
            127,
            128,
            16_383,
            16_384,
            2_097_151,
            2_097_152,
            MAX_REMAINING_LENGTH,
        ] {
            let mut out = Vec::new();
            put_remaining_length(len, &mut out);
            let width = match len {
                0..=127 => 1,
                128..=16_383 => 2,
                16_384..=2_097_151 => 3,
                _ => 4,
            };
            assert_eq!(out.len(), width, "{len}");
            assert_eq!(read_remaining_length(&out).unwrap(), Some((len, width)));
        }
    }

    #[test]
    fn a_five_byte_remaining_length_is_malformed() {
        let bytes = [0x30, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert!(matches!(parse(&bytes, LIMIT), Err(WireError::Malformed(_))));
    }

    #[test]
    fn connect_matches_the_specification_example_layout() {
        let mut out = Vec::new();
        encode_connect("ab", &mut out);
        assert_eq!(
            out,
            [
                0x10, 14, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 0, 0, 2, b'a', b'b'
            ]
        );
    }

    #[test]
    fn subscribe_carries_packet_id_filter_and_qos_zero() {
        let mut out = Vec::new();
        encode_subscribe(7, "/b", &mut out);
        assert_eq!(out, [0x82, 7, 0, 7, 0, 2, b'/', b'b', 0]);
    }

    #[test]
    fn a_published_packet_parses_back_to_its_payload_even_byte_by_byte() {
        let payload = vec![b'p'; 300];
        let mut out = Vec::new();
        encode_publish("/bench", &payload, &mut out);
        for cut in 0..out.len() {
            assert!(parse(&out[..cut], LIMIT).unwrap().is_none(), "cut at {cut}");
        }
        match parse(&out, LIMIT).unwrap() {
            Some((Event::Delivery(p), used)) => {
                assert_eq!(p, &payload[..]);
                assert_eq!(used, out.len());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_qos_one_delivery_skips_its_packet_id() {
        let bytes = [0x32, 7, 0, 2, b'/', b'a', 0, 9, b'z'];
        assert!(matches!(
            parse(&bytes, LIMIT).unwrap(),
            Some((Event::Delivery(b"z"), 9))
        ));
    }

    #[test]
    fn connack_and_suback_acknowledge_and_their_refusals_are_errors() {
        assert!(matches!(
            parse(&[0x20, 2, 0, 0], LIMIT).unwrap(),
            Some((Event::Ack, 4))
        ));
        assert!(matches!(
            parse(&[0x20, 2, 0, 5], LIMIT),
            Err(WireError::Refused(_))
        ));
        assert!(matches!(
            parse(&[0x90, 3, 0, 1, 0], LIMIT).unwrap(),
            Some((Event::Ack, 5))
        ));
        assert!(matches!(
            parse(&[0x90, 3, 0, 1, 0x80], LIMIT),
            Err(WireError::Refused(_))
        ));
    }

    #[test]
    fn packets_over_the_limit_are_refused_from_their_length() {
        let bytes = [0x30, 0x80, 0x80, 0x01];
        assert!(matches!(
            parse(&bytes, 1000),
            Err(WireError::TooLarge(16_388))
        ));
    }

    #[test]
    fn pingresp_acknowledges_the_round_trip_and_unknown_packets_are_skipped() {
        assert!(matches!(
            parse(&PINGREQ, LIMIT).unwrap(),
            Some((Event::Other, 2))
        ));
        assert!(matches!(
            parse(&[0xd0, 0], LIMIT).unwrap(),
            Some((Event::Ack, 2))
        ));
        assert!(matches!(
            parse(&[0xb0, 2, 0, 1], LIMIT).unwrap(),
            Some((Event::Other, 4))
        ));
    }
}
