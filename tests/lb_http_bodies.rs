//! Message bodies through the balancer in HTTP mode: chunked uploads and
//! responses relayed as sent, a body ended by the close, big bodies
//! streamed through bounded buffers, `Expect: 100-continue`, and an
//! upgraded connection tunnelled as raw bytes. The real binary on loopback
//! between real clients (curl, Python, raw sockets) and test backends.

#[path = "support/balancer.rs"]
mod balancer;
#[path = "support/http_backends.rs"]
#[allow(dead_code)]
mod http_backends;
#[path = "support/http_client.rs"]
mod http_client;
mod support;

use std::io::{BufReader, Read, Write};

use balancer::balancer;
use http_backends::{
    Behaviour, CHUNKED_RESPONSE, HttpBackend, PIECE_BYTES, StreamHash, UNTIL_CLOSE_BODY,
    pattern_piece,
};
use http_client::{assert_still_serves, closed_by_peer, read_head, read_reply, run_python};
use support::connect;

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
    let output = support::tool("curl")
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
