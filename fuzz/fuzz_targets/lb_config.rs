//! Feeds arbitrary text to the balancer's configuration file parser and to
//! the backend flag parser, and checks that nothing panics and that every
//! backend of a parsed file survives the trip through the flag syntax.
//!
//! `BackendSpec::from_str` resolves names it cannot parse as an address, so
//! only texts whose address part is a literal socket address reach it: a
//! fuzzer must not send DNS queries.
#![no_main]

use std::net::SocketAddr;

use distloop::lb::cli::config_file::ConfigFile;
use distloop::lb::BackendSpec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    backend_flag(text);
    backend_flag(&format!("127.0.0.1:80,{text}"));
    if let Ok(file) = ConfigFile::parse("fuzz.toml", text.to_string()) {
        for backend in &file.settings.backend {
            let flag = backend.get_ref().to_flag();
            if let Some(spec) = backend_flag(&flag) {
                assert_eq!(
                    spec.addr.to_string().parse::<SocketAddr>().ok(),
                    Some(spec.addr)
                );
            }
            let _ = file.error_at(backend.span(), "check");
        }
        let _ = file.value("listen", &file.settings.listen, |s| s.parse::<SocketAddr>());
    }
});

/// Parses `text` as a backend flag when its address part is literal.
fn backend_flag(text: &str) -> Option<BackendSpec> {
    let addr = text.split(',').next().unwrap_or("").trim();
    addr.parse::<SocketAddr>().ok()?;
    let spec = text.parse::<BackendSpec>().ok()?;
    assert!((1..=256).contains(&spec.weight));
    assert_ne!(spec.agent_port, Some(0));
    assert!(spec.max_conn.is_none_or(|n| (1..=1_000_000).contains(&n)));
    Some(spec)
}
