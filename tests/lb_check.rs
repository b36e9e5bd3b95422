//! `distloop lb --check`: the configuration is checked without binding or
//! connecting, and every problem is listed with its file and line.

mod support;

use std::net::TcpListener;

use support::{run_distloop, temp_file};

/// Runs `distloop lb --check flags...`: exit code, stdout, stderr.
fn check(flags: &[&str]) -> (i32, String, String) {
    let mut args = vec!["lb", "--check"];
    args.extend_from_slice(flags);
    run_distloop(&args)
}

#[test]
fn a_valid_configuration_is_reported_so_without_binding_its_ports() {
    // Both addresses are taken: a balancer that bound them would fail.
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let admin = TcpListener::bind("127.0.0.1:0").unwrap();
    let path = temp_file(
        "lb-check-valid.toml",
        format!(
            "listen = \"{}\"\nadmin = \"{}\"\nstrategy = \"least-connections\"\n\
             [[backend]]\naddress = \"127.0.0.1:1\"\nname = \"a\"\n\
             [[backend]]\naddress = \"127.0.0.1:2\"\nname = \"b\"\n\
             [health]\ncheck = \"http:/health\"\n",
            taken.local_addr().unwrap(),
            admin.local_addr().unwrap()
        ),
    );
    let (code, stdout, stderr) = check(&["--config", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.trim(), "configuration is valid");
    let _ = std::fs::remove_file(path);
}

#[test]
fn each_problem_is_printed_with_file_and_line_and_the_exit_code_is_2() {
    let path = temp_file(
        "lb-check-invalid.toml",
        "listen = \"127.0.0.1:99999\"\n\
         response_timeout = \"2d\"\n\
         head_timeout = \"48h\"\n\
         [[backend]]\naddress = \"127.0.0.1:1\"\nname = \"a\"\n\
         [[backend]]\naddress = \"127.0.0.1:2\"\nname = \"a\"\n",
    );
    let file = path.to_str().unwrap();
    let (code, stdout, stderr) = check(&["--config", file]);
    assert_eq!(code, 2, "{stderr}");
    assert!(!stdout.contains("valid"), "{stdout}");
    let lines: Vec<&str> = stderr.lines().collect();
    for expected in [
        format!("{file}:1: listen"),
        format!("{file}:2: response_timeout"),
        format!("{file}:3: --head-timeout must be at most 24h"),
        format!("{file}:7: two backends are named `a`"),
    ] {
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(&format!("distloop lb: {expected}"))),
            "{expected} in {stderr}"
        );
    }
    assert_eq!(lines.len(), 4, "{stderr}");
    let _ = std::fs::remove_file(path);
}

#[test]
fn a_syntax_error_names_its_line() {
    let path = temp_file(
        "lb-check-syntax.toml",
        "listen = \"127.0.0.1:0\"\n[[backend]\n",
    );
    let file = path.to_str().unwrap();
    let (code, _, stderr) = check(&["--config", file]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.starts_with(&format!("distloop lb: {file}:2: ")),
        "{stderr}"
    );
    let _ = std::fs::remove_file(path);
}

#[test]
fn flags_alone_are_checked_too() {
    let (code, stdout, _) = check(&["--backend", "127.0.0.1:1"]);
    assert_eq!((code, stdout.trim()), (0, "configuration is valid"));
    let (code, _, stderr) = check(&["--backend", "127.0.0.1:1", "--workers", "0"]);
    assert_eq!(code, 2);
    assert_eq!(
        stderr.trim(),
        "distloop lb: command line: --workers must be 1 to 64"
    );
}
