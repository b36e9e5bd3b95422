//! The balancer terminating TLS, as users meet it: the real binary on
//! loopback, certificates from a CA made by the test, and real clients (curl,
//! openssl s_client, a rustls client).

#[path = "support/balancer.rs"]
mod balancer;
#[path = "support/echo.rs"]
#[allow(dead_code)]
mod echo;
#[path = "support/http_backends.rs"]
#[allow(dead_code)]
mod http_backends;
mod support;
#[path = "support/tls.rs"]
mod tls;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use echo::EchoServer;
use http_backends::{Behaviour, HttpBackend};
use support::{SIGHUP, Server, connect, dead_addr, distloop_bin, run_distloop};
use tls::{TestPki, arg, curl, read_head, read_to_end, resolve, s_client};

/// The balancer in `mode` in front of `backend`, terminating TLS with
/// `pki_pairs` (the first the default), then `extra` flags.
fn balancer(
    mode: &str,
    backend: SocketAddr,
    pki_pairs: &[(&Path, &Path)],
    extra: &[&str],
) -> Server {
    let mut flags = vec!["--mode", mode];
    for (cert, key) in pki_pairs {
        flags.extend(["--tls-cert", arg(cert), "--tls-key", arg(key)]);
    }
    flags.extend_from_slice(extra);
    balancer::balancer(&[backend], &flags)
}

fn url(name: &str, addr: SocketAddr, path: &str) -> String {
    format!("https://{name}:{}{path}", addr.port())
}

