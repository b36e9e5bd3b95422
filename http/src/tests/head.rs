use super::super::{BodyFraming, HeadLimits, HeadStatus, HttpError, RequestParser, Version};
use super::{request, response};

const BROWSER_GET: &[u8] = b"GET /search?q=rust HTTP/1.1\r\n\
Host: example.test\r\n\
User-Agent: Mozilla/5.0\r\n\
Accept: text/html\r\n\
\r\n";

#[test]
fn a_browser_get_parses_with_all_its_facts() {
    let (head, consumed) = request(BROWSER_GET).unwrap();
    assert_eq!(consumed, BROWSER_GET.len());
    assert_eq!(head.method, "GET");
    assert_eq!(head.target, "/search?q=rust");
    assert_eq!(head.version, Version::Http11);
    assert_eq!(head.headers.len(), 3);
    assert_eq!(head.headers.get("user-agent"), Some(&b"Mozilla/5.0"[..]));
    assert_eq!(head.framing, BodyFraming::None);
    assert!(head.keep_alive);
    assert!(!head.expects_continue);
    assert!(!head.upgrade_requested);
}

#[test]
fn a_head_that_has_not_ended_is_partial_not_an_error() {
    let mut parser = RequestParser::new(HeadLimits::default());
    for end in 0..BROWSER_GET.len() {
        assert_eq!(
            parser.parse(&BROWSER_GET[..end]),
            Ok(HeadStatus::Partial),
            "at {end}"
        );
    }
}

