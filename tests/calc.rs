//! The distributed calculator as a user meets it: real `distloop calc`
//! servers, the real balancer with least-load in front of them, and real
//! clients over loopback.

#[path = "support/balancer.rs"]
mod balancer;
#[path = "support/calc.rs"]
mod calc;
mod support;

use std::collections::HashMap;
use std::io::Write;
use std::net::{Shutdown, SocketAddr};
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use balancer::tcp_balancer;
use calc::{
    CalcServer, LineClient, agent_line, requests_of, start_calc_server, status_json, wait_until,
};
use support::{IO_TIMEOUT, SIGTERM, Server, distloop_bin};

/// How often the balancer asks the status ports in these tests.
const AGENT_INTERVAL: &str = "300ms";

fn least_load_balancer(servers: &[&CalcServer]) -> Server {
    let backends: Vec<String> = servers
        .iter()
        .map(|server| format!("{},agent={}", server.calculator, server.status.port()))
        .collect();
    tcp_balancer(
        &backends,
        &[
            "--strategy",
            "least-load",
            "--health-interval",
            AGENT_INTERVAL,
        ],
    )
}

#[test]
fn text_and_json_lines_are_answered_in_kind_on_one_connection() {
    let server = start_calc_server("calc0", &[]);
    let mut client = LineClient::connect(server.calculator);
    assert_eq!(client.ask("2 * (3 + 4)"), "14");
    assert_eq!(
        client.ask(r#"{"v1": 3, "op": "+", "v2": 4}"#),
        r#"{"status": "ok", "result": 7}"#
    );
    assert_eq!(client.ask("1/3 ; fraction"), "1/3");
    assert_eq!(client.ask("1/3"), "0.33333333333333333333");
    assert_eq!(client.ask("2 ^ 64"), "18446744073709551616");
    assert_eq!(
        client.ask(r#"{"v1": "2^64", "op": "*", "v2": 2}"#),
        r#"{"status": "ok", "result": 36893488147419103232}"#
    );
    assert_eq!(requests_of(server.status), 6);
}

#[test]
fn the_status_port_speaks_agent_check_and_http() {
    let server = start_calc_server("calc0", &[]);
    let line = agent_line(server.status);
    let words: Vec<&str> = line.split_whitespace().collect();
    assert!(line.ends_with('\n'), "{line:?}");
    assert_eq!(words.len(), 3, "{line:?}");
    assert_eq!(words[0], "up");
    let load: u8 = words[2].parse().expect("a bare load");
    assert_eq!(words[1], format!("{}%", (100 - load).max(1)));
    let status = status_json(server.status);
    assert_eq!(status["name"], "calc0");
    assert_eq!(status["burn"], 0);
    assert!(status["machine_load"].is_number());
    assert!(status["load"].as_u64().unwrap() <= 100);
}

#[test]
fn a_burning_server_reports_its_load() {
    let server = start_calc_server("hot", &["--burn", "100"]);
    assert!(
        wait_until(Duration::from_secs(15), || {
            status_json(server.status)["load"].as_u64().unwrap() >= 10
        }),
        "the burner never showed in the load"
    );
    let line = agent_line(server.status);
    let load: u64 = line.split_whitespace().nth(2).unwrap().parse().unwrap();
    assert!(load >= 5, "{line}");
}

#[test]
fn the_original_json_wire_goes_through_the_least_load_balancer() {
    let servers: Vec<CalcServer> = (0..3)
        .map(|i| start_calc_server(&format!("calc{i}"), &[]))
        .collect();
    let lb = least_load_balancer(&servers.iter().collect::<Vec<_>>());
    let clients: Vec<_> = (0..8)
        .map(|c| {
            let addr = lb.addr;
            thread::spawn(move || {
                for i in 0..10i64 {
                    // A new connection per request, as the original client does.
                    let mut client = LineClient::connect(addr);
                    let (v1, v2) = (c * 100 + i, i - 5);
                    let answer = client.ask(&format!(r#"{{"v1": {v1}, "op": "*", "v2": {v2}}}"#));
                    assert_eq!(
                        answer,
                        format!(r#"{{"status": "ok", "result": {}}}"#, v1 * v2)
                    );
                    let answer = client.ask(&format!(r#"{{"v1": {v1}, "op": "/", "v2": 0}}"#));
                    assert_eq!(
                        answer,
                        r#"{"status": "error", "message": "division by zero"}"#
                    );
                }
            })
        })
        .collect();
    for client in clients {
        client.join().expect("every answer was right");
    }
    let total: u64 = servers.iter().map(|s| requests_of(s.status)).sum();
    assert_eq!(total, 8 * 10 * 2, "every request reached a server once");
}

#[test]
fn a_busy_server_gets_fewer_requests_than_idle_ones() {
    let idle_a = start_calc_server("idle-a", &[]);
    let idle_b = start_calc_server("idle-b", &[]);
    let busy = start_calc_server("busy", &["--burn", "100"]);
    let load = |s: &CalcServer| status_json(s.status)["load"].as_u64().unwrap();
    assert!(
        wait_until(Duration::from_secs(15), || {
            let hot = load(&busy);
            hot >= 10 && hot > load(&idle_a) + 5 && hot > load(&idle_b) + 5
        }),
        "the busy server never looked busier than the idle ones"
    );
    let lb = least_load_balancer(&[&idle_a, &busy, &idle_b]);
    // Let the balancer hear every agent at least twice.
    thread::sleep(Duration::from_millis(1000));
    let total = 60;
    for i in 0..total {
        let mut client = LineClient::connect(lb.addr);
        assert_eq!(client.ask(&format!("{i} + 1")), (i + 1).to_string());
    }
    let counts: HashMap<&str, u64> = [("idle-a", &idle_a), ("idle-b", &idle_b), ("busy", &busy)]
        .into_iter()
        .map(|(name, server)| (name, requests_of(server.status)))
        .collect();
    assert_eq!(counts.values().sum::<u64>(), total, "{counts:?}");
    assert!(counts["busy"] < total / 3, "{counts:?}");
    assert!(
        counts["busy"] < counts["idle-a"].max(counts["idle-b"]),
        "{counts:?}"
    );
}

#[test]
fn bad_input_gets_an_error_or_a_clean_close_and_others_are_still_served() {
    let server = start_calc_server("calc0", &[]);
    let mut bystander = LineClient::connect(server.calculator);
    assert_eq!(bystander.ask("1 + 1"), "2");

    let mut garbage = LineClient::connect(server.calculator);
    garbage.send(b"\xff\xfe\x00\x01garbage\n");
    let answer = garbage.read_answer().unwrap();
    assert!(
        answer.starts_with("error: the line is not UTF-8"),
        "{answer}"
    );
    garbage.send(b"\x00\x00 + 3\n");
    assert!(garbage.read_answer().unwrap().starts_with("error: "));
    assert_eq!(garbage.ask("2 * 3"), "6", "the connection goes on");

    let mut huge = LineClient::connect(server.calculator);
    let writer = huge.stream().try_clone().unwrap();
    let sender = thread::spawn(move || {
        let mut writer = writer;
        let line = vec![b'7'; 10 * 1024 * 1024];
        writer.write_all(&line)?;
        writer.write_all(b"\n")
    });
    let answer = huge.read_answer().expect("an answer to the 10 MB line");
    assert!(answer.starts_with("error: the line is over"), "{answer}");
    sender
        .join()
        .unwrap()
        .expect("the server read the whole line");
    assert_eq!(
        huge.ask("7 - 2"),
        "5",
        "the connection goes on after the line"
    );

    let mut half = LineClient::connect(server.calculator);
    half.send(br#"{"v1": 3, "op":"#);
    half.stream().shutdown(Shutdown::Write).unwrap();
    let answer = half.read_answer().expect("an answer to the half object");
    let parsed: serde_json::Value = serde_json::from_str(&answer).expect("a JSON answer");
    assert_eq!(parsed["status"], "error", "{answer}");
    assert_eq!(half.read_answer(), None, "then a clean close");

    let mut zero = LineClient::connect(server.calculator);
    assert_eq!(
        zero.ask("4 / (2 - 2)"),
        "error: division by zero at column 3"
    );
    assert_eq!(
        zero.ask(r#"{"v1": 4, "op": "%", "v2": 0}"#),
        r#"{"status": "error", "message": "division by zero"}"#
    );

    assert_eq!(bystander.ask("10 ^ 3"), "1000");
    assert_eq!(LineClient::connect(server.calculator).ask("3 * 3"), "9");
}

#[test]
fn many_clients_at_once_each_get_their_own_answers() {
    let server = start_calc_server("calc0", &[]);
    let addr = server.calculator;
    let clients: Vec<_> = (0..16i64)
        .map(|c| {
            thread::spawn(move || {
                let mut client = LineClient::connect(addr);
                for i in 0..50 {
                    assert_eq!(
                        client.ask(&format!("{c} * 1000 + {i}")),
                        (c * 1000 + i).to_string()
                    );
                }
            })
        })
        .collect();
    for client in clients {
        client.join().unwrap();
    }
    assert_eq!(requests_of(server.status), 16 * 50);
}

fn run_client(server: SocketAddr, args: &[&str], stdin: &str) -> (Option<i32>, String) {
    let mut child = Command::new(distloop_bin())
        .args(["calc", "client", "--server", &server.to_string()])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the client");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    (
        output.status.code(),
        String::from_utf8(output.stdout).unwrap(),
    )
}

#[test]
fn the_client_prints_one_answer_per_line_and_fails_on_errors() {
    let server = start_calc_server("calc0", &[]);
    let addr = server.calculator;
    assert_eq!(
        run_client(addr, &["2 * (3 + 4)", "1/4"], ""),
        (Some(0), "14\n0.25\n".into())
    );
    assert_eq!(
        run_client(addr, &["1 + 1", "1 / 0"], ""),
        (Some(1), "2\nerror: division by zero at column 3\n".into())
    );
    assert_eq!(
        run_client(addr, &[], "1 + 2\n\n2 ^ 10\n"),
        (Some(0), "3\n1024\n".into())
    );
    assert_eq!(
        run_client(addr, &["--json", "3 + 4", "1 / 3", "--fraction"], ""),
        (
            Some(0),
            "{\"status\": \"ok\", \"result\": 7}\n{\"status\": \"ok\", \"result\": \"1/3\"}\n"
                .into()
        )
    );
    let (code, out) = run_client(addr, &["--json", "(1 + 2) * 3"], "");
    assert_eq!(code, Some(1));
    assert!(
        out.starts_with("error: the JSON wire takes one operation"),
        "{out}"
    );
}

#[test]
fn sigterm_stops_the_server_with_exit_code_0() {
    let mut server = start_calc_server("calc0", &[]);
    let mut idle = LineClient::connect(server.calculator);
    assert_eq!(idle.ask("1"), "1");
    server.process.signal(SIGTERM);
    assert_eq!(server.process.wait_exit(IO_TIMEOUT), Some(0));
    assert_eq!(idle.read_answer(), None, "open connections are closed");
}

#[test]
fn the_cluster_balances_over_its_servers_and_reports_where_requests_went() {
    let mut cluster = Server::start(
        distloop_bin(),
        &[
            "calc",
            "cluster",
            "--listen",
            "127.0.0.1:0",
            "--agent-interval",
            AGENT_INTERVAL,
        ],
    );
    for i in 0..20 {
        let mut client = LineClient::connect(cluster.addr);
        assert_eq!(client.ask(&format!("{i} * 2")), (i * 2).to_string());
    }
    // Reports come whenever the counts change; the last one counts all 20.
    let counted = |report: &str| -> u64 {
        report
            .split(", ")
            .filter_map(|part| part.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum()
    };
    let mut seen = Vec::new();
    while let Some(line) = cluster.next_line(Duration::from_secs(10)) {
        if line.contains("calc0") && line.contains("requests") {
            seen.push(line.clone());
            if counted(&line) == 20 {
                break;
            }
        }
    }
    assert!(
        seen.last().is_some_and(|line| counted(line) == 20),
        "no report counted the 20 requests: {seen:?}"
    );
    cluster.signal(SIGTERM);
    assert_eq!(cluster.wait_exit(IO_TIMEOUT), Some(0));
}
