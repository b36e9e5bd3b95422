//! The balancer's config file as an operator meets it: SIGHUP rereads it
//! (a broken file keeps the running config), a reload starts the checks it
//! asks for and lets requests in flight on removed backends finish, and a
//! bad file at start exits 2 naming file and line. The real binary on
//! loopback in front of real pi-backends.

#[path = "support/agent.rs"]
mod agent;
#[path = "support/balancer.rs"]
mod balancer;
#[path = "support/operations.rs"]
mod operations;
#[path = "support/pi.rs"]
mod pi;
mod support;

use std::io::Read;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use agent::Agent;
use balancer::{NO_BACKENDS, balancer_with_admin};
use operations::{
    INTERVAL, SETTLE, SLOW_PATH, admin, answers, try_get, wait_for, wait_for_active,
    wait_for_state, who,
};
use pi::start_backends;
use support::{SIGHUP, Server, dead_addr, distloop_bin, temp_path};

fn backend_table(server: &Server, name: &str) -> String {
    format!(
        "[[backend]]\naddress = \"{}\"\nname = \"{name}\"\n",
        server.addr
    )
}

#[test]
fn sighup_rereads_the_file_and_a_broken_file_keeps_the_running_config() {
    let backends = start_backends(&[&[], &[], &[]]);
    let path = temp_path("reload.toml");
    let two = format!(
        "strategy = \"round-robin\"\n{}{}",
        backend_table(&backends[0], "a"),
        backend_table(&backends[1], "b")
    );
    std::fs::write(&path, &two).unwrap();
    let config = path.to_str().unwrap();
    let (mut lb, _admin) = balancer_with_admin(&NO_BACKENDS, &["--config", config]);
    let first = answers(lb.addr, 6);
    assert!(first.iter().any(|b| b == "a") && first.iter().any(|b| b == "b"));
    assert!(!first.iter().any(|b| b == "c"), "{first:?}");

    let three = format!("{two}{}", backend_table(&backends[2], "c"));
    std::fs::write(&path, &three).unwrap();
    lb.signal(SIGHUP);
    wait_for("c to receive requests", SETTLE, || {
        who(lb.addr, "/50") == "c"
    });

    // Each broken file names only a: had it been taken, b and c would vanish.
    let broken = [
        format!("strategy = 42\n{}", backend_table(&backends[0], "a")),
        format!("colour = \"blue\"\n{}", backend_table(&backends[0], "a")),
    ];
    for text in broken {
        std::fs::write(&path, &text).unwrap();
        lb.signal(SIGHUP);
        thread::sleep(Duration::from_millis(500));
        assert_eq!(lb.child.try_wait().unwrap(), None, "still running");
        let seen = answers(lb.addr, 9);
        for name in ["a", "b", "c"] {
            assert!(seen.iter().any(|b| b == name), "{name} missing: {seen:?}");
        }
    }
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_bad_config_file_at_start_exits_2_naming_the_file_and_line() {
    let path = temp_path("bad.toml");
    std::fs::write(
        &path,
        "strategy = \"round-robin\"\n\n[[backend]]\naddress = \"127.0.0.1:9\"\nweight = \"heavy\"\n",
    )
    .unwrap();
    let mut child = Command::new(distloop_bin())
        .args(["lb", "--listen", "127.0.0.1:0", "--config"])
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + SETTLE;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("a bad file did not stop the balancer");
        }
        thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(2), "{stderr}");
    let located = format!("{}:5:", path.display());
    assert!(stderr.contains(&located), "{stderr}");
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_reload_starts_the_checks_it_asks_for_on_the_backends_it_adds() {
    let backends = start_backends(&[&[], &[], &[]]);
    let agent = Agent::start("drain");
    let dead = dead_addr();
    let path = temp_path("reload-checks.toml");
    let two = format!(
        "{}{}",
        backend_table(&backends[0], "a"),
        backend_table(&backends[1], "b")
    );
    std::fs::write(&path, &two).unwrap();
    let (lb, admin_addr) = balancer_with_admin(&NO_BACKENDS, &["--config", path.to_str().unwrap()]);
    assert_eq!(answers(lb.addr, 4).len(), 4);

    let more = format!(
        "{two}{}agent = {}\n[[backend]]\naddress = \"{dead}\"\nname = \"d\"\n\
         [health]\ncheck = \"http:/health\"\ninterval = \"{INTERVAL}\"\nfall = 1\n",
        backend_table(&backends[2], "c"),
        agent.port()
    );
    std::fs::write(&path, &more).unwrap();
    lb.signal(SIGHUP);
    wait_for_state(admin_addr, "c", "drain");
    wait_for_state(admin_addr, "d", "down");
    let seen = answers(lb.addr, 12);
    assert!(
        seen.iter().all(|b| b == "a" || b == "b"),
        "c drains and d is down: {seen:?}"
    );
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_reload_that_removes_backends_lets_a_request_in_flight_on_them_finish() {
    let backends = start_backends(&[&[], &[], &[]]);
    let path = temp_path("shrink.toml");
    let three = format!(
        "strategy = \"n-to-1\"\n{}{}{}",
        backend_table(&backends[2], "c"),
        backend_table(&backends[0], "a"),
        backend_table(&backends[1], "b")
    );
    std::fs::write(&path, &three).unwrap();
    let (mut lb, admin_addr) =
        balancer_with_admin(&NO_BACKENDS, &["--config", path.to_str().unwrap()]);
    // Drain c and a so that the slow request lands on b, the last backend.
    for name in ["c", "a"] {
        assert_eq!(
            admin(admin_addr, "POST", &format!("/backends/{name}/drain")).0,
            200
        );
        wait_for_state(admin_addr, name, "drain");
    }
    let addr = lb.addr;
    let slow = thread::spawn(move || try_get(addr, SLOW_PATH));
    wait_for_active(admin_addr, "b");
    // The new configuration has one backend, under a new name (a drain
    // survives a reload by name): b's old index no longer exists.
    std::fs::write(
        &path,
        format!(
            "strategy = \"n-to-1\"\n{}",
            backend_table(&backends[0], "d")
        ),
    )
    .unwrap();
    lb.signal(SIGHUP);
    let (status, backend) = slow.join().unwrap().expect("the slow request is answered");
    assert_eq!((status, backend.as_str()), (200, "b"));
    wait_for("the new backend to serve", SETTLE, || {
        try_get(lb.addr, "/10").is_ok_and(|(status, _)| status == 200)
    });
    assert_eq!(lb.child.try_wait().unwrap(), None, "still running");
    let _ = std::fs::remove_file(&path);
}
