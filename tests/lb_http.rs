//! The balancer in HTTP mode (the default `--mode`), as a user meets it:
//! the real binary on loopback between real clients (curl, Python's
//! `http.client`, raw sockets) and real or deliberately broken backends.

#[path = "support/http_backends.rs"]
mod http_backends;
mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::Duration;

use http_backends::{
    Behaviour, CHUNKED_RESPONSE, HttpBackend, PIECE_BYTES, StreamHash, UNTIL_CLOSE_BODY,
    pattern_piece,
};
use support::{Server, distloop_bin, pi_backend_bin};

/// No single read or write in these tests may block longer than this.
const IO_TIMEOUT: Duration = Duration::from_secs(20);
/// π to 20 places, to check what the Pi backend computed.
const PI_PREFIX: &str = "3.14159265358979323846";

fn balancer(backends: &[SocketAddr], extra: &[&str]) -> Server {
    let mut args = vec!["lb", "--listen", "127.0.0.1:0"];
    let backend_args: Vec<String> = backends.iter().map(|a| a.to_string()).collect();
    for b in &backend_args {
        args.push("--backend");
        args.push(b);
    }
    args.extend_from_slice(extra);
    Server::start(distloop_bin(), &args)
}

fn pi_backend(name: &str) -> Server {
    Server::start(
        pi_backend_bin(),
        &["--listen", "127.0.0.1:0", "--name", name],
    )
}

/// A loopback address where nothing listens (bound, then released).
fn dead_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect to balancer");
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    stream
}

/// A response as the client read it.
#[derive(Debug)]
struct Reply {
    status: u16,
    /// Header lines, names in lower case.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Reads one response head (status line and fields).
fn read_head(reader: &mut impl BufRead) -> Reply {
    let mut line = String::new();
    reader.read_line(&mut line).expect("read the status line");
    assert!(!line.is_empty(), "the connection closed before a response");
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a status line: {line:?}"));
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).expect("read a header line");
        let field = line.trim_end();
        if field.is_empty() {
            break;
        }
        let (name, value) = field.split_once(':').expect("a header field");
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    Reply {
        status,
        headers,
        body: Vec::new(),
    }
}

/// Reads one whole response framed by `Content-Length` (or by close).
fn read_reply(reader: &mut impl BufRead) -> Reply {
    let mut reply = read_head(reader);
    match reply.header("content-length") {
        Some(length) => {
            let mut body = vec![0u8; length.parse().expect("a length")];
            reader.read_exact(&mut body).expect("read the body");
            reply.body = body;
        }
        None => {
            reader.read_to_end(&mut reply.body).expect("read to close");
        }
    }
    reply
}

/// Sends `request` on a new connection and reads the one response.
fn exchange(addr: SocketAddr, request: &[u8]) -> Reply {
    let mut stream = connect(addr);
    // The balancer may answer and stop reading before all is written.
    let _ = stream.write_all(request);
    read_reply(&mut BufReader::new(stream))
}

/// True when the peer closed the connection (rather than keeping it open).
fn closed_by_peer(reader: &mut impl BufRead) -> bool {
    let mut rest = Vec::new();
    match reader.read_to_end(&mut rest) {
        Ok(_) => rest.is_empty(),
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    }
}

/// A good request on a new connection is still answered.
fn assert_still_serves(addr: SocketAddr) {
    let reply = exchange(
        addr,
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nstill here",
    );
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text(), "still here");
}

