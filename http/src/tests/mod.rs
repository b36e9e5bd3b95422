//! Tests of the HTTP core as a proxy uses it, across files: heads, the
//! smuggling defences, bodies and head rewriting. Each file's own unit
//! tests stay beside its code.

mod body;
mod head;
mod rewrite;
mod smuggling;

use super::{
    BodyFramer, HeadLimits, HeadStatus, HttpError, RequestHead, RequestParser, ResponseHead,
    ResponseParser, parse_request_head, parse_response_head,
};

/// Parses a request head fed whole, and fed one byte at a time through one
/// parser, and checks both agree before returning the answer.
fn request(bytes: &[u8]) -> Result<(RequestHead, usize), HttpError> {
    let whole = parse_request_head(bytes, &HeadLimits::default());
    let mut parser = RequestParser::new(HeadLimits::default());
    let mut bytewise = Ok(HeadStatus::Partial);
    for end in 1..=bytes.len() {
        bytewise = parser.parse(&bytes[..end]);
        if !matches!(bytewise, Ok(HeadStatus::Partial)) {
            break;
        }
    }
    assert_eq!(whole, bytewise, "whole and bytewise parses differ");
    match whole? {
        HeadStatus::Complete { head, consumed } => Ok((head, consumed)),
        HeadStatus::Partial => panic!("head incomplete"),
    }
}

/// Like [`request`] for a response to `method`.
fn response(bytes: &[u8], method: &str) -> Result<(ResponseHead, usize), HttpError> {
    let whole = parse_response_head(bytes, method, &HeadLimits::default());
    let mut parser = ResponseParser::new(HeadLimits::default());
    let mut bytewise = Ok(HeadStatus::Partial);
    for end in 1..=bytes.len() {
        bytewise = parser.parse(&bytes[..end], method);
        if !matches!(bytewise, Ok(HeadStatus::Partial)) {
            break;
        }
    }
    assert_eq!(whole, bytewise, "whole and bytewise parses differ");
    match whole? {
        HeadStatus::Complete { head, consumed } => Ok((head, consumed)),
        HeadStatus::Partial => panic!("head incomplete"),
    }
}

/// Frames `bytes` whole and one byte at a time; returns how many bytes the
/// body took and whether it completed, after checking both ways agree.
fn frame(framing: super::BodyFraming, bytes: &[u8]) -> Result<(usize, bool), HttpError> {
    let mut whole = BodyFramer::new(framing);
    let whole_result = whole
        .advance(bytes)
        .map(|progress| (progress.consumed, progress.complete));
    let mut bytewise = BodyFramer::new(framing);
    let mut consumed = 0;
    let mut bytewise_result = Ok((0, bytewise.is_complete()));
    for byte in bytes {
        match bytewise.advance(std::slice::from_ref(byte)) {
            Ok(progress) => {
                consumed += progress.consumed;
                bytewise_result = Ok((consumed, progress.complete));
                if progress.complete {
                    break;
                }
            }
            Err(error) => {
                bytewise_result = Err(error);
                break;
            }
        }
    }
    assert_eq!(
        whole_result, bytewise_result,
        "whole and bytewise framing differ"
    );
    whole_result
}
