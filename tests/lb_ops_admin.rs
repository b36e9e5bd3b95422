//! What the admin port and the access log report: backends known at once,
//! `/metrics`, the HTML page and refused methods; the counts of two workers
//! added up in `/stats`; one Common Log Format line per request. The real
//! binary on loopback in front of real pi-backends.

#[path = "support/balancer.rs"]
mod balancer;
#[path = "support/operations.rs"]
mod operations;
#[path = "support/pi.rs"]
mod pi;
mod support;

use std::thread;
use std::time::Duration;

use balancer::balancer_with_admin;
use operations::{
    SETTLE, admin, answers, backend_stats, exchange, header, spec, stats, try_get, wait_for, who,
};
use pi::start_backends;
use support::temp_path;

#[test]
fn two_workers_both_accept_connections_and_stats_add_them_up() {
    const THREADS: usize = 4;
    const PER_THREAD: usize = 50;
    let backends = start_backends(&[&[], &[]]);
    let specs = [spec(&backends[0], "a", ""), spec(&backends[1], "b", "")];
    let (lb, admin_addr) = balancer_with_admin(&specs, &["--workers", "2"]);
    let addr = lb.addr;
    let clients: Vec<_> = (0..THREADS)
        .map(|_| {
            thread::spawn(move || {
                (0..PER_THREAD)
                    .map(|_| try_get(addr, "/20"))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for client in clients {
        for result in client.join().unwrap() {
            assert!(matches!(&result, Ok((200, _))), "{result:?}");
        }
    }
    let total = (THREADS * PER_THREAD) as u64;
    wait_for("both workers' counts in the stats", SETTLE, || {
        stats(admin_addr)["accepted"].as_u64() == Some(total)
    });
    let stats = stats(admin_addr);
    assert_eq!(stats["workers"], 2);
    let by_worker: Vec<u64> = stats["accepted_by_worker"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(by_worker.len(), 2, "{stats}");
    assert!(by_worker.iter().all(|&n| n > 0), "{by_worker:?}");
    assert_eq!(by_worker.iter().sum::<u64>(), total);
}

#[test]
fn admin_knows_the_backends_at_once_serves_metrics_and_html_and_refuses_other_methods() {
    let backends = start_backends(&[&[]]);
    let (lb, admin_addr) = balancer_with_admin(&[spec(&backends[0], "a", "")], &[]);
    // Known from the start, before any worker's periodic publish.
    assert_eq!(admin(admin_addr, "POST", "/backends/a/ready").0, 200);
    assert_eq!(backend_stats(&stats(admin_addr), "a")["state"], "up");
    who(lb.addr, "/50");
    wait_for("the request in the metrics", SETTLE, || {
        let (_, metrics) = admin(admin_addr, "GET", "/metrics");
        metrics.contains("distloop_backend_requests_total{backend=\"a\"")
            && metrics
                .lines()
                .any(|l| l.starts_with("distloop_backend_requests_total") && l.ends_with(" 1"))
    });
    let (status, metrics) = admin(admin_addr, "GET", "/metrics");
    assert_eq!(status, 200);
    for line in metrics.lines().filter(|l| !l.is_empty()) {
        assert!(
            line.starts_with('#') || line.starts_with("distloop_"),
            "{line}"
        );
        if !line.starts_with('#') {
            let value = line.rsplit(' ').next().unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }

    let (status, head, page) = exchange(admin_addr, "GET", "/").unwrap();
    assert_eq!(status, 200);
    assert!(
        header(&head, "content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(page.to_ascii_lowercase().contains("<html"), "{page}");
    assert!(page.contains("refresh"), "{page}");

    for (method, path) in [("POST", "/stats"), ("DELETE", "/metrics"), ("PUT", "/")] {
        assert_eq!(admin(admin_addr, method, path).0, 405, "{method} {path}");
    }
    assert_eq!(admin(admin_addr, "GET", "/nothing-here").0, 404);
}

/// Checks one Common Log Format line with backend and duration; returns the backend.
fn check_log_line(line: &str) -> String {
    // 127.0.0.1 - - [02/Jan/2006:15:04:05 +0000] "GET /50 HTTP/1.1" 200 123 backend=a 1.234ms
    let (client, rest) = line.split_once(" - - [").expect(line);
    assert_eq!(client, "127.0.0.1", "{line}");
    let (time, rest) = rest.split_once("] \"").expect(line);
    assert!(time.ends_with(" +0000") && time.len() == 26, "{line}");
    let (request, rest) = rest.split_once("\" ").expect(line);
    assert_eq!(request, "GET /50 HTTP/1.1", "{line}");
    let fields: Vec<&str> = rest.split(' ').collect();
    assert_eq!(fields.len(), 4, "{line}");
    assert_eq!(fields[0], "200", "{line}");
    assert!(fields[1].parse::<u64>().unwrap() > 0, "{line}");
    let ms = fields[3].strip_suffix("ms").expect(line);
    assert!(ms.parse::<f64>().is_ok(), "{line}");
    fields[2].strip_prefix("backend=").expect(line).to_string()
}

#[test]
fn the_access_log_has_one_common_log_format_line_per_request() {
    const REQUESTS: usize = 6;
    let backends = start_backends(&[&[], &[]]);
    let specs = [spec(&backends[0], "a", ""), spec(&backends[1], "b", "")];
    let path = temp_path("access.log");
    let _ = std::fs::remove_file(&path);
    let (lb, _admin) = balancer_with_admin(&specs, &["--access-log", path.to_str().unwrap()]);
    let served = answers(lb.addr, REQUESTS);
    let mut lines = Vec::new();
    wait_for("every request in the log", Duration::from_secs(5), || {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        lines = text.lines().map(String::from).collect();
        lines.len() >= REQUESTS
    });
    assert_eq!(lines.len(), REQUESTS, "{lines:#?}");
    let logged: Vec<String> = lines.iter().map(|l| check_log_line(l)).collect();
    assert_eq!(logged, served);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_page_elsewhere_cannot_drive_the_admin_port_but_curl_can() {
    let backends = start_backends(&[&[]]);
    let (_lb, admin_addr) = balancer_with_admin(&[spec(&backends[0], "a", "")], &[]);
    let url = format!("http://{admin_addr}/backends/a/drain");
    let post = |extra: &[&str]| {
        let out = support::tool("curl")
            .args([
                "-s",
                "--max-time",
                "20",
                "-X",
                "POST",
                "-w",
                "\n%{http_code}",
            ])
            .args(extra)
            .arg(&url)
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let (body, status) = text.rsplit_once('\n').unwrap();
        (status.to_string(), body.to_string())
    };
    // A form on another site, and a page on a name rebound to this address.
    let (status, body) = post(&["-H", "Origin: http://evil.example"]);
    assert_eq!(status, "403", "{body}");
    let rebound = format!("Host: evil.example:{}", admin_addr.port());
    let origin = format!("Origin: http://evil.example:{}", admin_addr.port());
    let (status, body) = post(&["-H", &rebound, "-H", &origin]);
    assert_eq!(status, "403", "{body}");
    assert_eq!(backend_stats(&stats(admin_addr), "a")["state"], "up");
    // The command line (no Origin) and the stats page itself are obeyed.
    let own = format!("Origin: http://{admin_addr}");
    let (status, body) = post(&["-H", &own, "-H", "Sec-Fetch-Site: same-origin"]);
    assert_eq!(status, "200", "{body}");
    wait_for("the drain", SETTLE, || {
        backend_stats(&stats(admin_addr), "a")["state"] == "drain"
    });
    assert_eq!(post(&[]).0, "200");
}