fn run_python(script: &str, args: &[String]) -> Output {
    let output = Command::new("timeout")
        .arg("30")
        .arg("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run python3");
    assert!(
        output.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

// 1. Several requests on one client connection are balanced one by one.

#[test]
fn curl_requests_on_one_connection_are_balanced_one_by_one() {
    let backends = [pi_backend("a"), pi_backend("b"), pi_backend("c")];
    let addrs: Vec<SocketAddr> = backends.iter().map(|b| b.addr).collect();
    let lb = balancer(&addrs, &["--strategy", "round-robin"]);
    let places = [3, 7, 1, 12, 20, 5];
    let urls: Vec<String> = places
        .iter()
        .map(|n| format!("http://{}/{n}", lb.addr))
        .collect();
    let output = Command::new("curl")
        .args(["-s", "--max-time", "20", "-H", "Accept: text/plain"])
        .args(["-w", "\n%{num_connects} %header{x-backend}\n"])
        .args(&urls)
        .output()
        .expect("run curl");
    assert!(output.status.success(), "curl failed: {output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2 * places.len(), "{text}");
    let mut connects = 0;
    let mut served_by = Vec::new();
    for (i, n) in places.iter().enumerate() {
        assert_eq!(lines[2 * i], &PI_PREFIX[..2 + n], "answer to /{n}");
        let (count, backend) = lines[2 * i + 1].split_once(' ').unwrap();
        connects += count.parse::<u32>().unwrap();
        served_by.push(backend.to_string());
    }
    assert_eq!(connects, 1, "curl reused one connection for every URL");
    let mut first_round = served_by[..3].to_vec();
    first_round.sort();
    assert_eq!(first_round, ["a", "b", "c"], "{served_by:?}");
    assert_eq!(served_by[..3], served_by[3..], "round-robin cycles");
}

// 2. Pipelining, chunked uploads, and the backends' failures.

const PIPELINE_SCRIPT: &str = r#"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
s.sendall(b"".join(
    b"GET /%d HTTP/1.1\r\nHost: pi\r\nAccept: text/plain\r\n\r\n" % n for n in (3, 5, 7)))
f = s.makefile("rb")
for _ in range(3):
    status = f.readline().split()[1].decode()
    headers = {}
    while True:
        line = f.readline()
        if line in (b"\r\n", b""):
            break
        name, value = line.decode().split(":", 1)
        headers[name.strip().lower()] = value.strip()
    body = f.read(int(headers["content-length"]))
    print(status, headers.get("x-backend"), body.decode())
"#;

#[test]
fn pipelined_requests_are_answered_in_order_and_each_balanced() {
    let backends = [pi_backend("a"), pi_backend("b")];
    let lb = balancer(&[backends[0].addr, backends[1].addr], &[]);
    let output = run_python(PIPELINE_SCRIPT, &[lb.addr.port().to_string()]);
    let text = String::from_utf8(output.stdout).unwrap();
    let answers: Vec<Vec<&str>> = text.lines().map(|l| l.split(' ').collect()).collect();
    assert_eq!(answers.len(), 3, "{text}");
    for (answer, n) in answers.iter().zip([3, 5, 7]) {
        assert_eq!(answer[0], "200");
        assert_eq!(answer[2], &PI_PREFIX[..2 + n], "in request order");
    }
    assert_ne!(answers[0][1], answers[1][1], "each request is balanced");
    assert_eq!(answers[0][1], answers[2][1], "round-robin over two");
}

const CHUNKED_UPLOAD_SCRIPT: &str = r#"
import http.client, sys
pieces = [bytes((i * 7 + j) % 256 for j in range(1 + 997 * i)) for i in range(40)]
conn = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=20)
for attempt in range(2):
    conn.request("POST", "/echo", body=iter(pieces), encode_chunked=True)
    r = conn.getresponse()
    got = r.read()
    sent = b"".join(pieces)
    print(r.status, len(sent), len(got), got == sent)
"#;

#[test]
fn chunked_upload_from_http_client_arrives_intact() {
    let echo = HttpBackend::start(Behaviour::Echo);
    let lb = balancer(&[echo.addr], &[]);
    let output = run_python(CHUNKED_UPLOAD_SCRIPT, &[lb.addr.port().to_string()]);
    let text = String::from_utf8(output.stdout).unwrap();
    let total: usize = (0..40).map(|i| 1 + 997 * i).sum();
    let expected = format!("200 {total} {total} True\n");
    assert_eq!(text, expected.repeat(2), "two uploads on one connection");
    let heads = echo.heads();
    assert!(
        heads[0]
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "the backend got the body chunked: {heads:?}"
    );
}

#[test]
fn backend_answering_garbage_earns_502() {
    let garbage = HttpBackend::start(Behaviour::Garbage);
    let lb = balancer(&[garbage.addr], &[]);
    let reply = exchange(lb.addr, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(reply.status, 502, "{}", reply.text());
    let again = exchange(lb.addr, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(again.status, 502, "the balancer keeps answering");
}

#[test]
fn silent_backend_earns_504_after_the_response_timeout() {
    let silent = HttpBackend::start(Behaviour::Silent);
    let lb = balancer(&[silent.addr], &["--response-timeout", "500ms"]);
    let reply = exchange(lb.addr, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(reply.status, 504, "{}", reply.text());
    let again = exchange(lb.addr, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(again.status, 504, "the balancer keeps answering");
}

#[test]
fn get_on_a_kept_alive_connection_the_backend_dropped_is_retried() {
    let backend = HttpBackend::start(Behaviour::OneResponsePerConnection);
    let lb = balancer(&[backend.addr], &[]);
    let mut stream = connect(lb.addr);
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    for i in 0..3 {
        stream
            .write_all(b"GET /echo HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let reply = read_reply(&mut reader);
        assert_eq!(reply.status, 200, "request {i}: {}", reply.text());
        assert_eq!(reply.header("connection"), Some("keep-alive"));
        // Let the balancer park the backend connection before the next request.
        thread::sleep(Duration::from_millis(50));
    }
    // Each reuse met a dropped connection and was sent again on a new one.
    assert_eq!(
        backend.accepted.load(std::sync::atomic::Ordering::SeqCst),
        3
    );
    assert_eq!(backend.heads().len(), 5, "two requests were sent twice");
}

#[test]
fn post_on_a_kept_alive_connection_the_backend_dropped_is_not_retried() {
    let backend = HttpBackend::start(Behaviour::OneResponsePerConnection);
    let lb = balancer(&[backend.addr], &[]);
    let mut stream = connect(lb.addr);
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    stream
        .write_all(b"GET /echo HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    assert_eq!(read_reply(&mut reader).status, 200);
    thread::sleep(Duration::from_millis(50));
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
        .unwrap();
    let reply = read_reply(&mut reader);
    assert_eq!(reply.status, 502, "{}", reply.text());
    assert_eq!(backend.heads().len(), 2, "the POST was sent once");
    assert_still_serves_get(lb.addr);
}

fn assert_still_serves_get(addr: SocketAddr) {
    let reply = exchange(addr, b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(reply.status, 200, "{}", reply.text());
}

#[test]
fn upgraded_connection_tunnels_raw_bytes_both_ways() {
    let backend = HttpBackend::start(Behaviour::UpgradeEcho);
    let lb = balancer(&[backend.addr], &[]);
    let mut stream = connect(lb.addr);
    stream
        .write_all(
            b"GET /chat HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n\
              early bytes",
        )
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let head = read_head(&mut reader);
    assert_eq!(head.status, 101);
    assert_eq!(head.header("upgrade"), Some("echo"));
    let mut early = [0u8; 11];
    reader.read_exact(&mut early).unwrap();
    assert_eq!(&early, b"early bytes", "bytes sent with the head follow it");
    for message in [&b"not http at all\x00\xff"[..], b"\r\n\r\nmore"] {
        stream.write_all(message).unwrap();
        let mut back = vec![0u8; message.len()];
        reader.read_exact(&mut back).unwrap();
        assert_eq!(back, message);
    }
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    assert!(closed_by_peer(&mut reader), "the close travels through");
}

#[test]
fn pipelined_request_after_a_chunked_upload_in_one_write_is_answered_too() {
    let echo = HttpBackend::start(Behaviour::Echo);
    let lb = balancer(&[echo.addr], &[]);
    let mut stream = connect(lb.addr);
    stream
        .write_all(
            b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\
              3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n\
              POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nnext",
        )
        .unwrap();
    let mut reader = BufReader::new(stream);
    let first = read_reply(&mut reader);
    assert_eq!((first.status, first.text().as_str()), (200, "abcdefg"));
    let second = read_reply(&mut reader);
    assert_eq!((second.status, second.text().as_str()), (200, "next"));
}

#[test]
fn chunked_response_is_relayed_verbatim_and_the_connection_stays_open() {
    let echo = HttpBackend::start(Behaviour::Echo);
    let lb = balancer(&[echo.addr], &[]);
    let mut stream = connect(lb.addr);
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let sent_body = &CHUNKED_RESPONSE[CHUNKED_RESPONSE
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap()
        + 4..];
    for _ in 0..2 {
        stream
            .write_all(b"GET /chunked HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let head = read_head(&mut reader);
        assert_eq!(head.status, 200);
        assert_eq!(head.header("transfer-encoding"), Some("chunked"));
        assert_eq!(head.header("connection"), Some("keep-alive"));
        let mut body = vec![0u8; sent_body.len()];
        reader.read_exact(&mut body).unwrap();
        assert_eq!(body, sent_body, "chunks, extension and trailer as sent");
    }
}

#[test]
fn response_ending_at_close_reaches_the_client_and_then_closes_it() {
    let echo = HttpBackend::start(Behaviour::Echo);
    let lb = balancer(&[echo.addr], &[]);
    let mut stream = connect(lb.addr);
    stream
        .write_all(b"GET /until-close HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut reader = BufReader::new(stream);
    let reply = read_reply(&mut reader);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("connection"), Some("close"));
    assert_eq!(
        reply.body, UNTIL_CLOSE_BODY,
        "the whole body, ended by the close"
    );
}

#[test]
fn client_that_half_closes_after_its_request_still_gets_the_response() {
    let echo = HttpBackend::start(Behaviour::Echo);
    let lb = balancer(&[echo.addr], &[]);
    let mut stream = connect(lb.addr);
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nbye")
        .unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let mut reader = BufReader::new(stream);
    let reply = read_reply(&mut reader);
    assert_eq!((reply.status, reply.text().as_str()), (200, "bye"));
    assert!(closed_by_peer(&mut reader));
}

#[test]
fn head_request_gets_no_body_and_the_next_request_follows() {
    let backend = pi_backend("a");
    let lb = balancer(&[backend.addr], &[]);
    let mut stream = connect(lb.addr);
    stream
        .write_all(
            b"HEAD /10 HTTP/1.1\r\nHost: t\r\nAccept: text/plain\r\n\r\n\
              GET /10 HTTP/1.1\r\nHost: t\r\nAccept: text/plain\r\n\r\n",
        )
        .unwrap();
    let mut reader = BufReader::new(stream);
    let head = read_head(&mut reader);
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("content-length"),
        Some("12"),
        "the GET's length"
    );
    let reply = read_reply(&mut reader);
    assert_eq!(reply.status, 200, "the next response follows at once");
    assert_eq!(reply.text(), &PI_PREFIX[..12]);
}

#[test]
fn many_concurrent_keep_alive_clients_each_get_their_own_answers() {
    let echo = HttpBackend::start(Behaviour::Echo);
    let lb = balancer(&[echo.addr], &[]);
    let addr = lb.addr;
    let clients: Vec<_> = (0..32)
        .map(|client| {
            thread::spawn(move || {
                let mut stream = connect(addr);
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                for request in 0..20 {
                    let body = format!("client {client} request {request} ").repeat(client + 1);
                    let head = format!(
                        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
                        body.len()
                    );
                    stream.write_all(head.as_bytes()).unwrap();
                    stream.write_all(body.as_bytes()).unwrap();
                    let reply = read_reply(&mut reader);
                    assert_eq!(reply.status, 200);
                    assert_eq!(reply.text(), body, "client {client} got other bytes");
                }
            })
        })
        .collect();
    for client in clients {
        client.join().unwrap();
    }
}

#[test]
fn backend_connection_is_reused_by_the_next_client() {
    let echo = HttpBackend::start(Behaviour::Echo);
    let lb = balancer(&[echo.addr], &[]);
    for _ in 0..3 {
        assert_still_serves(lb.addr);
    }
    assert_eq!(
        echo.accepted.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "one kept-alive backend connection served three clients in turn"
    );
}

// 3. Big bodies stream through bounded buffers.

/// Resident memory of a process, in KiB.
fn vm_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("a VmRSS line");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Bytes sent each way by the big-body test.
const BIG_BODY_BYTES: u64 = 256 * 1024 * 1024;
/// How much the balancer's resident memory may grow while they pass.
const RSS_GROWTH_LIMIT_KIB: u64 = 32 * 1024;

fn expected_summary(total: u64) -> String {
    let mut hash = StreamHash::new();
    let mut offset = 0;
    while offset < total {
        let len = (total - offset).min(PIECE_BYTES as u64) as usize;
        hash.update(&pattern_piece(offset, len));
        offset += len as u64;
    }
    hash.summary()
}

#[test]
fn big_upload_and_download_stream_without_growing_the_balancer() {
    let backend = HttpBackend::start(Behaviour::Echo);
    let lb = balancer(&[backend.addr], &[]);
    assert_still_serves(lb.addr);
    let before = vm_rss_kib(lb.child.id());
    let expected = expected_summary(BIG_BODY_BYTES);

    let mut stream = connect(lb.addr);
    let head =
        format!("POST /sink HTTP/1.1\r\nHost: t\r\nContent-Length: {BIG_BODY_BYTES}\r\n\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    let mut offset = 0;
    while offset < BIG_BODY_BYTES {
        let len = (BIG_BODY_BYTES - offset).min(PIECE_BYTES as u64) as usize;
        stream.write_all(&pattern_piece(offset, len)).unwrap();
        offset += len as u64;
    }
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let upload = read_reply(&mut reader);
    assert_eq!(upload.status, 200);
    assert_eq!(
        upload.text(),
        expected,
        "the backend received every byte in order"
    );

    let head = format!("GET /bytes/{BIG_BODY_BYTES} HTTP/1.1\r\nHost: t\r\n\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    let download = read_head(&mut reader);
    assert_eq!(download.status, 200);
    assert_eq!(
        download.header("content-length"),
        Some(BIG_BODY_BYTES.to_string().as_str())
    );
    let mut hash = StreamHash::new();
    let mut piece = vec![0u8; PIECE_BYTES];
    while hash.len < BIG_BODY_BYTES {
        let want = (BIG_BODY_BYTES - hash.len).min(PIECE_BYTES as u64) as usize;
        let n = reader.read(&mut piece[..want]).unwrap();
        assert!(n > 0, "the download ended after {} bytes", hash.len);
        hash.update(&piece[..n]);
    }
    assert_eq!(hash.summary(), expected, "every byte came back in order");

    let after = vm_rss_kib(lb.child.id());
    let growth = after.saturating_sub(before);
    eprintln!("balancer VmRSS: {before} KiB before, {after} KiB after");
    assert!(
        growth < RSS_GROWTH_LIMIT_KIB,
        "the balancer grew by {growth} KiB ({before} -> {after})"
    );
}

// 4. Bad input is refused with the right status, and the balancer goes on.

#[test]
fn each_bad_request_gets_its_status_and_the_balancer_goes_on() {
    let echo = HttpBackend::start(Behaviour::Echo);
    let lb = balancer(
        &[echo.addr],
        &["--max-head-bytes", "2048", "--max-body-bytes", "10"],
    );
    let big_head = format!(
        "GET / HTTP/1.1\r\nHost: t\r\n{}\r\n",
        "X-Filler: 0123456789abcdef0123456789abcdef\r\n".repeat(100)
    );
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("malformed request line", b"GET\r\n\r\n".to_vec(), 400),
        ("head over the limit", big_head.into_bytes(), 431),
        (
            "body over the limit",
            format!(
                "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n{}",
                "x".repeat(100)
            )
            .into_bytes(),
            413,
        ),
        (
            "chunked body over the limit",
            format!(
                "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n{}\r\n0\r\n\r\n",
                "x".repeat(100)
            )
            .into_bytes(),
            413,
        ),
        (
            "Transfer-Encoding with Content-Length",
            b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n".to_vec(),
            400,
        ),
        (
            "differing Content-Length values",
            b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!".to_vec(),
            400,
        ),
        (
            "a transfer coding without chunked last",
            b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\nxx".to_vec(),
            400,
        ),
        (
            "an unknown transfer coding",
            b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: zebra, chunked\r\n\r\n0\r\n\r\n".to_vec(),
            501,
        ),
        (
            "an invalid chunk size after the head went out",
            b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n".to_vec(),
            400,
        ),
        (
            "Transfer-Encoding from an HTTP/1.0 client",
            b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec(),
            400,
        ),
        (
            "a Content-Length that is not a number",
            b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n".to_vec(),
            400,
        ),
        (
            "an HTTP/1.1 request without Host",
            b"GET / HTTP/1.1\r\n\r\n".to_vec(),
            400,
        ),
        (
            "an HTTP version other than 1.0 and 1.1",
            b"GET / HTTP/2.0\r\nHost: t\r\n\r\n".to_vec(),
            505,
        ),
        (
            "a folded header line",
            b"GET / HTTP/1.1\r\nHost: t\r\nX-A: b\r\n c\r\n\r\n".to_vec(),
            400,
        ),
        (
            "whitespace before a header colon",
            b"GET / HTTP/1.1\r\nHost : t\r\n\r\n".to_vec(),
            400,
        ),
    ];
    for (what, request, status) in cases {
        let reply = exchange(lb.addr, &request);
        assert_eq!(reply.status, status, "{what}: {}", reply.text());
        assert_eq!(reply.header("connection"), Some("close"), "{what}");
        assert_still_serves(lb.addr);
    }
}

#[test]
fn invalid_chunk_size_sent_apart_from_the_head_still_gets_400() {
    let echo = HttpBackend::start(Behaviour::Echo);
    let lb = balancer(&[echo.addr], &[]);
    let mut stream = connect(lb.addr);
    stream
        .write_all(
            b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
        )
        .unwrap();
    // The head and the first chunk reach the backend before the bad size.
    thread::sleep(Duration::from_millis(100));
    stream.write_all(b"-1\r\n").unwrap();
    let reply = read_reply(&mut BufReader::new(stream));
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert_still_serves(lb.addr);
}

#[test]
fn no_reachable_backend_earns_503() {
    let lb = balancer(&[dead_addr(), dead_addr()], &[]);
    for _ in 0..2 {
        let reply = exchange(lb.addr, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!(reply.status, 503, "{}", reply.text());
    }
}

#[test]
fn request_head_not_finished_in_time_earns_408() {
    let echo = HttpBackend::start(Behaviour::Echo);
    let lb = balancer(&[echo.addr], &["--head-timeout", "300ms"]);
    let mut stream = connect(lb.addr);
    stream.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n").unwrap();
    let reply = read_reply(&mut BufReader::new(stream));
    assert_eq!(reply.status, 408, "{}", reply.text());
    assert_still_serves(lb.addr);
}

// 5. Headers the backend sees, and keep-alive as the client asks.

#[test]
fn backend_sees_forwarded_for_and_proto_and_no_hop_by_hop_fields() {
    let echo = HttpBackend::start(Behaviour::Echo);
    let lb = balancer(&[echo.addr], &[]);
    let reply = exchange(
        lb.addr,
        b"GET /h HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: 203.0.113.9\r\n\
          Connection: keep-alive, X-Private\r\nX-Private: secret\r\nKeep-Alive: timeout=5\r\n\
          Proxy-Connection: keep-alive\r\nTE: trailers\r\nX-Kept: yes\r\n\r\n",
    );
    assert_eq!(reply.status, 200);
    let heads = echo.heads();
    let head = heads[0].to_ascii_lowercase();
    assert!(
        head.contains("\r\nx-forwarded-for: 203.0.113.9, 127.0.0.1\r\n"),
        "{head}"
    );
    assert!(head.contains("\r\nx-forwarded-proto: http\r\n"), "{head}");
    assert!(head.contains("\r\nx-kept: yes\r\n"), "{head}");
    for dropped in ["x-private", "keep-alive:", "proxy-connection", "\r\nte:"] {
        assert!(
            !head.contains(dropped),
            "{dropped} reached the backend: {head}"
        );
    }
    let connection: Vec<&str> = head
        .lines()
        .filter(|l| l.starts_with("connection:"))
        .collect();
    assert_eq!(
        connection,
        ["connection: keep-alive"],
        "only the balancer's own"
    );
}

#[test]
fn http10_client_is_closed_after_the_response_unless_it_asks_keep_alive() {
    let echo = HttpBackend::start(Behaviour::Echo);
    let lb = balancer(&[echo.addr], &[]);

    let mut stream = connect(lb.addr);
    stream.write_all(b"GET /a HTTP/1.0\r\n\r\n").unwrap();
    let mut reader = BufReader::new(stream);
    let reply = read_reply(&mut reader);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("connection"), Some("close"));
    assert!(closed_by_peer(&mut reader), "closed after one response");

    let mut stream = connect(lb.addr);
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    for _ in 0..2 {
        stream
            .write_all(b"GET /b HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .unwrap();
        let reply = read_reply(&mut reader);
        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("connection"), Some("keep-alive"));
    }
}

#[test]
fn http11_client_asking_close_is_closed_after_the_response() {
    let echo = HttpBackend::start(Behaviour::Echo);
    let lb = balancer(&[echo.addr], &[]);
    let mut stream = connect(lb.addr);
    stream
        .write_all(b"GET /a HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut reader = BufReader::new(stream);
    let reply = read_reply(&mut reader);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("connection"), Some("close"));
    assert!(closed_by_peer(&mut reader));
}

// 6. Expect: 100-continue.

#[test]
fn expect_continue_by_hand_gets_100_before_the_body_is_sent() {
    let echo = HttpBackend::start(Behaviour::Echo);
    let lb = balancer(&[echo.addr], &[]);
    let mut stream = connect(lb.addr);
    stream
        .write_all(
            b"POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
        )
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let interim = read_head(&mut reader);
    assert_eq!(interim.status, 100);
    stream.write_all(b"hello").unwrap();
    let reply = read_reply(&mut reader);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text(), "hello");
}

#[test]
fn curl_upload_with_expect_continue_gets_through() {
    let echo = HttpBackend::start(Behaviour::Echo);
    let lb = balancer(&[echo.addr], &[]);
    let dir = std::env::temp_dir().join(format!("distloop-lb-http-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("upload.bin");
    let body: Vec<u8> = (0..5000u32).map(|i| b'a' + (i % 26) as u8).collect();
    std::fs::write(&file, &body).unwrap();
    let output = Command::new("curl")
        // This curl only asks on its own for bodies over 1 MiB; told to wait
        // for the 100 longer than --max-time, it fails if none comes.
        .args(["-sv", "--max-time", "20", "--expect100-timeout", "30"])
        .args(["-H", "Expect: 100-continue"])
        .arg("--data-binary")
        .arg(format!("@{}", file.display()))
        .arg(format!("http://{}/echo", lb.addr))
        .output()
        .expect("run curl");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(output.status.success(), "curl failed: {output:?}");
    let trace = String::from_utf8_lossy(&output.stderr);
    assert!(trace.contains("> Expect: 100-continue"), "{trace}");
    assert!(trace.contains("< HTTP/1.1 100 Continue"), "{trace}");
    assert_eq!(output.stdout, body);
}
