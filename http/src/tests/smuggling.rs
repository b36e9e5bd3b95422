//! Every way RFC 9112 §6 lets two parsers disagree about where a message
//! ends is refused: 400 for a request, 502 for a response.

use super::super::{BodyFraming, HttpError};
use super::{request, response};

fn request_with(fields: &str) -> Result<BodyFraming, HttpError> {
    let head = format!("POST / HTTP/1.1\r\nHost: h\r\n{fields}\r\n");
    request(head.as_bytes()).map(|(head, _)| head.framing)
}

fn response_with(fields: &str) -> Result<BodyFraming, HttpError> {
    let head = format!("HTTP/1.1 200 OK\r\n{fields}\r\n");
    response(head.as_bytes(), "GET").map(|(head, _)| head.framing)
}

fn refused_request(fields: &str, expected: HttpError) {
    let error = request_with(fields).unwrap_err();
    assert_eq!(error, expected, "{fields:?}");
    assert_eq!(error.status(), 400, "{fields:?}");
}

fn refused_response(fields: &str, expected: HttpError) {
    let error = response_with(fields).unwrap_err();
    assert_eq!(
        error,
        HttpError::InvalidResponse(Box::new(expected)),
        "{fields:?}"
    );
    assert_eq!(error.status(), 502, "{fields:?}");
}

#[test]
fn transfer_encoding_with_content_length_is_refused() {
    let both = "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n";
    refused_request(both, HttpError::ConflictingFraming);
    refused_response(both, HttpError::ConflictingFraming);
    let reversed = "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n";
    refused_request(reversed, HttpError::ConflictingFraming);
}

#[test]
fn differing_content_lengths_are_refused() {
    refused_request(
        "Content-Length: 5\r\nContent-Length: 6\r\n",
        HttpError::DifferingContentLengths,
    );
    refused_request(
        "Content-Length: 5, 6\r\n",
        HttpError::DifferingContentLengths,
    );
    refused_response(
        "Content-Length: 5\r\nContent-Length: 6\r\n",
        HttpError::DifferingContentLengths,
    );
}

#[test]
fn identical_repeated_content_lengths_are_accepted() {
    assert_eq!(
        request_with("Content-Length: 5\r\nContent-Length: 5\r\n"),
        Ok(BodyFraming::ContentLength(5))
    );
    assert_eq!(
        request_with("Content-Length: 5, 5\r\n"),
        Ok(BodyFraming::ContentLength(5))
    );
}

#[test]
fn malformed_content_lengths_are_refused() {
    for value in [
        "+5",
        "-5",
        "5a",
        "0x5",
        "5 5",
        "5,",
        "",
        "18446744073709551616",
        "1_000",
    ] {
        refused_request(
            &format!("Content-Length: {value}\r\n"),
            HttpError::InvalidContentLength,
        );
        refused_response(
            &format!("Content-Length: {value}\r\n"),
            HttpError::InvalidContentLength,
        );
    }
}

#[test]
fn request_transfer_encoding_must_end_with_chunked() {
    refused_request("Transfer-Encoding: gzip\r\n", HttpError::ChunkedNotLast);
    refused_request(
        "Transfer-Encoding: chunked, gzip\r\n",
        HttpError::ChunkedNotLast,
    );
    refused_request(
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n",
        HttpError::ChunkedNotLast,
    );
    refused_request(
        "Transfer-Encoding: chunked, chunked\r\n",
        HttpError::ChunkedNotLast,
    );
    assert_eq!(
        request_with("Transfer-Encoding: gzip, Chunked\r\n"),
        Ok(BodyFraming::Chunked)
    );
    assert_eq!(
        request_with("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n"),
        Ok(BodyFraming::Chunked)
    );
}

#[test]
fn response_transfer_encoding_without_chunked_last_runs_until_close() {
    assert_eq!(
        response_with("Transfer-Encoding: gzip\r\n"),
        Ok(BodyFraming::UntilClose)
    );
    refused_response(
        "Transfer-Encoding: chunked, gzip\r\n",
        HttpError::ChunkedNotLast,
    );
}

#[test]
fn unknown_transfer_codings_are_refused_with_501() {
    let error = request_with("Transfer-Encoding: identity, chunked\r\n").unwrap_err();
    assert_eq!(error, HttpError::UnknownTransferCoding("identity".into()));
    assert_eq!(error.status(), 501);
    let error = request_with("Transfer-Encoding: chunked;ext=1\r\n").unwrap_err();
    assert_eq!(error.status(), 501);
    assert_eq!(
        response_with("Transfer-Encoding: xchunked\r\n")
            .unwrap_err()
            .status(),
        502
    );
}

#[test]
fn transfer_encoding_in_http10_is_refused() {
    let head = b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_eq!(
        request(head).unwrap_err(),
        HttpError::TransferEncodingInHttp10
    );
    let head = b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_eq!(response(head, "GET").unwrap_err().status(), 502);
}

#[test]
fn folded_header_lines_are_refused() {
    refused_request("X-A: one\r\n two\r\n", HttpError::InvalidHeaderName);
    refused_request(
        "Transfer-Encoding:\r\n chunked\r\n",
        HttpError::InvalidHeaderName,
    );
    refused_response("X-A: one\r\n\ttwo\r\n", HttpError::InvalidHeaderName);
}

#[test]
fn whitespace_between_a_header_name_and_its_colon_is_refused() {
    refused_request(
        "Transfer-Encoding : chunked\r\n",
        HttpError::InvalidHeaderName,
    );
    refused_request("Content-Length\t: 5\r\n", HttpError::InvalidHeaderName);
    refused_response("Content-Length : 5\r\n", HttpError::InvalidHeaderName);
}

#[test]
fn invalid_header_names_are_refused() {
    refused_request("X(A): 1\r\n", HttpError::InvalidHeaderName);
    refused_request(": 1\r\n", HttpError::InvalidHeaderName);
    refused_request("X\u{7f}: 1\r\n", HttpError::InvalidHeaderName);
}

#[test]
fn control_characters_in_values_are_refused() {
    refused_request("X-A: a\u{0}b\r\n", HttpError::InvalidHeaderValue);
    refused_request("X-A: a\rb\r\n", HttpError::InvalidHeaderValue);
}

#[test]
fn bare_line_feeds_end_lines_as_httparse_reads_them() {
    // httparse accepts LF alone as a line end, consistently for every line,
    // so the head's end is still unambiguous.
    let (head, consumed) = request(b"GET / HTTP/1.1\nHost: h\nX-A: 1\n\n").unwrap();
    assert_eq!(consumed, 31);
    assert_eq!(head.headers.get("x-a"), Some(&b"1"[..]));
}

#[test]
fn a_bare_carriage_return_is_refused() {
    assert_eq!(
        request(b"GET / HTTP/1.1\rHost: h\r\n\r\n")
            .unwrap_err()
            .status(),
        400
    );
    refused_request("X-A: 1\r\r\n", HttpError::InvalidHeaderValue);
}

#[test]
fn connection_cannot_make_framing_headers_disappear() {
    let (head, _) = request(
        b"POST / HTTP/1.1\r\nHost: h\r\nConnection: content-length, transfer-encoding\r\nContent-Length: 3\r\n\r\n",
    )
    .unwrap();
    let mut out = Vec::new();
    super::super::write_request_head(
        &head,
        "127.0.0.1".parse().unwrap(),
        super::super::Scheme::Http,
        &mut out,
    );
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("\r\nContent-Length: 3\r\n"), "{text}");
}
