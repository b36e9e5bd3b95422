//! The admin stats page in a real browser: headless Chromium, driven by
//! Selenium from tests/browser/stats_page.py, reads the page's DOM while
//! the balancer serves load in front of fifty backends (one refusing).
//! Needs `chromium`, `chromium-driver` and `python3-selenium` (installed by
//! scripts/test). `DISTLOOP_SCREENSHOT=docs/lb-stats-page.png` keeps the picture.

#[path = "support/pi.rs"]
mod pi;
mod support;
#[path = "support/upgrade.rs"]
mod upgrade;

use std::net::TcpListener;

use pi::start_backends;
use support::{Server, distloop_bin};
use upgrade::Load;

/// Debian's python3-selenium is a package of the system's Python, which
/// another Python first on PATH would not see.
const SYSTEM_PYTHON: &str = "/usr/bin/python3";
/// Backends the page shows: enough to see whether it stays readable.
const BACKENDS: usize = 50;

#[test]
fn the_stats_page_redraws_itself_and_its_buttons_work_in_chromium() {
    support::require_browser();
    let pis = start_backends(&[&[], &[]]);
    // A port nothing listens on: its backend is refused and shown down.
    let dead = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let dead_name = format!("pi-{BACKENDS:02}");
    let mut args: Vec<String> = [
        "lb",
        "--listen",
        "127.0.0.1:0",
        "--admin",
        "127.0.0.1:0",
        "--health-check",
        "http:/1",
        "--health-interval",
        "300ms",
        "--strategy",
        "least-connections",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for i in 1..=BACKENDS {
        let addr = if i == BACKENDS { dead } else { pis[i % 2].addr };
        args.push("--backend".into());
        args.push(format!("{addr},name=pi-{i:02}"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let lb = Server::start_expecting(distloop_bin(), &args, 2);
    let admin = lb.other_addrs[0].1;
    let load = Load::start(lb.addr, "/30", 4);
    let screenshot = std::env::var("DISTLOOP_SCREENSHOT").unwrap_or_else(|_| {
        std::env::temp_dir()
            .join(format!("distloop-stats-{}.png", std::process::id()))
            .display()
            .to_string()
    });
    let root = env!("CARGO_MANIFEST_DIR");
    let status = support::tool(SYSTEM_PYTHON)
        .arg("tests/browser/stats_page.py")
        .arg(format!("http://{admin}/"))
        .arg(&dead_name)
        .arg(&screenshot)
        .current_dir(root)
        .status()
        .expect("/usr/bin/python3 is installed");
    let outcome = load.finish();
    assert!(
        status.success(),
        "the browser checks failed (needs chromium, chromium-driver and python3-selenium)"
    );
    assert!(outcome.ok > 0);
    let picture = std::fs::metadata(&screenshot).expect("a screenshot");
    assert!(picture.len() > 1000);
    if std::env::var("DISTLOOP_SCREENSHOT").is_err() {
        let _ = std::fs::remove_file(&screenshot);
    }
    drop(lb);
}
