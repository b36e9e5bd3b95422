//! The proxy's state machine over a client connection that came over TLS:
//! the backend is told so, and bytes the stream still holds back (TLS
//! records the socket did not take) go out before any close.

use super::proxy::{Proxy, closes};
use super::{GET, OK};
use crate::lb::http::client::ClientConnection;

fn over_tls() -> Proxy {
    let mut proxy = Proxy::new();
    let addr = "10.0.0.7:4000".parse().unwrap();
    proxy.connection = ClientConnection::new(1, addr, &proxy.settings, proxy.now).over_tls();
    proxy
}

#[test]
fn the_backend_is_told_the_client_came_over_https() {
    let mut proxy = over_tls();
    proxy.client_sends(GET);
    let request = proxy.backend_got();
    assert!(request.contains("X-Forwarded-Proto: https"), "{request}");
    let mut plain = Proxy::new();
    plain.client_sends(GET);
    let request = plain.backend_got();
    assert!(request.contains("X-Forwarded-Proto: http\r\n"), "{request}");
}

#[test]
fn a_last_answer_held_back_by_the_stream_delays_the_close() {
    let mut proxy = over_tls();
    proxy.client.stream.holds_back = true;
    proxy.client_sends("GET /old HTTP/1.0\r\n\r\n");
    proxy.backend_sends(OK);
    assert!(proxy.client_got().ends_with("hi"));
    assert!(proxy.closed.is_none(), "not closed while bytes are held");
    proxy.client.stream.holds_back = false;
    proxy.run();
    assert!(proxy.closed.is_some(), "closed once they are out");
}

#[test]
fn a_tunnel_ends_only_once_the_stream_let_everything_out() {
    let mut proxy = over_tls();
    proxy.client_sends(
        "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
    );
    proxy.backend_sends(
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
    );
    proxy.backend_sends("bye");
    assert!(proxy.client_got().ends_with("bye"));
    proxy.client.stream.holds_back = true;
    closes(proxy.backend.as_mut().unwrap());
    proxy.run();
    closes(&mut proxy.client);
    proxy.run();
    assert!(proxy.client.stream.shut, "both ends of stream passed on");
    assert!(proxy.closed.is_none(), "not closed while bytes are held");
    proxy.client.stream.holds_back = false;
    proxy.run();
    assert!(proxy.closed.is_some(), "closed once they are out");
}
