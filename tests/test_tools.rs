//! A test that needs a system tool says which one and how to get it when the
//! tool is missing, instead of failing deep inside with "No such file".

mod support;

fn panic_text(f: impl FnOnce() + std::panic::UnwindSafe) -> String {
    let payload = std::panic::catch_unwind(f).expect_err("the check fails");
    payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn a_missing_tool_is_named_with_its_package_and_the_script_that_installs_it() {
    let text = panic_text(|| support::require_tool("distloop-no-such-tool"));
    assert!(text.contains("`distloop-no-such-tool`"), "{text}");
    assert!(text.contains("scripts/test"), "{text}");
}

#[test]
fn a_known_tool_is_named_with_its_debian_package() {
    assert_eq!(
        support::debian_package_of("mosquitto_sub"),
        "mosquitto-clients"
    );
    assert_eq!(
        support::debian_package_of("chromedriver"),
        "chromium-driver"
    );
    let text = panic_text(|| support::require_tool("/nonexistent/chromedriver"));
    assert!(text.contains("`/nonexistent/chromedriver`"), "{text}");
}

#[test]
fn a_missing_python_module_is_named_with_how_to_get_it() {
    support::require_tool("python3");
    let text = panic_text(|| {
        support::require_python_module("python3", "distloop_no_such_module", "pip install it")
    });
    assert!(text.contains("`distloop_no_such_module`"), "{text}");
    assert!(text.contains("pip install it"), "{text}");
}

#[test]
fn an_installed_tool_passes_the_check() {
    support::require_tool("sh");
    assert!(
        support::tool("sh")
            .arg("-c")
            .arg("true")
            .status()
            .unwrap()
            .success()
    );
}
