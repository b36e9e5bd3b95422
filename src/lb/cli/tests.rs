//! Unit tests of `distloop lb`'s command line: flags parsed, merged with a
//! config file (flags win) and validated into an `LbConfig`.

use super::*;
use crate::lb::config;
use clap::Parser;

#[derive(Parser)]
struct Wrapper {
    #[command(flatten)]
    lb: LbArgs,
}

/// `flags` parsed as `distloop lb`'s command line (also used by `check`'s tests).
pub(super) fn args(flags: &[&str]) -> LbArgs {
    let mut all = vec!["lb"];
    all.extend_from_slice(flags);
    Wrapper::parse_from(all).lb
}

#[test]
fn defaults_match_the_named_limits() {
    let cfg = args(&["--backend", "127.0.0.1:1"]).resolve().unwrap();
    assert_eq!(cfg.connect_timeout, config::DEFAULT_CONNECT_TIMEOUT);
    assert_eq!(cfg.idle_timeout, config::DEFAULT_IDLE_TIMEOUT);
    assert_eq!(cfg.backoff, crate::lb::backend_set::DEFAULT_BACKOFF);
    assert_eq!(cfg.drain_timeout, config::DEFAULT_DRAIN_TIMEOUT);
    assert_eq!(cfg.strategy, Strategy::RoundRobin);
    assert_eq!(cfg.hash_on, HashOn::ClientIp);
    assert_eq!(cfg.mode, Mode::Http);
    assert_eq!(cfg.head_timeout, config::DEFAULT_HEAD_TIMEOUT);
    assert_eq!(cfg.response_timeout, config::DEFAULT_RESPONSE_TIMEOUT);
    assert_eq!(cfg.pool_idle_timeout, config::DEFAULT_POOL_IDLE_TIMEOUT);
    assert_eq!(cfg.workers, 1);
    assert_eq!(cfg.health.check, None);
}

#[test]
fn hash_on_uri_reaches_the_config() {
    let cfg = args(&["--backend", "127.0.0.1:1", "--hash-on", "uri"])
        .resolve()
        .unwrap();
    assert_eq!(cfg.hash_on, HashOn::Uri);
}

#[test]
fn original_strategy_names_parse_on_the_command_line() {
    let a = args(&[
        "--backend",
        "127.0.0.1:1",
        "--strategy",
        "LeastResponseTime",
    ]);
    assert_eq!(a.strategy, Some(Strategy::LeastResponseTime));
}

fn write_file(name: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("distloop-{}-{name}.toml", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn the_file_fills_in_and_flags_win() {
    let path = write_file(
        "merge",
        "strategy = \"least-connections\"\nconnect_timeout = \"5s\"\nworkers = 2\n\
         [[backend]]\naddress = \"127.0.0.1:5000\"\nname = \"a\"\nweight = 3\n\
         [health]\ncheck = \"http:/health\"\ninterval = \"500ms\"\n",
    );
    let mut a = args(&["--connect-timeout", "1s"]);
    a.config = Some(path.clone());
    let cfg = a.resolve().unwrap();
    assert_eq!(cfg.strategy, Strategy::LeastConnections);
    assert_eq!(cfg.connect_timeout, Duration::from_secs(1), "the flag wins");
    assert_eq!(cfg.workers, 2);
    assert_eq!(cfg.backends[0].name, "a");
    assert_eq!(cfg.backends[0].weight, 3);
    assert_eq!(
        cfg.health.check,
        Some(CheckKind::Http {
            path: "/health".into()
        })
    );
    assert_eq!(
        cfg.health.timeout,
        Duration::from_millis(500),
        "defaults to the interval"
    );
    let _ = std::fs::remove_file(path);
}

#[test]
fn duration_keys_take_plain_numbers_of_seconds_as_flags_do() {
    let path = write_file(
        "numbers",
        "connect_timeout = 5\nidle_timeout = 0.5\nqueue_timeout = \"250ms\"\n\
         [[backend]]\naddress = \"127.0.0.1:5000\"\n\
         [health]\ncheck = \"tcp\"\ninterval = 2\ntimeout = \"1\"\n",
    );
    let mut a = args(&[]);
    a.config = Some(path.clone());
    let cfg = a.resolve().unwrap();
    assert_eq!(cfg.connect_timeout, Duration::from_secs(5));
    assert_eq!(cfg.idle_timeout, Duration::from_millis(500));
    assert_eq!(cfg.queue_timeout, Duration::from_millis(250));
    assert_eq!(cfg.health.interval, Duration::from_secs(2));
    assert_eq!(cfg.health.timeout, Duration::from_secs(1));
    let _ = std::fs::remove_file(path);
}

#[test]
fn a_negative_number_for_a_duration_key_is_refused_with_its_line() {
    let path = write_file("negative", "\nbackoff = -1\n");
    let mut a = args(&["--backend", "127.0.0.1:1"]);
    a.config = Some(path.clone());
    let err = a.resolve().unwrap_err().to_string();
    assert!(err.contains(":2: backoff"), "{err}");
    let _ = std::fs::remove_file(path);
}

#[test]
fn a_bad_file_is_refused_with_line_and_reason() {
    let path = write_file(
        "bad",
        "strategy = \"round-robin\"\nconnect_timeout = \"soon\"\n",
    );
    let mut a = args(&["--backend", "127.0.0.1:1"]);
    a.config = Some(path.clone());
    let err = a.resolve().unwrap_err();
    assert!(err.contains(":2: connect_timeout"), "{err}");
    let _ = std::fs::remove_file(path);
}

#[test]
fn duplicate_backend_names_are_refused() {
    let err = args(&[
        "--backend",
        "127.0.0.1:1,name=a",
        "--backend",
        "127.0.0.1:2,name=a",
    ])
    .resolve()
    .unwrap_err();
    assert!(err.contains("named `a`"), "{err}");
}

#[test]
fn a_drain_timeout_over_the_longest_is_refused() {
    let err = args(&["--backend", "127.0.0.1:1", "--drain-timeout", "25h"])
        .resolve()
        .unwrap_err();
    assert!(err.contains("--drain-timeout"), "{err}");
    let longest = format!("{}s", config::MAX_DRAIN_TIMEOUT.as_secs());
    let cfg = args(&["--backend", "127.0.0.1:1", "--drain-timeout", &longest])
        .resolve()
        .unwrap();
    assert_eq!(cfg.drain_timeout, config::MAX_DRAIN_TIMEOUT);
}

#[test]
fn tls_certificates_and_keys_come_in_pairs() {
    let err = args(&["--backend", "127.0.0.1:9", "--tls-cert", "a.pem"])
        .resolve()
        .unwrap_err();
    assert!(
        err.contains("--tls-cert given 1 time(s) but --tls-key 0"),
        "{err}"
    );
}

#[test]
fn a_missing_file_of_a_tls_table_is_named_with_its_line() {
    let path = write_file(
        "tls",
        "mode = \"tcp\"\n\n[[tls]]\ncert = \"/nonexistent/a.pem\"\nkey = \"a.key\"\n",
    );
    let err = args(&[
        "--backend",
        "127.0.0.1:9",
        "--config",
        path.to_str().unwrap(),
    ])
    .resolve()
    .unwrap_err();
    assert!(
        err.contains("tls.toml:3: tls: /nonexistent/a.pem:"),
        "{err}"
    );
}

#[test]
fn no_certificate_means_no_tls() {
    let cfg = args(&["--backend", "127.0.0.1:9"]).resolve().unwrap();
    assert!(cfg.tls.is_none());
}
