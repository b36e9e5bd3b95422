//! Runs the Python client's tests (tests/python) against this build's broker.

use std::process::Command;

#[test]
fn python_client_tests_pass_against_the_rust_broker() {
    let root = env!("CARGO_MANIFEST_DIR");
    let status = Command::new("python3")
        .args(["-m", "unittest", "discover", "-s", "tests/python", "-v"])
        .current_dir(root)
        .env("DISTLOOP_BIN", env!("CARGO_BIN_EXE_distloop"))
        .status()
        .expect("python3 is installed");
    assert!(status.success(), "the Python client tests failed");
}
