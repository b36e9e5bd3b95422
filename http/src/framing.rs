//! How long a message body is, decided from its head (RFC 9112 §6.3), and
//! the request smuggling defences that go with it (§6.1, §6.2): one
//! framing per message, or the message is refused.
//!
//! This file only reads header fields; walking the body bytes is
//! `body.rs`'s job.

use super::error::HttpError;
use super::head::Version;
use super::headers::{Headers, list_elements, trim_whitespace};

/// Where the body of a message ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body at all (a request without length, or a response to HEAD,
    /// 1xx, 204, 304 and 2xx to CONNECT).
    None,
    /// Exactly this many bytes follow the head.
    ContentLength(u64),
    /// Chunked transfer coding: the body ends with the last chunk and
    /// the trailer section.
    Chunked,
    /// A response body that ends when the backend closes the connection.
    UntilClose,
}

/// Transfer codings a recipient may see before `chunked`. The body is
/// forwarded as-is, so they need not be decoded, only recognised.
const KNOWN_TRANSFER_CODINGS: [&str; 6] = [
    "chunked",
    "gzip",
    "x-gzip",
    "deflate",
    "compress",
    "x-compress",
];

/// The framing of a request body. Refuses every ambiguity a front end and
/// a back end could read differently.
pub(crate) fn request_framing(
    version: Version,
    headers: &Headers,
    max_content_length: u64,
) -> Result<BodyFraming, HttpError> {
    let length = content_length(headers)?;
    if headers.contains("transfer-encoding") {
        if version == Version::Http10 {
            return Err(HttpError::TransferEncodingInHttp10);
        }
        if length.is_some() {
            return Err(HttpError::ConflictingFraming);
        }
        return match chunked_position(headers)? {
            ChunkedPosition::Last => Ok(BodyFraming::Chunked),
            ChunkedPosition::Absent | ChunkedPosition::NotLast => Err(HttpError::ChunkedNotLast),
        };
    }
    match length {
        Some(length) if length > max_content_length => Err(HttpError::ContentTooLarge {
            length,
            limit: max_content_length,
        }),
        Some(length) => Ok(BodyFraming::ContentLength(length)),
        None => Ok(BodyFraming::None),
    }
}

/// The framing of a response body to a request made with
/// `request_method`. A `Transfer-Encoding` that does not end with
/// `chunked` means "read until close" (RFC 9112 §6.3 rule 4); both fields
/// together are refused rather than letting one win.
pub(crate) fn response_framing(
    version: Version,
    status: u16,
    request_method: &str,
    headers: &Headers,
) -> Result<BodyFraming, HttpError> {
    let length = content_length(headers)?;
    let framing = if headers.contains("transfer-encoding") {
        if version == Version::Http10 {
            return Err(HttpError::TransferEncodingInHttp10);
        }
        if length.is_some() {
            return Err(HttpError::ConflictingFraming);
        }
        match chunked_position(headers)? {
            ChunkedPosition::Last => BodyFraming::Chunked,
            ChunkedPosition::Absent => BodyFraming::UntilClose,
            ChunkedPosition::NotLast => return Err(HttpError::ChunkedNotLast),
        }
    } else {
        length.map_or(BodyFraming::UntilClose, BodyFraming::ContentLength)
    };
    let no_body = request_method.eq_ignore_ascii_case("HEAD")
        || (100..200).contains(&status)
        || status == 204
        || status == 304
        || (request_method.eq_ignore_ascii_case("CONNECT") && (200..300).contains(&status));
    Ok(if no_body { BodyFraming::None } else { framing })
}

/// The single length all `Content-Length` fields agree on, if any.
/// Identical repeats (`5, 5` or two fields of `5`) are accepted.
fn content_length(headers: &Headers) -> Result<Option<u64>, HttpError> {
    let mut agreed = None;
    for value in headers.get_all("content-length") {
        for element in value.split(|&byte| byte == b',') {
            let length = parse_decimal(trim_whitespace(element))?;
            match agreed {
                Some(previous) if previous != length => {
                    return Err(HttpError::DifferingContentLengths);
                }
                _ => agreed = Some(length),
            }
        }
    }
    Ok(agreed)
}

/// `1*DIGIT` as u64: no sign, no spaces, no overflow.
fn parse_decimal(digits: &[u8]) -> Result<u64, HttpError> {
    if digits.is_empty() {
        return Err(HttpError::InvalidContentLength);
    }
    digits.iter().try_fold(0u64, |total, &byte| {
        if !byte.is_ascii_digit() {
            return Err(HttpError::InvalidContentLength);
        }
        total
            .checked_mul(10)
            .and_then(|total| total.checked_add(u64::from(byte - b'0')))
            .ok_or(HttpError::InvalidContentLength)
    })
}

enum ChunkedPosition {
    Absent,
    Last,
    NotLast,
}

/// Where `chunked` stands in the list of transfer codings, after checking
/// every coding is known and `chunked` is named at most once.
fn chunked_position(headers: &Headers) -> Result<ChunkedPosition, HttpError> {
    let mut chunked_seen = false;
    let mut last_is_chunked = false;
    for value in headers.get_all("transfer-encoding") {
        for coding in list_elements(value) {
            let known = KNOWN_TRANSFER_CODINGS
                .iter()
                .any(|name| coding.eq_ignore_ascii_case(name.as_bytes()));
            if !known {
                return Err(HttpError::UnknownTransferCoding(
                    String::from_utf8_lossy(coding).into_owned(),
                ));
            }
            last_is_chunked = coding.eq_ignore_ascii_case(b"chunked");
            if last_is_chunked {
                if chunked_seen {
                    return Err(HttpError::ChunkedNotLast);
                }
                chunked_seen = true;
            }
        }
    }
    Ok(match (chunked_seen, last_is_chunked) {
        (_, true) => ChunkedPosition::Last,
        (true, false) => ChunkedPosition::NotLast,
        (false, false) => ChunkedPosition::Absent,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_lengths_reject_signs_spaces_and_overflow() {
        assert_eq!(parse_decimal(b"0"), Ok(0));
        assert_eq!(parse_decimal(b"007"), Ok(7));
        assert_eq!(parse_decimal(b"18446744073709551615"), Ok(u64::MAX));
        for bad in [
            &b""[..],
            b"+5",
            b"-5",
            b"5 5",
            b"0x10",
            b"18446744073709551616",
            b"1e3",
        ] {
            assert_eq!(
                parse_decimal(bad),
                Err(HttpError::InvalidContentLength),
                "{bad:?}"
            );
        }
    }
}
