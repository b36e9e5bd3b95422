//! The `broker-bench` binary end to end: saturation and open-loop runs
//! against the in-process distloop broker, mosquitto and nats-server over
//! loopback, and its command-line errors. Short runs; no timing asserted.

mod support;

use support::{Broker, bench, figure, mosquitto, nats_server};

fn stdout_of(args: &[&str]) -> String {
    let out = bench(args);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "broker-bench {args:?} failed: {}{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// Every message published reached every subscriber.
fn assert_all_delivered(text: &str, subscribers: f64) {
    let line = text
        .lines()
        .find(|l| l.starts_with("published "))
        .expect("a published line");
    let published = figure(line, "published ").unwrap();
    assert!(published > 0.0, "{text}");
    assert_eq!(
        figure(line, " delivered "),
        Some(published * subscribers),
        "{text}"
    );
    assert_eq!(figure(line, "undelivered "), Some(0.0), "{text}");
    assert_eq!(
        figure(line, "subscribers disconnected "),
        Some(0.0),
        "{text}"
    );
}

#[test]
fn a_saturation_run_delivers_everything_and_reports_backlog_not_latency() {
    let text = stdout_of(&["--subscribers", "3", "--duration", "300ms"]);
    assert!(
        text.contains("mode saturation: publishers pause above 200000"),
        "{text}"
    );
    assert!(
        text.contains("backlog wait ms (at saturation, not latency)"),
        "{text}"
    );
    assert!(!text.contains("latency ms from scheduled send"), "{text}");
    // How many arrive inside the short window depends on the machine's load;
    // that a rate is reported, and everything arrives by the end, does not.
    assert!(figure(&text, "messages: ").is_some(), "{text}");
    assert_all_delivered(&text, 3.0);
}

#[test]
fn an_open_loop_run_times_messages_from_their_scheduled_send() {
    let text = stdout_of(&[
        "--subscribers",
        "2",
        "--duration",
        "500ms",
        "--rate",
        "2000",
    ]);
    assert!(
        text.contains("mode open loop: 2000 messages/s scheduled"),
        "{text}"
    );
    assert!(
        text.contains("latency ms from scheduled send: p50 "),
        "{text}"
    );
    assert_all_delivered(&text, 2.0);
    // Only messages scheduled inside the window are timed, all of them.
    let samples = figure(&text, " samples ").unwrap();
    let published = figure(&text, "\npublished ").unwrap();
    assert!(samples > 0.0 && samples <= published * 2.0, "{text}");
}

/// Runs the bench against `broker` through `target`, saturated and at a
/// fixed rate, and checks each run reports the broker's CPU use and lost nothing.
fn measure_with_cpu_use(target: &str, broker: &Broker) {
    let addr = broker.addr.to_string();
    let pid = broker.pid().to_string();
    for extra in [&[][..], &["--rate", "1000"][..]] {
        let mut args = vec!["--target", target, "--addr", &addr, "--broker-pid", &pid];
        args.extend_from_slice(&["--subscribers", "2", "--duration", "300ms"]);
        args.extend_from_slice(extra);
        let text = stdout_of(&args);
        assert!(figure(&text, "broker ").is_some(), "{text}");
        assert_all_delivered(&text, 2.0);
    }
}

#[test]
fn mosquitto_is_measured_through_mqtt_with_its_cpu_use() {
    measure_with_cpu_use("mqtt", &mosquitto());
}

#[test]
fn nats_server_is_measured_through_nats_with_its_cpu_use() {
    measure_with_cpu_use("nats", &nats_server());
}

#[test]
fn bad_flags_get_one_line_and_exit_code_two() {
    for args in [
        &["--publishers", "0"][..],
        &["--rate", "0"],
        &["--duration", "0s"],
        &["--target", "nats"],
        &["--duration", "soon"],
    ] {
        let out = bench(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.trim().is_empty(), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    let err = String::from_utf8_lossy(&bench(&["--target", "mqtt"]).stderr).into_owned();
    assert_eq!(err.trim(), "broker-bench: --target Mqtt needs --addr");
}
