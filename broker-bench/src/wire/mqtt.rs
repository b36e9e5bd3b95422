//! The part of MQTT 3.1.1 the bench speaks to an MQTT broker (mosquitto or
//! distloop's MQTT listener): CONNECT/CONNACK, SUBSCRIBE/SUBACK and QoS 0
//! PUBLISH, and PINGREQ/PINGRESP as a round trip. Keep-alive is 0 (off),
//! so long runs need no pings. The packets are the broker's own MQTT codec
//! ([`distloop::broker::mqtt`]); this file only maps them to bench events.

use super::{Event, WireError};
use distloop::broker::mqtt::codec::{Decoded, MqttError, Packet, parse_packet};
use distloop::broker::mqtt::encode;

/// SUBACK return code of a refused subscription.
const SUBSCRIPTION_REFUSED: u8 = encode::SUBSCRIPTION_FAILURE;

/// PINGREQ: the broker answers PINGRESP after handling what came before.
pub const PINGREQ: [u8; 2] = encode::PINGREQ;

/// Appends a CONNECT with a clean session, keep-alive off and `client_id`.
pub fn encode_connect(client_id: &str, out: &mut Vec<u8>) {
    encode::connect(client_id, true, 0, None, out);
}

/// Appends a SUBSCRIBE to `filter` at QoS 0.
pub fn encode_subscribe(packet_id: u16, filter: &str, out: &mut Vec<u8>) {
    encode::subscribe(packet_id, &[(filter, 0)], out);
}

/// Appends a QoS 0, non-retained PUBLISH of `payload` to `topic`.
pub fn encode_publish(topic: &str, payload: &[u8], out: &mut Vec<u8>) {
    encode::publish(topic, 0, false, 0, payload, out);
}

/// Parses one packet from the start of `buf`: `Ok(None)` when more bytes
/// are needed, else the event and the bytes it used. CONNACK and SUBACK
/// are acknowledgements; a refusal in either is an error.
pub fn parse(buf: &[u8], max_packet_bytes: usize) -> Result<Option<(Event<'_>, usize)>, WireError> {
    let (packet, used) = match parse_packet(buf, max_packet_bytes) {
        Ok(Decoded::Complete(packet, used)) => (packet, used),
        Ok(Decoded::Partial) => return Ok(None),
        Err(MqttError::TooLarge { length, .. }) => return Err(WireError::TooLarge(length)),
        Err(MqttError::MalformedLength) => {
            return Err(WireError::Malformed("remaining length longer than 4 bytes"));
        }
        Err(_) => return Err(WireError::Malformed("not an MQTT 3.1.1 packet")),
    };
    let event = match packet {
        Packet::ConnAck(_, 0) => Event::Ack,
        Packet::ConnAck(_, code) => {
            return Err(WireError::Refused(format!("CONNACK return code {code}")));
        }
        Packet::Publish(p) => Event::Delivery(p.payload),
        Packet::SubAck(_, codes) if codes.contains(&SUBSCRIPTION_REFUSED) => {
            return Err(WireError::Refused("SUBACK refused the subscription".into()));
        }
        Packet::SubAck(..) | Packet::PingResp => Event::Ack,
        _ => Event::Other,
    };
    Ok(Some((event, used)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: usize = 1 << 20;

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
