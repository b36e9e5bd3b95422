//! MQTT 3.1.1 packets as bytes: parsing every packet kind from network
//! bytes into a [`Packet`] that borrows from the input. Encoding lives in
//! [`encode`](super::encode). Both the broker's MQTT listener and the
//! bench's MQTT client use this one codec.
//!
//! A parse answers "complete, with how many bytes it used", "need more
//! bytes" or "invalid, and why"; a packet over the size limit is refused as
//! soon as its remaining length is read, before its body is buffered.

pub use super::packet::{
    Connect, Decoded, MAX_QOS, MAX_REMAINING_LENGTH, MqttError, PROTOCOL_LEVEL, Packet, Publish,
    Will, kind,
};

/// Reads the remaining-length varint at the start of `buf`: its value and
/// how many bytes it took, `None` when it is not all there yet.
pub fn read_remaining_length(buf: &[u8]) -> Result<Option<(usize, usize)>, MqttError> {
    let mut value = 0usize;
    for (i, &byte) in buf.iter().enumerate().take(4) {
        value |= usize::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(Some((value, i + 1)));
        }
    }
    if buf.len() >= 4 {
        return Err(MqttError::MalformedLength);
    }
    Ok(None)
}

/// Parses one packet from the start of `buf`; packets larger than
/// `max_packet_bytes` (fixed header included) are refused.
pub fn parse_packet(buf: &[u8], max_packet_bytes: usize) -> Result<Decoded<'_>, MqttError> {
    let Some(&first) = buf.first() else {
        return Ok(Decoded::Partial);
    };
    let Some((length, varint)) = read_remaining_length(&buf[1..])? else {
        return Ok(Decoded::Partial);
    };
    let total = 1 + varint + length;
    if total > max_packet_bytes {
        return Err(MqttError::TooLarge {
            length: total,
            max: max_packet_bytes,
        });
    }
    let Some(body) = buf.get(1 + varint..total) else {
        return Ok(Decoded::Partial);
    };
    let packet = parse_body(first >> 4, first & 0x0f, body)?;
    Ok(Decoded::Complete(packet, total))
}

fn parse_body(kind: u8, flags: u8, body: &[u8]) -> Result<Packet<'_>, MqttError> {
    let expect_flags = |wanted: u8| {
        if flags == wanted {
            Ok(())
        } else {
            Err(MqttError::Malformed("reserved header flags"))
        }
    };
    let mut r = Reader { body, at: 0 };
    let packet = match kind {
        kind::PUBLISH => return parse_publish(flags, r),
        kind::CONNECT => {
            expect_flags(0)?;
            return parse_connect(r);
        }
        kind::SUBSCRIBE | kind::UNSUBSCRIBE | kind::PUBREL => {
            expect_flags(0b0010)?;
            let packet_id = r.u16()?;
            match kind {
                kind::PUBREL => Packet::PubRel(packet_id),
                kind::SUBSCRIBE => {
                    let mut filters = Vec::new();
                    while !r.done() {
                        let filter = r.string()?;
                        let qos = r.u8()?;
                        if qos > MAX_QOS {
                            return Err(MqttError::Malformed("requested QoS above 2"));
                        }
                        filters.push((filter, qos));
                    }
                    if filters.is_empty() {
                        return Err(MqttError::Malformed("SUBSCRIBE without a filter"));
                    }
                    return Ok(Packet::Subscribe(packet_id, filters));
                }
                _ => {
                    let mut filters = Vec::new();
                    while !r.done() {
                        filters.push(r.string()?);
                    }
                    if filters.is_empty() {
                        return Err(MqttError::Malformed("UNSUBSCRIBE without a filter"));
                    }
                    return Ok(Packet::Unsubscribe(packet_id, filters));
                }
            }
        }
        kind::CONNACK => {
            expect_flags(0)?;
            let present = r.u8()?;
            Packet::ConnAck(present & 1 == 1, r.u8()?)
        }
        kind::PUBACK | kind::PUBREC | kind::PUBCOMP | kind::UNSUBACK => {
            expect_flags(0)?;
            let id = r.u16()?;
            match kind {
                kind::PUBACK => Packet::PubAck(id),
                kind::PUBREC => Packet::PubRec(id),
                kind::PUBCOMP => Packet::PubComp(id),
                _ => Packet::UnsubAck(id),
            }
        }
        kind::SUBACK => {
            expect_flags(0)?;
            let id = r.u16()?;
            let codes = &body[r.at..];
            if codes.is_empty() {
                return Err(MqttError::Malformed("SUBACK without a return code"));
            }
            return Ok(Packet::SubAck(id, codes));
        }
        kind::PINGREQ | kind::PINGRESP | kind::DISCONNECT => {
            expect_flags(0)?;
            match kind {
                kind::PINGREQ => Packet::PingReq,
                kind::PINGRESP => Packet::PingResp,
                _ => Packet::Disconnect,
            }
        }
        _ => return Err(MqttError::Malformed("reserved packet type")),
    };
    if !r.done() {
        return Err(MqttError::Malformed("bytes after the end of the packet"));
    }
    Ok(packet)
}