#[test]
fn pipelined_requests_parse_one_after_another() {
    let mut buffer = Vec::new();
    buffer.extend_from_slice(b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello");
    buffer.extend_from_slice(b"GET /b HTTP/1.1\r\nHost: h\r\n\r\n");
    buffer.extend_from_slice(b"GET /c HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    let mut parser = RequestParser::new(HeadLimits::default());
    let mut rest = &buffer[..];
    let mut seen = Vec::new();
    while !rest.is_empty() {
        let HeadStatus::Complete { head, consumed } = parser.parse(rest).unwrap() else {
            panic!("a whole head is buffered");
        };
        let mut body = super::super::BodyFramer::new(head.framing);
        let progress = body.advance(&rest[consumed..]).unwrap();
        assert!(progress.complete);
        seen.push((
            head.target.clone(),
            consumed,
            progress.consumed,
            head.keep_alive,
        ));
        rest = &rest[consumed + progress.consumed..];
    }
    assert_eq!(
        seen,
        vec![
            ("/a".to_owned(), 48, 5, true),
            ("/b".to_owned(), 28, 0, true),
            ("/c".to_owned(), 47, 0, false),
        ]
    );
}

#[test]
fn http11_keeps_alive_unless_connection_close() {
    let (head, _) = request(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: Close\r\n\r\n").unwrap();
    assert!(!head.keep_alive);
    assert_eq!(head.connection_tokens, vec!["close".to_owned()]);
    let (head, _) =
        request(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: foo, keep-alive\r\n\r\n").unwrap();
    assert!(head.keep_alive);
}

#[test]
fn http10_keeps_alive_only_when_asked() {
    let (head, _) = request(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    assert_eq!(head.version, Version::Http10);
    assert!(!head.keep_alive);
    let (head, _) = request(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").unwrap();
    assert!(head.keep_alive);
    let (head, _) = request(b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n").unwrap();
    assert!(!head.keep_alive);
}

#[test]
fn http10_responses_keep_alive_only_when_asked() {
    let (head, _) = response(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", "GET").unwrap();
    assert!(!head.keep_alive);
    let ok = b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n";
    let (head, _) = response(ok, "GET").unwrap();
    assert!(head.keep_alive);
}

#[test]
fn expect_100_continue_is_reported_for_http11_only() {
    let head = b"PUT /f HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 9\r\n\r\n";
    let (parsed, _) = request(head).unwrap();
    assert!(parsed.expects_continue);
    assert_eq!(parsed.framing, BodyFraming::ContentLength(9));
    let old = b"PUT /f HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 9\r\n\r\n";
    assert!(!request(old).unwrap().0.expects_continue);
}

#[test]
fn an_upgrade_needs_both_connection_upgrade_and_an_upgrade_field() {
    let ws = b"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n";
    assert!(request(ws).unwrap().0.upgrade_requested);
    let no_token = b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n";
    assert!(!request(no_token).unwrap().0.upgrade_requested);
    let no_field = b"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\n\r\n";
    assert!(!request(no_field).unwrap().0.upgrade_requested);
}

#[test]
fn a_head_over_the_size_limit_is_refused_with_431() {
    let limits = HeadLimits {
        max_head_bytes: 64,
        ..HeadLimits::default()
    };
    let mut long = b"GET / HTTP/1.1\r\nHost: h\r\nX-Pad: ".to_vec();
    long.extend(std::iter::repeat_n(b'a', 100));
    let mut parser = RequestParser::new(limits);
    assert_eq!(parser.parse(&long[..63]), Ok(HeadStatus::Partial));
    let error = parser.parse(&long).unwrap_err();
    assert_eq!(error, HttpError::HeadTooLarge { limit: 64 });
    assert_eq!(error.status(), 431);
    // A head of exactly the limit is accepted.
    let exact = b"GET / HTTP/1.1\r\nHost: h\r\nX-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    assert_eq!(exact.len(), 64);
    let mut parser = RequestParser::new(limits);
    assert!(matches!(
        parser.parse(exact),
        Ok(HeadStatus::Complete { consumed: 64, .. })
    ));
}

#[test]
fn too_many_headers_are_refused_with_431() {
    let limits = HeadLimits {
        max_headers: 3,
        ..HeadLimits::default()
    };
    let three = b"GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n";
    assert!(matches!(
        RequestParser::new(limits).parse(three),
        Ok(HeadStatus::Complete { .. })
    ));
    let four = b"GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    let error = RequestParser::new(limits).parse(four).unwrap_err();
    assert_eq!(error, HttpError::TooManyHeaders { limit: 3 });
    assert_eq!(error.status(), 431);
}

#[test]
fn content_length_over_the_limit_is_refused_with_413() {
    let limits = HeadLimits {
        max_content_length: 10,
        ..HeadLimits::default()
    };
    let head = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n";
    let error = RequestParser::new(limits).parse(head).unwrap_err();
    assert_eq!(
        error,
        HttpError::ContentTooLarge {
            length: 11,
            limit: 10
        }
    );
    assert_eq!(error.status(), 413);
}

#[test]
fn unsupported_versions_are_refused_with_505() {
    let error = request(b"GET / HTTP/2.0\r\nHost: h\r\n\r\n").unwrap_err();
    assert_eq!(error.status(), 505);
}

#[test]
fn a_line_naming_no_http_version_is_a_bad_request() {
    let error = request(b"this is not http\r\n\r\n").unwrap_err();
    assert_eq!(error, HttpError::InvalidRequestLine);
}

#[test]
fn http11_requests_need_exactly_one_host() {
    assert_eq!(
        request(b"GET / HTTP/1.1\r\n\r\n").unwrap_err(),
        HttpError::MissingHost
    );
    assert_eq!(
        request(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n").unwrap_err(),
        HttpError::RepeatedHost
    );
}

#[test]
fn leading_empty_lines_before_a_request_are_skipped() {
    let (head, consumed) = request(b"\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
    assert_eq!(head.target, "/");
    assert_eq!(consumed, 31);
}

#[test]
fn responses_to_head_and_1xx_204_304_have_no_body() {
    let with_length = b"HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n";
    assert_eq!(
        response(with_length, "GET").unwrap().0.framing,
        BodyFraming::ContentLength(42)
    );
    assert_eq!(
        response(with_length, "HEAD").unwrap().0.framing,
        BodyFraming::None
    );
    let chunked_head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_eq!(
        response(chunked_head, "HEAD").unwrap().0.framing,
        BodyFraming::None
    );
    for status in [
        "100 Continue",
        "103 Early Hints",
        "204 No Content",
        "304 Not Modified",
    ] {
        let head = format!("HTTP/1.1 {status}\r\nContent-Length: 42\r\n\r\n");
        assert_eq!(
            response(head.as_bytes(), "GET").unwrap().0.framing,
            BodyFraming::None
        );
    }
    let tunnel = b"HTTP/1.1 200 Connection established\r\n\r\n";
    assert_eq!(
        response(tunnel, "CONNECT").unwrap().0.framing,
        BodyFraming::None
    );
}

#[test]
fn a_response_without_length_runs_until_close_and_cannot_keep_alive() {
    let (head, _) = response(b"HTTP/1.1 200 OK\r\n\r\n", "GET").unwrap();
    assert_eq!(head.framing, BodyFraming::UntilClose);
    assert!(!head.keep_alive);
}

#[test]
fn interim_and_switching_responses_are_told_apart() {
    let (head, consumed) =
        response(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n", "PUT").unwrap();
    assert_eq!(consumed, 25);
    assert!(head.is_interim());
    assert!(!head.is_upgrade());
    let switching =
        b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
    let (head, _) = response(switching, "GET").unwrap();
    assert!(head.is_upgrade());
    assert!(!head.is_interim());
}

#[test]
fn response_errors_map_to_502() {
    let error = response(b"HTTP/1.1 2000 OK\r\n\r\n", "GET").unwrap_err();
    assert_eq!(error.status(), 502);
    assert!(matches!(error, HttpError::InvalidResponse(_)));
}

#[test]
fn status_codes_outside_100_to_599_are_refused() {
    for line in [
        "HTTP/1.1 099 Continue",
        "HTTP/1.1 000 Zero",
        "HTTP/1.1 600 Custom",
    ] {
        let head = format!("{line}\r\n\r\n");
        let error = response(head.as_bytes(), "GET").unwrap_err();
        assert_eq!(
            error,
            HttpError::InvalidResponse(Box::new(HttpError::InvalidStatusLine))
        );
    }
    assert_eq!(
        response(b"HTTP/1.1 599 Edge\r\n\r\n", "GET")
            .unwrap()
            .0
            .status,
        599
    );
}

#[test]
fn an_oversized_response_head_maps_to_502() {
    let limits = HeadLimits {
        max_head_bytes: 32,
        ..HeadLimits::default()
    };
    let long = b"HTTP/1.1 200 OK\r\nServer: a-very-long-server-name\r\n\r\n";
    let error = super::super::ResponseParser::new(limits)
        .parse(long, "GET")
        .unwrap_err();
    assert_eq!(
        error,
        HttpError::InvalidResponse(Box::new(HttpError::HeadTooLarge { limit: 32 }))
    );
    assert_eq!(error.status(), 502);
}