/// curl through the balancer for `name`, trusting the test CA; (status, body).
fn curl_get(pki: &TestPki, lb: SocketAddr, name: &str, path: &str) -> (String, String) {
    let out = curl(&[
        "--cacert",
        arg(&pki.ca_pem),
        "--resolve",
        &resolve(name, lb),
        "-w",
        "\n%{http_code}",
        &url(name, lb, path),
    ]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", ""));
    (format!("{status}{stderr}"), body.to_string())
}

#[test]
fn curl_gets_answers_over_tls_in_http_mode_with_x_forwarded_proto_https() {
    let pki = TestPki::new("http");
    let (cert, key) = pki.leaf("lb", &["lb.test"]);
    let backend = HttpBackend::start(Behaviour::Echo);
    let lb = balancer("http", backend.addr, &[(&cert, &key)], &[]);
    let (status, _) = curl_get(&pki, lb.addr, "lb.test", "/hello");
    assert_eq!(status, "200");
    let heads = backend.heads();
    assert!(
        heads[0].contains("X-Forwarded-Proto: https"),
        "the backend learns the scheme: {heads:?}"
    );
    // Keep-alive: two requests on one TLS connection.
    let out = curl(&[
        "--cacert",
        arg(&pki.ca_pem),
        "--resolve",
        &resolve("lb.test", lb.addr),
        "-o",
        "/dev/null",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{num_connects}\n",
        &url("lb.test", lb.addr, "/a"),
        &url("lb.test", lb.addr, "/b"),
    ]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200 1\n200 0\n");
}

#[test]
fn curl_gets_answers_over_tls_in_tcp_mode() {
    let pki = TestPki::new("tcp");
    let (cert, key) = pki.leaf("lb", &["lb.test"]);
    let backend = HttpBackend::start(Behaviour::Echo);
    let lb = balancer("tcp", backend.addr, &[(&cert, &key)], &[]);
    let (status, _) = curl_get(&pki, lb.addr, "lb.test", "/bytes/100000");
    assert_eq!(status, "200");
}

#[test]
fn tcp_mode_carries_bytes_both_ways_and_passes_the_close_on() {
    let pki = TestPki::new("tcp-echo");
    let (cert, key) = pki.leaf("lb", &["lb.test"]);
    let echo = EchoServer::start();
    let lb = balancer("tcp", echo.addr, &[(&cert, &key)], &[]);
    let mut stream = pki.connect(lb.addr, "lb.test");
    for round in 0..64u32 {
        let message: Vec<u8> = (0..64 * 1024u32).map(|i| (i ^ round) as u8).collect();
        stream.write_all(&message).unwrap();
        let mut back = vec![0u8; message.len()];
        stream.read_exact(&mut back).unwrap();
        assert!(back == message, "round {round} came back changed");
    }
    // close_notify: the backend sees the end, closes, and that close
    // comes back as the balancer's close_notify.
    stream.conn.send_close_notify();
    stream.flush().unwrap();
    let mut rest = [0u8; 16];
    assert_eq!(stream.read(&mut rest).unwrap(), 0, "a clean TLS close");
}

#[test]
fn sni_chooses_between_two_certificates() {
    let pki = TestPki::new("sni");
    let (a_cert, a_key) = pki.leaf("a", &["a.test"]);
    let (b_cert, b_key) = pki.leaf("b", &["b.test"]);
    let backend = HttpBackend::start(Behaviour::Echo);
    let lb = balancer(
        "http",
        backend.addr,
        &[(&a_cert, &a_key), (&b_cert, &b_key)],
        &[],
    );
    // curl checks the name: each succeeds only with its own certificate.
    assert_eq!(curl_get(&pki, lb.addr, "a.test", "/").0, "200");
    assert_eq!(curl_get(&pki, lb.addr, "b.test", "/").0, "200");
    let subject = |name: &str| {
        let out = s_client(lb.addr, &["-servername", name], b"");
        out.lines()
            .find(|l| l.starts_with("subject="))
            .unwrap_or("no subject")
            .to_string()
    };
    assert!(subject("b.test").contains("b.test"));
    assert!(
        subject("other.test").contains("a.test"),
        "the first is the default"
    );
}

#[test]
fn sessions_resume_with_tickets_and_session_ids() {
    let pki = TestPki::new("resume");
    let (cert, key) = pki.leaf("lb", &["lb.test"]);
    let backend = HttpBackend::start(Behaviour::Echo);
    let lb = balancer("http", backend.addr, &[(&cert, &key)], &[]);
    let ca = arg(&pki.ca_pem);
    let tls12 = s_client(lb.addr, &["-CAfile", ca, "-tls1_2", "-reconnect"], b"");
    assert!(tls12.contains("Reused, TLSv1.2"), "{tls12}");
    // TLS 1.3: the ticket arrives after the handshake, so save it from a
    // first exchange and offer it on a second connection (`-ign_eof`: read
    // until the balancer closes, past the end of the request).
    let session = pki.path("tls13.session");
    let request = b"GET / HTTP/1.1\r\nHost: lb.test\r\nConnection: close\r\n\r\n";
    let first = s_client(
        lb.addr,
        &["-CAfile", ca, "-ign_eof", "-sess_out", arg(&session)],
        request,
    );
    assert!(first.contains("New, TLSv1.3"), "{first}");
    let second = s_client(
        lb.addr,
        &["-CAfile", ca, "-ign_eof", "-sess_in", arg(&session)],
        request,
    );
    assert!(second.contains("Reused, TLSv1.3"), "{second}");
    assert!(second.contains("HTTP/1.1 200"), "{second}");
}

#[test]
fn a_websocket_style_upgrade_tunnels_through_tls() {
    let pki = TestPki::new("upgrade");
    let (cert, key) = pki.leaf("lb", &["lb.test"]);
    let backend = HttpBackend::start(Behaviour::UpgradeEcho);
    let lb = balancer("http", backend.addr, &[(&cert, &key)], &[]);
    let mut stream = pki.connect(lb.addr, "lb.test");
    stream
        .write_all(
            b"GET /chat HTTP/1.1\r\nHost: lb.test\r\nConnection: Upgrade\r\n\
              Upgrade: websocket\r\n\r\n",
        )
        .unwrap();
    let head = read_head(&mut stream);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    for message in [&b"\x81\x05hello"[..], b"not http \x00\xff\r\n\r\n"] {
        stream.write_all(message).unwrap();
        let mut back = vec![0u8; message.len()];
        stream.read_exact(&mut back).unwrap();
        assert_eq!(back, message);
    }
    stream.conn.send_close_notify();
    stream.flush().unwrap();
    assert!(
        read_to_end(&mut stream).is_empty(),
        "the close travels through"
    );
}

/// Resident memory of process `pid` in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[test]
fn two_hundred_fifty_six_mebibytes_pass_through_tls_in_bounded_memory() {
    const TOTAL: u64 = 256 * 1024 * 1024;
    /// The balancer's resident memory may not pass this (a copy of the
    /// response held anywhere would be 256 MiB).
    const RSS_LIMIT_KIB: u64 = 96 * 1024;
    let pki = TestPki::new("large");
    let (cert, key) = pki.leaf("lb", &["lb.test"]);
    let backend = HttpBackend::start(Behaviour::Echo);
    let lb = balancer("http", backend.addr, &[(&cert, &key)], &[]);
    let pid = lb.child.id();
    let done = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (done, peak) = (Arc::clone(&done), Arc::clone(&peak));
        thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                peak.fetch_max(rss_kib(pid), Ordering::SeqCst);
                thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let out = curl(&[
        "--cacert",
        arg(&pki.ca_pem),
        "--resolve",
        &resolve("lb.test", lb.addr),
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{size_download}",
        &url("lb.test", lb.addr, &format!("/bytes/{TOTAL}")),
    ]);
    done.store(true, Ordering::SeqCst);
    sampler.join().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text,
        format!("200 {TOTAL}"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let peak = peak.load(Ordering::SeqCst);
    assert!(peak > 0, "memory was sampled");
    assert!(peak < RSS_LIMIT_KIB, "balancer peaked at {peak} KiB");
}

#[test]
fn sighup_reloads_certificates_keeps_connections_and_refuses_a_bad_file() {
    let pki = TestPki::new("reload");
    let (a_cert, a_key) = pki.leaf("a", &["a.test"]);
    let (b_cert, b_key) = pki.leaf("b", &["b.test"]);
    let backend = HttpBackend::start(Behaviour::Echo);
    let config = pki.path("lb.toml");
    let write_config = |cert: &Path, key: &Path| {
        let text = format!(
            "listen = \"127.0.0.1:0\"\nmode = \"http\"\n[[backend]]\naddress = \"{}\"\n\
             [[tls]]\ncert = \"{}\"\nkey = \"{}\"\n",
            backend.addr,
            cert.display(),
            key.display()
        );
        std::fs::write(&config, text).unwrap();
    };
    write_config(&a_cert, &a_key);
    let log = pki.path("lb.log");
    // The shell gives the balancer's log a file and then becomes the balancer.
    let script = format!("exec \"$0\" \"$@\" 2>>{}", log.display());
    let bin = distloop_bin();
    let lb = Server::start(
        "sh",
        &["-c", &script, arg(&bin), "lb", "--config", arg(&config)],
    );
    assert_eq!(curl_get(&pki, lb.addr, "a.test", "/").0, "200");
    let mut kept = pki.connect(lb.addr, "a.test");
    let keep_alive = b"GET /kept HTTP/1.1\r\nHost: a.test\r\n\r\n";
    kept.write_all(keep_alive).unwrap();
    assert!(read_head(&mut kept).starts_with("HTTP/1.1 200"));
    kept.read_exact(&mut [0u8; 0]).unwrap();

    write_config(&b_cert, &b_key);
    lb.signal(SIGHUP);
    let served_b = (0..100).any(|_| {
        thread::sleep(Duration::from_millis(100));
        curl_get(&pki, lb.addr, "b.test", "/").0 == "200"
    });
    assert!(served_b, "new connections get the reloaded certificate");
    let (status, _) = curl_get(&pki, lb.addr, "a.test", "/");
    assert!(status.starts_with("000"), "a.test is gone: {status}");
    // The connection made before the reload goes on with its session.
    kept.write_all(b"GET /again HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
        .unwrap();
    let answer = String::from_utf8_lossy(&read_to_end(&mut kept)).into_owned();
    assert!(answer.contains("HTTP/1.1 200"), "{answer}");

    std::fs::write(&b_cert, "-----BEGIN CERTIFICATE-----\nbroken\n").unwrap();
    lb.signal(SIGHUP);
    let refused = (0..100).any(|_| {
        thread::sleep(Duration::from_millis(100));
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("reload refused")
    });
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(refused, "one clear line for the bad file: {text}");
    assert!(text.contains("b.pem"), "the line names the file: {text}");
    assert_eq!(
        curl_get(&pki, lb.addr, "b.test", "/").0,
        "200",
        "running certificates stay"
    );
}

#[test]
fn a_wrong_or_missing_certificate_at_start_is_one_line_and_exit_2() {
    let pki = TestPki::new("start");
    let (a_cert, _) = pki.leaf("a", &["a.test"]);
    let (_, b_key) = pki.leaf("b", &["b.test"]);
    let missing = pki.path("missing.pem");
    let cases: [(&Path, &Path, &str); 2] = [
        (&missing, &b_key, "missing.pem"),
        (&a_cert, &b_key, "does not belong to the certificate"),
    ];
    for (cert, key, expected) in cases {
        let backend = dead_addr().to_string();
        let (code, stdout, stderr) = run_distloop(&[
            "lb",
            "--listen",
            "127.0.0.1:0",
            "--backend",
            &backend,
            "--tls-cert",
            arg(cert),
            "--tls-key",
            arg(key),
        ]);
        assert_eq!(code, 2);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(expected), "{stderr}");
        assert!(stdout.is_empty(), "nothing listened");
    }
}

/// True when the balancer closed `socket` (end of stream or reset) rather
/// than leaving it open until the read timeout.
fn closed_by_peer(socket: &mut TcpStream) -> (bool, Vec<u8>) {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match socket.read(&mut buf) {
            Ok(0) => return (true, got),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return (true, got),
            Err(_) => return (false, got),
        }
    }
}

#[test]
fn plain_http_garbage_and_stalled_handshakes_are_closed_and_others_still_served() {
    let pki = TestPki::new("bad");
    let (cert, key) = pki.leaf("lb", &["lb.test"]);
    let backend = HttpBackend::start(Behaviour::Echo);
    let lb = balancer(
        "http",
        backend.addr,
        &[(&cert, &key)],
        &["--head-timeout", "1s"],
    );

    let mut plain = connect(lb.addr);
    plain
        .write_all(b"GET / HTTP/1.1\r\nHost: lb.test\r\n\r\n")
        .unwrap();
    let (closed, got) = closed_by_peer(&mut plain);
    assert!(closed, "plain HTTP is closed");
    assert_eq!(
        got.first(),
        Some(&0x15),
        "after a TLS alert record: {got:?}"
    );
    let out = curl(&[&format!("http://127.0.0.1:{}/", lb.addr.port())]);
    assert!(!out.status.success(), "curl over plain HTTP fails");

    let mut garbage = connect(lb.addr);
    garbage.write_all(&[0xff; 300]).unwrap();
    assert!(closed_by_peer(&mut garbage).0, "garbage is closed");

    // Half a record header, then silence: the head timeout ends it.
    let mut stalled = connect(lb.addr);
    stalled.write_all(&[0x16, 0x03, 0x01]).unwrap();
    assert!(
        closed_by_peer(&mut stalled).0,
        "a stalled handshake is closed"
    );
    let mut silent = connect(lb.addr);
    assert!(closed_by_peer(&mut silent).0, "a silent client is closed");

    assert_eq!(curl_get(&pki, lb.addr, "lb.test", "/").0, "200");
}

#[test]
fn old_protocols_and_ciphers_get_a_handshake_failure() {
    let pki = TestPki::new("old");
    let (cert, key) = pki.leaf("lb", &["lb.test"]);
    let backend = HttpBackend::start(Behaviour::Echo);
    let lb = balancer("tcp", backend.addr, &[(&cert, &key)], &[]);
    let cbc = s_client(lb.addr, &["-tls1_2", "-cipher", "AES128-SHA"], b"");
    assert!(cbc.contains("alert handshake failure"), "{cbc}");
    let tls11 = s_client(lb.addr, &["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"], b"");
    assert!(
        tls11.contains("alert"),
        "TLS 1.1 is refused with an alert: {tls11}"
    );
    assert!(tls11.contains("Cipher is (NONE)"), "{tls11}");
    assert_eq!(curl_get(&pki, lb.addr, "lb.test", "/").0, "200");
}
