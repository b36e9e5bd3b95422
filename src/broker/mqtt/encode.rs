//! Encoding MQTT 3.1.1 packets into a `Vec`: what the broker sends
//! (CONNACK, PUBLISH, the acknowledgements) and what a client sends
//! (CONNECT, SUBSCRIBE), the latter for the bench and the tests.

use super::codec::{MAX_REMAINING_LENGTH, PROTOCOL_LEVEL, Will, kind};

/// CONNACK return code: accepted.
pub const ACCEPTED: u8 = 0x00;
/// CONNACK return code: unacceptable protocol version.
pub const UNACCEPTABLE_PROTOCOL_VERSION: u8 = 0x01;
/// CONNACK return code: identifier rejected.
pub const IDENTIFIER_REJECTED: u8 = 0x02;
/// SUBACK return code of a refused filter.
pub const SUBSCRIPTION_FAILURE: u8 = 0x80;
/// PINGREQ as bytes.
pub const PINGREQ: [u8; 2] = [kind::PINGREQ << 4, 0];
/// PINGRESP as bytes.
pub const PINGRESP: [u8; 2] = [kind::PINGRESP << 4, 0];
/// DISCONNECT as bytes.
pub const DISCONNECT: [u8; 2] = [kind::DISCONNECT << 4, 0];

/// Appends `len` as the remaining-length varint: 7 bits a byte, low first,
/// the top bit saying another byte follows.
pub fn put_remaining_length(mut len: usize, out: &mut Vec<u8>) {
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

/// Appends a length-prefixed string or byte string.
pub fn put_binary(bytes: &[u8], out: &mut Vec<u8>) {
    let len = u16::try_from(bytes.len()).expect("MQTT strings are under 64 KiB");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
}

/// Appends a CONNACK.
pub fn connack(session_present: bool, code: u8, out: &mut Vec<u8>) {
    out.extend_from_slice(&[kind::CONNACK << 4, 2, u8::from(session_present), code]);
}

/// Appends a PUBLISH; `packet_id` is written only when `qos > 0`. Returns
/// the offset of the packet id within `out` (for a shared encoding whose
/// id is patched per subscriber), or `None` at QoS 0.
pub fn publish(
    topic: &str,
    qos: u8,
    retain: bool,
    packet_id: u16,
    payload: &[u8],
    out: &mut Vec<u8>,
) -> Option<usize> {
    out.push(kind::PUBLISH << 4 | qos << 1 | u8::from(retain));
    let id_bytes = if qos > 0 { 2 } else { 0 };
    put_remaining_length(2 + topic.len() + id_bytes + payload.len(), out);
    put_binary(topic.as_bytes(), out);
    let at = (qos > 0).then(|| {
        out.extend_from_slice(&packet_id.to_be_bytes());
        out.len() - 2
    });
    out.extend_from_slice(payload);
    at
}

/// Appends PUBACK, PUBREC, PUBREL, PUBCOMP or UNSUBACK of `packet_id`.
pub fn ack(packet_kind: u8, packet_id: u16, out: &mut Vec<u8>) {
    let flags = if packet_kind == kind::PUBREL {
        0b0010
    } else {
        0
    };
    out.extend_from_slice(&[packet_kind << 4 | flags, 2]);
    out.extend_from_slice(&packet_id.to_be_bytes());
}

/// Appends a SUBACK with one return code per filter.
pub fn suback(packet_id: u16, codes: &[u8], out: &mut Vec<u8>) {
    out.push(kind::SUBACK << 4);
    put_remaining_length(2 + codes.len(), out);
    out.extend_from_slice(&packet_id.to_be_bytes());
    out.extend_from_slice(codes);
}

/// Appends a CONNECT without credentials.
pub fn connect(
    client_id: &str,
    clean_session: bool,
    keep_alive: u16,
    will: Option<&Will<'_>>,
    out: &mut Vec<u8>,
) {
    let mut body = Vec::with_capacity(16 + client_id.len());
    put_binary(b"MQTT", &mut body);
    let mut flags = u8::from(clean_session) << 1;
    if let Some(w) = will {
        flags |= 0b100 | w.qos << 3 | u8::from(w.retain) << 5;
    }
    body.push(PROTOCOL_LEVEL);
    body.push(flags);
    body.extend_from_slice(&keep_alive.to_be_bytes());
    put_binary(client_id.as_bytes(), &mut body);
    if let Some(w) = will {
        put_binary(w.topic.as_bytes(), &mut body);
        put_binary(w.payload, &mut body);
    }
    out.push(kind::CONNECT << 4);
    put_remaining_length(body.len(), out);
    out.extend_from_slice(&body);
}

/// Appends a SUBSCRIBE of (filter, requested QoS) pairs.
pub fn subscribe(packet_id: u16, filters: &[(&str, u8)], out: &mut Vec<u8>) {
    out.push(kind::SUBSCRIBE << 4 | 0b0010);
    let body: usize = 2 + filters.iter().map(|(f, _)| 2 + f.len() + 1).sum::<usize>();
    put_remaining_length(body, out);
    out.extend_from_slice(&packet_id.to_be_bytes());
    for (filter, qos) in filters {
        put_binary(filter.as_bytes(), out);
        out.push(*qos);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_matches_the_specification_layout() {
        let mut out = Vec::new();
        connect("ab", true, 0, None, &mut out);
        assert_eq!(
            out,
            [
                0x10, 14, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 0, 0, 2, b'a', b'b'
            ]
        );
    }

    #[test]
    fn publish_reports_where_its_packet_id_sits() {
        let mut out = Vec::new();
        assert_eq!(publish("t", 0, false, 0, b"x", &mut out), None);
        assert_eq!(out, [0x30, 4, 0, 1, b't', b'x']);
        out.clear();
        assert_eq!(publish("t", 1, true, 0x0102, b"x", &mut out), Some(5));
        assert_eq!(out, [0x33, 6, 0, 1, b't', 1, 2, b'x']);
    }

    #[test]
    fn acknowledgements_have_their_fixed_layout() {
        let mut out = Vec::new();
        ack(kind::PUBACK, 7, &mut out);
        ack(kind::PUBREL, 7, &mut out);
        suback(3, &[1, 0x80], &mut out);
        connack(false, UNACCEPTABLE_PROTOCOL_VERSION, &mut out);
        assert_eq!(
            out,
            [
                0x40, 2, 0, 7, 0x62, 2, 0, 7, 0x90, 4, 0, 3, 1, 0x80, 0x20, 2, 0, 1
            ]
        );
    }
}
