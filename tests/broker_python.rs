//! Runs the Python client's tests (tests/python) against this build's broker.

mod support;

#[test]
fn python_client_tests_pass_against_the_rust_broker() {
    support::require_python_module(
        "python3",
        "paho.mqtt",
        "pip install paho-mqtt, or Debian package python3-paho-mqtt",
    );
    let root = env!("CARGO_MANIFEST_DIR");
    let status = support::tool("python3")
        .args(["-m", "unittest", "discover", "-s", "tests/python", "-v"])
        .current_dir(root)
        .env("DISTLOOP_BIN", env!("CARGO_BIN_EXE_distloop"))
        .status()
        .expect("python3 is installed");
    assert!(status.success(), "the Python client tests failed");
}
