//! The shared blocking server over loopback: bodies read on demand
//! (length and chunked), unread bodies skipped so keep-alive goes on, the
//! body limit, streamed answers, and the graceful stop.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::Duration;

use distloop_http::blocking::{BodyError, Handler, Request, Response, Server, ServerLimits};

struct Echo;

impl Handler for Echo {
    fn handle(&self, request: &mut Request<'_>) -> Response {
        match request.path() {
            "/echo" => match request.body.read_all() {
                Ok(body) => Response::new(200, "application/octet-stream", body),
                Err(error) => {
                    let status = BodyError::of(&error).map_or(500, BodyError::status);
                    Response::error(status, &error.to_string()).closing()
                }
            },
            "/stream" => Response::stream(
                200,
                "text/event-stream",
                Box::new(|out| {
                    for i in 0..3 {
                        write!(out, "data: {i}\n\n")?;
                        out.flush()?;
                    }
                    Ok(())
                }),
            ),
            _ => Response::text(200, format!("q={}", request.query())),
        }
    }
}

fn start() -> (
    std::net::SocketAddr,
    distloop_http::blocking::Stopper,
    thread::JoinHandle<()>,
) {
    let limits = ServerLimits {
        max_body_bytes: 100,
        response_headers: vec![("X-Test".into(), "yes".into())],
        ..ServerLimits::default()
    };
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), limits, Echo).unwrap();
    let addr = server.local_addr();
    let stopper = server.stopper();
    let running = thread::spawn(move || server.run().unwrap());
    (addr, stopper, running)
}

fn connect(addr: std::net::SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

/// Reads one response with a Content-Length; returns (head, body).
fn read_response(stream: &mut TcpStream) -> (String, Vec<u8>) {
    let mut bytes = Vec::new();
    let mut byte = [0u8; 1];
    while !bytes.ends_with(b"\r\n\r\n") {
        assert_eq!(stream.read(&mut byte).unwrap(), 1, "head cut short");
        bytes.push(byte[0]);
    }
    let head = String::from_utf8(bytes).unwrap();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .map_or(0, |v| v.trim().parse().unwrap());
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).unwrap();
    (head, body)
}

#[test]
fn bodies_of_both_framings_reach_the_handler_and_keep_alive_goes_on() {
    let (addr, stopper, running) = start();
    let mut client = connect(addr);
    client
        .write_all(b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello")
        .unwrap();
    let (head, body) = read_response(&mut client);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"));
    assert!(head.contains("X-Test: yes\r\n"));
    assert_eq!(body, b"hello");
    client
        .write_all(
            b"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n\
              3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        )
        .unwrap();
    assert_eq!(read_response(&mut client).1, b"abcde");
    // A body the handler never reads is skipped.
    client
        .write_all(b"POST /other?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nxyzGET /again?y=2 HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut client).1, b"q=x=1");
    assert_eq!(read_response(&mut client).1, b"q=y=2");
    stopper.stop();
    running.join().unwrap();
}

#[test]
fn bodies_over_the_limit_get_413_in_both_framings() {
    let (addr, stopper, running) = start();
    let mut client = connect(addr);
    client
        .write_all(b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 101\r\n\r\n")
        .unwrap();
    assert!(read_response(&mut client).0.starts_with("HTTP/1.1 413 "));
    let mut client = connect(addr);
    let mut chunked =
        b"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..30 {
        chunked.extend_from_slice(b"5\r\n12345\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    client.write_all(&chunked).unwrap();
    assert!(read_response(&mut client).0.starts_with("HTTP/1.1 413 "));
    stopper.stop();
    running.join().unwrap();
}

#[test]
fn a_streamed_answer_has_no_length_and_ends_with_the_connection() {
    let (addr, stopper, running) = start();
    let mut client = connect(addr);
    client
        .write_all(b"GET /stream HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    let mut all = String::new();
    client.read_to_string(&mut all).unwrap();
    assert!(all.contains("Connection: close\r\n"));
    assert!(!all.contains("Content-Length"));
    assert!(all.ends_with("data: 0\n\ndata: 1\n\ndata: 2\n\n"));
    stopper.stop();
    running.join().unwrap();
}

#[test]
fn garbage_gets_400_and_the_server_keeps_serving() {
    let (addr, stopper, running) = start();
    let mut bad = connect(addr);
    bad.write_all(b"\x00\x01 nonsense\r\n\r\n").unwrap();
    assert!(read_response(&mut bad).0.starts_with("HTTP/1.1 400 "));
    let mut good = connect(addr);
    good.write_all(b"GET /?ok HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut good).1, b"q=ok");
    stopper.stop();
    running.join().unwrap();
}
