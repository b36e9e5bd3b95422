use super::super::{Scheme, write_request_head, write_response_head};
use super::{request, response};

fn rewritten_request(bytes: &[u8], scheme: Scheme) -> String {
    let (head, _) = request(bytes).unwrap();
    let mut out = Vec::new();
    write_request_head(&head, "192.0.2.9".parse().unwrap(), scheme, &mut out);
    String::from_utf8(out).unwrap()
}

fn rewritten_response(bytes: &[u8], method: &str, keep_alive: bool) -> String {
    let (head, _) = response(bytes, method).unwrap();
    let mut out = Vec::new();
    write_response_head(&head, keep_alive, &mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn requests_lose_hop_by_hop_fields_and_gain_forwarding_fields() {
    let text = rewritten_request(
        b"POST /f?x=1 HTTP/1.1\r\nHost: h\r\nConnection: close, X-Secret\r\nX-Secret: 1\r\n\
Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nTE: trailers\r\nUpgrade: h2c\r\n\
Transfer-Encoding: chunked\r\nAccept: */*\r\n\r\n",
        Scheme::Https,
    );
    assert_eq!(
        text,
        "POST /f?x=1 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nAccept: */*\r\n\
X-Forwarded-For: 192.0.2.9\r\nX-Forwarded-Proto: https\r\nConnection: keep-alive\r\n\r\n"
    );
}

#[test]
fn the_client_address_is_appended_to_an_existing_forwarded_for() {
    let text = rewritten_request(
        b"GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 203.0.113.1\r\nx-forwarded-for: 10.0.0.1\r\n\
X-Forwarded-Proto: https\r\n\r\n",
        Scheme::Http,
    );
    assert!(
        text.contains("\r\nX-Forwarded-For: 203.0.113.1, 10.0.0.1, 192.0.2.9\r\n"),
        "{text}"
    );
    assert_eq!(text.matches("X-Forwarded-").count(), 2);
    assert!(text.contains("\r\nX-Forwarded-Proto: http\r\n"));
}

#[test]
fn an_upgrade_request_keeps_upgrade_and_asks_the_backend_to_upgrade() {
    let text = rewritten_request(
        b"GET /chat HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
Sec-WebSocket-Key: k\r\n\r\n",
        Scheme::Http,
    );
    assert!(text.contains("\r\nUpgrade: websocket\r\n"));
    assert!(text.contains("\r\nSec-WebSocket-Key: k\r\n"));
    assert!(text.ends_with("\r\nConnection: upgrade\r\n\r\n"));
}

#[test]
fn http10_requests_stay_http10_so_the_backend_never_answers_chunked() {
    let text = rewritten_request(b"GET /old HTTP/1.0\r\n\r\n", Scheme::Http);
    assert!(
        text.starts_with("GET /old HTTP/1.0\r\nHost: \r\n"),
        "{text}"
    );
}

#[test]
fn rewritten_requests_parse_back_to_the_same_request() {
    let original =
        b"PUT /x HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n";
    let text = rewritten_request(original, Scheme::Http);
    let (again, consumed) = request(text.as_bytes()).unwrap();
    assert_eq!(consumed, text.len());
    assert_eq!(again.framing, super::super::BodyFraming::ContentLength(3));
    assert!(again.expects_continue);
    assert!(again.keep_alive);
}

#[test]
fn responses_say_keep_alive_or_close_for_the_client() {
    let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close, X-Hop\r\nX-Hop: 1\r\n\
Keep-Alive: timeout=5\r\nServer: pi\r\n\r\n";
    assert_eq!(
        rewritten_response(ok, "GET", true),
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nServer: pi\r\nConnection: keep-alive\r\n\r\n"
    );
    assert!(rewritten_response(ok, "GET", false).ends_with("\r\nConnection: close\r\n\r\n"));
}

#[test]
fn a_response_until_close_always_closes_the_client() {
    let text = rewritten_response(b"HTTP/1.0 200 OK\r\nServer: old\r\n\r\n", "GET", true);
    assert_eq!(
        text,
        "HTTP/1.1 200 OK\r\nServer: old\r\nConnection: close\r\n\r\n"
    );
}

#[test]
fn a_switching_response_keeps_its_upgrade() {
    let text = rewritten_response(
        b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
        "GET",
        true,
    );
    assert_eq!(
        text,
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n"
    );
}

#[test]
fn interim_responses_get_no_connection_field_and_empty_reasons_are_filled() {
    let text = rewritten_response(b"HTTP/1.1 100 \r\n\r\n", "PUT", true);
    assert_eq!(text, "HTTP/1.1 100 Continue\r\n\r\n");
}

#[test]
fn chunked_responses_keep_transfer_encoding() {
    let text = rewritten_response(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        "GET",
        true,
    );
    assert!(text.contains("\r\nTransfer-Encoding: chunked\r\n"));
}
