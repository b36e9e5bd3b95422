//! Feeds arbitrary bytes to the request and response head parsers and the
//! body framer, as a pipelined stream of messages, and checks that nothing
//! panics, that feeding the bytes whole or one at a time gives the same
//! answers, that the chunked decoder agrees with the framer, and that a
//! rewritten head parses back to the same framing.
#![no_main]

use distloop::http::{
    BodyFramer, BodyFraming, ChunkedDecoder, HEADER_SLOTS, HeadLimits, HeadStatus, HttpError,
    RequestParser, ResponseParser, Scheme, parse_request_head, parse_response_head,
    write_request_head, write_response_head,
};
use libfuzzer_sys::fuzz_target;

/// Messages followed in one input, so a pipeline cannot loop for long.
const MAX_MESSAGES: usize = 8;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, stream)) = data.split_first() else {
        return;
    };
    let limits = HeadLimits {
        max_head_bytes: 4096,
        max_headers: 16,
        max_content_length: 1 << 20,
        ..HeadLimits::default()
    };
    if mode & 1 == 0 {
        requests(stream, &limits);
    } else {
        let method = if mode & 2 == 0 { "GET" } else { "HEAD" };
        responses(stream, method, &limits);
    }
});

fn requests(mut stream: &[u8], limits: &HeadLimits) {
    for _ in 0..MAX_MESSAGES {
        let whole = parse_request_head(stream, limits);
        let mut parser = RequestParser::new(*limits);
        let bytewise = bytewise_head(stream, |prefix| parser.parse(prefix));
        assert_eq!(whole, bytewise, "request head: whole and bytewise differ");
        let Ok(HeadStatus::Complete { head, consumed }) = whole else {
            return;
        };
        assert!(consumed <= limits.max_head_bytes && consumed <= stream.len());

        let mut rewritten = Vec::new();
        write_request_head(
            &head,
            "192.0.2.1".parse().unwrap(),
            Scheme::Http,
            &mut rewritten,
        );
        let generous = HeadLimits {
            max_head_bytes: rewritten.len() + 1,
            max_headers: HEADER_SLOTS,
            max_content_length: u64::MAX,
            ..HeadLimits::default()
        };
        match parse_request_head(&rewritten, &generous) {
            Ok(HeadStatus::Complete {
                head: again,
                consumed,
            }) => {
                assert_eq!(consumed, rewritten.len());
                assert_eq!(again.method, head.method);
                assert_eq!(again.target, head.target);
                assert_eq!(again.framing, head.framing);
                assert_eq!(again.upgrade_requested, head.upgrade_requested);
            }
            other => panic!("rewritten request does not parse: {other:?}"),
        }

        let rest = &stream[consumed..];
        let Some(used) = body(head.framing, rest) else {
            return;
        };
        stream = &rest[used..];
    }
}

fn responses(mut stream: &[u8], method: &str, limits: &HeadLimits) {
    for _ in 0..MAX_MESSAGES {
        let whole = parse_response_head(stream, method, limits);
        let mut parser = ResponseParser::new(*limits);
        let bytewise = bytewise_head(stream, |prefix| parser.parse(prefix, method));
        assert_eq!(whole, bytewise, "response head: whole and bytewise differ");
        if let Err(error) = &whole {
            assert_eq!(error.status(), 502);
        }
        let Ok(HeadStatus::Complete { head, consumed }) = whole else {
            return;
        };
        let mut rewritten = Vec::new();
        write_response_head(&head, true, &mut rewritten);
        let generous = HeadLimits {
            max_head_bytes: rewritten.len() + 1,
            max_headers: HEADER_SLOTS,
            max_content_length: u64::MAX,
            ..HeadLimits::default()
        };
        match parse_response_head(&rewritten, method, &generous) {
            Ok(HeadStatus::Complete {
                head: again,
                consumed,
            }) => {
                assert_eq!(consumed, rewritten.len());
                assert_eq!(again.status, head.status);
                assert_eq!(again.framing, head.framing);
            }
            other => panic!("rewritten response does not parse: {other:?}"),
        }

        let rest = &stream[consumed..];
        let Some(used) = body(head.framing, rest) else {
            return;
        };
        stream = &rest[used..];
    }
}

/// Feeds growing prefixes of `stream` to `parse` until it stops asking
/// for more, as a connection that receives one byte per read would.
fn bytewise_head<T>(
    stream: &[u8],
    mut parse: impl FnMut(&[u8]) -> Result<HeadStatus<T>, HttpError>,
) -> Result<HeadStatus<T>, HttpError> {
    let mut last = Ok(HeadStatus::Partial);
    for end in 1..=stream.len() {
        last = parse(&stream[..end]);
        if !matches!(last, Ok(HeadStatus::Partial)) {
            break;
        }
    }
    last
}

/// Frames the body at the front of `rest` whole and byte by byte; returns
/// its length when it completed.
fn body(framing: BodyFraming, rest: &[u8]) -> Option<usize> {
    let mut whole = BodyFramer::new(framing);
    let whole_result = whole.advance(rest).map(|p| (p.consumed, p.complete));

    let mut bytewise = BodyFramer::new(framing);
    let mut bytewise_result = Ok((0, bytewise.is_complete()));
    let mut consumed = 0;
    for byte in rest {
        if bytewise.is_complete() {
            break;
        }
        match bytewise.advance(std::slice::from_ref(byte)) {
            Ok(progress) => {
                consumed += progress.consumed;
                bytewise_result = Ok((consumed, progress.complete));
            }
            Err(error) => {
                bytewise_result = Err(error);
                break;
            }
        }
    }
    assert_eq!(
        whole_result, bytewise_result,
        "body: whole and bytewise differ"
    );

    if framing == BodyFraming::Chunked {
        let mut decoder = ChunkedDecoder::new();
        let mut data = Vec::new();
        let decoded = decoder
            .decode(rest, &mut data)
            .map(|p| (p.consumed, p.complete));
        assert_eq!(decoded, whole_result, "decoder and framer differ");
        if let Ok((consumed, _)) = decoded {
            assert!(data.len() <= consumed);
        }
    }
    match whole_result {
        Ok((consumed, true)) => Some(consumed),
        _ => None,
    }
}
