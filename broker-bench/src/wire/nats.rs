//! The part of the NATS text protocol the bench speaks to `nats-server`:
//! `CONNECT` (not verbose, so no `+OK` per command), `SUB`, `PUB`, `PING`
//! to learn that everything before it was handled, and the server's `INFO`,
//! `MSG`, `PING` (answered with `PONG`), `PONG`, `+OK` and `-ERR`.
//! Pure bytes in, events out; the sockets live in `run` and `load`.

use super::{Event, WireError};

/// The CONNECT line every bench connection sends first.
pub const CONNECT: &[u8] = b"CONNECT {\"verbose\":false,\"pedantic\":false}\r\n";
/// Asks the server for a `PONG`, which it sends after handling all before it.
pub const PING: &[u8] = b"PING\r\n";
const PONG: &[u8] = b"PONG\r\n";
/// Longest control line accepted (an `INFO` line is a few hundred bytes).
const MAX_LINE_BYTES: usize = 64 << 10;

/// Appends a `SUB subject sid`.
pub fn encode_subscribe(subject: &str, sid: u32, out: &mut Vec<u8>) {
    out.extend_from_slice(format!("SUB {subject} {sid}\r\n").as_bytes());
}

/// Appends a `PUB subject n` with `payload`.
pub fn encode_publish(subject: &str, payload: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(b"PUB ");
    out.extend_from_slice(subject.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\r\n");
}

/// Parses one server message from the start of `buf`: `Ok(None)` when more
/// bytes are needed, else the event and the bytes it used.
pub fn parse(
    buf: &[u8],
    max_message_bytes: usize,
) -> Result<Option<(Event<'_>, usize)>, WireError> {
    let Some(line_len) = buf.windows(2).position(|w| w == b"\r\n") else {
        if buf.len() > MAX_LINE_BYTES {
            return Err(WireError::TooLarge(buf.len()));
        }
        return Ok(None);
    };
    let line = &buf[..line_len];
    let after_line = line_len + 2;
    let op = line.split(|&b| b == b' ').next().unwrap_or_default();
    let event = match op {
        b"MSG" => {
            // MSG <subject> <sid> [reply-to] <#bytes>
            let fields = line.split(|&b| b == b' ').filter(|f| !f.is_empty()).count();
            if !(4..=5).contains(&fields) {
                return Err(WireError::Malformed(
                    "MSG needs a subject, a sid and a size",
                ));
            }
            let size = line
                .rsplit(|&b| b == b' ')
                .next()
                .and_then(|f| std::str::from_utf8(f).ok())
                .and_then(|f| f.parse::<usize>().ok())
                .ok_or(WireError::Malformed("MSG size is not a number"))?;
            let total = after_line + size + 2;
            if total > max_message_bytes {
                return Err(WireError::TooLarge(total));
            }
            let Some(rest) = buf.get(after_line..total) else {
                return Ok(None);
            };
            if &rest[size..] != b"\r\n" {
                return Err(WireError::Malformed("MSG payload does not end with CRLF"));
            }
            return Ok(Some((Event::Delivery(&rest[..size]), total)));
        }
        b"PING" => Event::Reply(PONG),
        b"PONG" => Event::Ack,
        b"-ERR" => {
            return Err(WireError::Refused(
                String::from_utf8_lossy(line).into_owned(),
            ));
        }
        _ => Event::Other,
    };
    Ok(Some((event, after_line)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: usize = 1 << 20;

    #[test]
    fn publish_writes_subject_size_and_payload() {
        let mut out = Vec::new();
        encode_publish("bench", b"hello", &mut out);
        assert_eq!(out, b"PUB bench 5\r\nhello\r\n");
        out.clear();
        encode_subscribe("bench", 3, &mut out);
        assert_eq!(out, b"SUB bench 3\r\n");
    }

    #[test]
    fn a_msg_parses_to_its_payload_only_once_complete() {
        let bytes = b"MSG bench 1 5\r\nab\r\nc\r\n";
        for cut in 0..bytes.len() {
            assert!(
                parse(&bytes[..cut], LIMIT).unwrap().is_none(),
                "cut at {cut}"
            );
        }
        assert!(matches!(
            parse(bytes, LIMIT).unwrap(),
            Some((Event::Delivery(b"ab\r\nc"), 22))
        ));
    }

    #[test]
    fn a_msg_with_a_reply_subject_still_finds_its_size() {
        let bytes = b"MSG bench 1 inbox.7 2\r\nhi\r\n";
        assert!(matches!(
            parse(bytes, LIMIT).unwrap(),
            Some((Event::Delivery(b"hi"), 27))
        ));
    }

    #[test]
    fn ping_asks_for_a_pong_and_pong_acknowledges() {
        assert!(matches!(
            parse(b"PING\r\n", LIMIT).unwrap(),
            Some((Event::Reply(b"PONG\r\n"), 6))
        ));
        assert!(matches!(
            parse(b"PONG\r\n", LIMIT).unwrap(),
            Some((Event::Ack, 6))
        ));
        assert!(matches!(
            parse(b"INFO {\"server_id\":\"x\"}\r\n+OK\r\n", LIMIT).unwrap(),
            Some((Event::Other, 24))
        ));
    }

    #[test]
    fn an_error_line_is_a_refusal_with_its_text() {
        match parse(b"-ERR 'Slow Consumer'\r\n", LIMIT) {
            Err(WireError::Refused(text)) => assert!(text.contains("Slow Consumer")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn malformed_and_oversized_messages_are_refused() {
        assert!(matches!(
            parse(b"MSG bench\r\n", LIMIT),
            Err(WireError::Malformed(_))
        ));
        assert!(matches!(
            parse(b"MSG bench 1 x\r\n", LIMIT),
            Err(WireError::Malformed(_))
        ));
        assert!(matches!(
            parse(b"MSG bench 1 2\r\nhiXY", LIMIT),
            Err(WireError::Malformed(_))
        ));
        assert!(matches!(
            parse(b"MSG bench 1 999\r\n", 100),
            Err(WireError::TooLarge(_))
        ));
        let endless = vec![b'x'; MAX_LINE_BYTES + 1];
        assert!(matches!(
            parse(&endless, LIMIT),
            Err(WireError::TooLarge(_))
        ));
    }
}