fn parse_publish(flags: u8, mut r: Reader<'_>) -> Result<Packet<'_>, MqttError> {
    let qos = (flags >> 1) & 0b11;
    let dup = flags & 0b1000 != 0;
    if qos > MAX_QOS {
        return Err(MqttError::Malformed("PUBLISH with QoS 3"));
    }
    if qos == 0 && dup {
        return Err(MqttError::Malformed("DUP set on a QoS 0 PUBLISH"));
    }
    let topic = r.string()?;
    let packet_id = if qos > 0 { Some(r.u16()?) } else { None };
    Ok(Packet::Publish(Publish {
        dup,
        qos,
        retain: flags & 1 != 0,
        topic,
        packet_id,
        payload: &r.body[r.at..],
    }))
}

fn parse_connect(mut r: Reader<'_>) -> Result<Packet<'_>, MqttError> {
    let name = r.string()?;
    let level = r.u8()?;
    if name != "MQTT" && name != "MQIsdp" {
        return Err(MqttError::Malformed("protocol name is not MQTT"));
    }
    if level != PROTOCOL_LEVEL || name != "MQTT" {
        return Err(MqttError::UnsupportedLevel(level));
    }
    let flags = r.u8()?;
    if flags & 1 != 0 {
        return Err(MqttError::Malformed("reserved CONNECT flag set"));
    }
    let keep_alive = r.u16()?;
    let client_id = r.string()?;
    let will_flag = flags & 0b100 != 0;
    let will_qos = (flags >> 3) & 0b11;
    let will_retain = flags & 0b10_0000 != 0;
    if !will_flag && (will_qos != 0 || will_retain) {
        return Err(MqttError::Malformed("will QoS or retain without a will"));
    }
    if will_qos > MAX_QOS {
        return Err(MqttError::Malformed("will QoS 3"));
    }
    let will = if will_flag {
        Some(Will {
            topic: r.string()?,
            payload: r.binary()?,
            qos: will_qos,
            retain: will_retain,
        })
    } else {
        None
    };
    let has_username = flags & 0b1000_0000 != 0;
    let has_password = flags & 0b100_0000 != 0;
    if has_password && !has_username {
        return Err(MqttError::Malformed("password without a user name"));
    }
    let username = if has_username {
        Some(r.string()?)
    } else {
        None
    };
    let password = if has_password {
        Some(r.binary()?)
    } else {
        None
    };
    if !r.done() {
        return Err(MqttError::Malformed("bytes after the end of CONNECT"));
    }
    Ok(Packet::Connect(Connect {
        clean_session: flags & 0b10 != 0,
        keep_alive,
        client_id,
        will,
        username,
        password,
    }))
}

/// A cursor over a packet body whose reads fail past its end.
struct Reader<'a> {
    body: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn done(&self) -> bool {
        self.at == self.body.len()
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], MqttError> {
        let bytes = self
            .body
            .get(self.at..self.at + n)
            .ok_or(MqttError::Malformed(
                "a field runs past the end of the packet",
            ))?;
        self.at += n;
        Ok(bytes)
    }

    fn u8(&mut self) -> Result<u8, MqttError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, MqttError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn binary(&mut self) -> Result<&'a [u8], MqttError> {
        let len = self.u16()?;
        self.take(usize::from(len))
    }

    /// A UTF-8 string; U+0000 is forbidden in MQTT strings.
    fn string(&mut self) -> Result<&'a str, MqttError> {
        let text = std::str::from_utf8(self.binary()?)
            .map_err(|_| MqttError::Malformed("a string is not UTF-8"))?;
        if text.contains('\0') {
            return Err(MqttError::Malformed("a string holds U+0000"));
        }
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::super::encode;
    use super::*;

    const LIMIT: usize = 1 << 20;

    fn whole(bytes: &[u8]) -> Packet<'_> {
        match parse_packet(bytes, LIMIT).unwrap() {
            Decoded::Complete(p, n) => {
                assert_eq!(n, bytes.len());
                p
            }
            Decoded::Partial => panic!("partial"),
        }
    }

    #[test]
    fn remaining_length_round_trips_at_every_varint_width() {
        for len in [0, 127, 128, 16_383, 16_384, 2_097_152, MAX_REMAINING_LENGTH] {
            let mut out = Vec::new();
            encode::put_remaining_length(len, &mut out);
            assert_eq!(read_remaining_length(&out).unwrap(), Some((len, out.len())));
        }
    }

    #[test]
    fn a_five_byte_remaining_length_is_malformed() {
        let bytes = [0x30, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(parse_packet(&bytes, LIMIT), Err(MqttError::MalformedLength));
    }

    #[test]
    fn a_packet_over_the_limit_is_refused_from_its_length_alone() {
        let bytes = [0x30, 0x80, 0x80, 0x01];
        assert_eq!(
            parse_packet(&bytes, 1000),
            Err(MqttError::TooLarge {
                length: 16_388,
                max: 1000
            })
        );
    }

    #[test]
    fn connect_with_will_and_credentials_parses_even_byte_by_byte() {
        let mut bytes = Vec::new();
        let will = Will {
            topic: "a/status",
            payload: b"gone",
            qos: 1,
            retain: true,
        };
        encode::connect("me", false, 30, Some(&will), &mut bytes);
        for cut in 0..bytes.len() {
            assert_eq!(parse_packet(&bytes[..cut], LIMIT), Ok(Decoded::Partial));
        }
        let Packet::Connect(c) = whole(&bytes) else {
            panic!()
        };
        assert_eq!(c.client_id, "me");
        assert!(!c.clean_session);
        assert_eq!(c.keep_alive, 30);
        assert_eq!(c.will, Some(will));
    }

    #[test]
    fn connect_of_another_protocol_level_is_told_apart() {
        let mut bytes = Vec::new();
        encode::connect("x", true, 0, None, &mut bytes);
        bytes[8] = 3;
        assert_eq!(
            parse_packet(&bytes, LIMIT),
            Err(MqttError::UnsupportedLevel(3))
        );
    }

    #[test]
    fn publish_qos_one_carries_its_packet_id_and_opaque_payload() {
        let mut bytes = Vec::new();
        encode::publish("a/b", 1, true, 9, &[0, 255, 1], &mut bytes);
        let Packet::Publish(p) = whole(&bytes) else {
            panic!()
        };
        assert_eq!((p.topic, p.qos, p.retain, p.dup), ("a/b", 1, true, false));
        assert_eq!((p.packet_id, p.payload), (Some(9), &[0, 255, 1][..]));
    }

    #[test]
    fn subscribe_and_unsubscribe_list_their_filters() {
        let mut bytes = Vec::new();
        encode::subscribe(5, &[("a/+", 1), ("#", 2)], &mut bytes);
        assert_eq!(
            whole(&bytes),
            Packet::Subscribe(5, vec![("a/+", 1), ("#", 2)])
        );
        assert_eq!(
            whole(&[0xa2, 5, 0, 6, 0, 1, b'x']),
            Packet::Unsubscribe(6, vec!["x"])
        );
    }

    #[test]
    fn specification_violations_are_malformed() {
        for bad in [
            &[0x36, 3, 0, 1, b'a'][..],      // QoS 3
            &[0x38, 3, 0, 1, b'a'],          // DUP on QoS 0
            &[0x80, 3, 0, 1, 0],             // SUBSCRIBE flags not 0010
            &[0x82, 2, 0, 1],                // SUBSCRIBE without a filter
            &[0x82, 6, 0, 1, 0, 1, b'a', 3], // requested QoS 3
            &[0x30, 4, 0, 2, 0xc3, 0x28],    // topic not UTF-8
            &[0x30, 3, 0, 1, 0],             // topic holds U+0000
            &[0xc0, 1, 0],                   // PINGREQ with a body
            &[0x00, 0],                      // reserved type 0
            &[0xf0, 0],                      // reserved type 15
            &[0x30, 3, 0, 9, b'a'],          // topic past the end
        ] {
            assert!(
                matches!(parse_packet(bad, LIMIT), Err(MqttError::Malformed(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_small_packets_parse() {
        assert_eq!(whole(&[0xc0, 0]), Packet::PingReq);
        assert_eq!(whole(&[0xe0, 0]), Packet::Disconnect);
        assert_eq!(whole(&[0x40, 2, 0, 7]), Packet::PubAck(7));
        assert_eq!(whole(&[0x62, 2, 0, 7]), Packet::PubRel(7));
        assert_eq!(whole(&[0x20, 2, 1, 0]), Packet::ConnAck(true, 0));
        assert_eq!(whole(&[0x90, 3, 0, 1, 0x80]), Packet::SubAck(1, &[0x80]));
    }
}
