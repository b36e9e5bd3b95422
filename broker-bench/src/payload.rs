//! The bench's payload: a string in the chosen serialization that starts
//! with `T` and a 20-digit time in nanoseconds since the run's start (the
//! send time in saturation runs, the scheduled time in open-loop runs),
//! padded with `x` to the requested size. NATS and MQTT carry the same bytes
//! raw, so every target reads the time back the same way.

use distloop::broker::{Serializer, Value};

const STAMP_DIGITS: usize = 20;

/// A payload of about `size` bytes in `serializer`, stamped with time 0.
pub fn template(serializer: Serializer, size: usize) -> Vec<u8> {
    let overhead = serializer.encode(&Value::str("")).len();
    let len = size.saturating_sub(overhead).max(STAMP_DIGITS + 1);
    let mut text = format!("T{:0width$}", 0, width = STAMP_DIGITS);
    text.extend(std::iter::repeat_n('x', len - text.len()));
    serializer.encode(&Value::Str(text))
}

/// Where the digits after the `T` marker start.
pub fn stamp_offset(payload: &[u8]) -> Option<usize> {
    payload
        .windows(STAMP_DIGITS + 1)
        .position(|w| w[0] == b'T' && w[1..].iter().all(u8::is_ascii_digit))
        .map(|i| i + 1)
}

/// Writes `nanos` as the stamp of a payload whose digits start at `at`.
pub fn write_stamp(payload: &mut [u8], at: usize, mut nanos: u64) {
    for digit in payload[at..at + STAMP_DIGITS].iter_mut().rev() {
        *digit = b'0' + (nanos % 10) as u8;
        nanos /= 10;
    }
}

/// The time stamped in `payload`, if it has one.
pub fn read_stamp(payload: &[u8]) -> Option<u64> {
    let at = stamp_offset(payload)?;
    let digits = payload.get(at..at + STAMP_DIGITS)?;
    digits.iter().try_fold(0u64, |n, d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_has_the_requested_size_and_a_readable_stamp() {
        for ser in distloop::broker::codec::ALL_SERIALIZERS {
            let t = template(ser, 64);
            assert_eq!(t.len(), 64, "{ser}");
            assert_eq!(read_stamp(&t), Some(0));
            ser.validate(&t).unwrap();
        }
    }

    #[test]
    fn a_written_stamp_reads_back_and_keeps_the_payload_valid() {
        for ser in distloop::broker::codec::ALL_SERIALIZERS {
            let mut t = template(ser, 64);
            let at = stamp_offset(&t).unwrap();
            for nanos in [1, 1_234_567_890_123, u64::MAX] {
                write_stamp(&mut t, at, nanos);
                assert_eq!(read_stamp(&t), Some(nanos));
                ser.validate(&t).unwrap();
            }
        }
    }

    #[test]
    fn a_payload_without_a_stamp_has_no_time() {
        assert_eq!(read_stamp(b"\"hello\""), None);
        assert_eq!(read_stamp(b"T123"), None);
        // 20 nines overflow a u64.
        assert_eq!(read_stamp(b"T99999999999999999999"), None);
    }
}
