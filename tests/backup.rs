//! The replicated file backup over real processes: a manager and storage
//! servers on loopback, driven by the real client.

#[path = "support/backup.rs"]
mod backup;
mod support;

use std::fs;
use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use backup::{BackupCluster, locate, pattern, raw_exchange, sha256_hex};

/// How long re-replication may take past --dead-after in these tests.
const REPAIR_SLACK: Duration = Duration::from_secs(15);

fn write_file(cluster: &BackupCluster, name: &str, bytes: &[u8]) -> String {
    let path = cluster.root.join(name);
    fs::write(&path, bytes).unwrap();
    path.to_str().unwrap().to_string()
}

/// `ls` rows as (name, size, versions, copies).
fn ls_rows(cluster: &BackupCluster) -> Vec<(String, u64, u32, usize)> {
    cluster
        .ls()
        .lines()
        .skip(1)
        .map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            (
                cols[0].to_string(),
                cols[1].parse().unwrap(),
                cols[2].parse().unwrap(),
                cols[3].parse().unwrap(),
            )
        })
        .collect()
}

fn every_file_has(cluster: &BackupCluster, copies: usize) -> bool {
    ls_rows(cluster).iter().all(|row| row.3 == copies)
        && cluster.status().contains("under-replicated: 0")
}

#[test]
fn empty_small_and_200_mib_files_come_back_byte_for_byte() {
    let cluster = BackupCluster::start(3, 2, "10", "3600");
    let cases: [(&str, Vec<u8>); 3] = [
        ("empty", Vec::new()),
        ("small.txt", b"hello, backup\n".to_vec()),
        ("large.bin", pattern(200 << 20, 7)),
    ];
    for (name, bytes) in &cases {
        let path = write_file(&cluster, name, bytes);
        let out = cluster.ok(&["put", &path]);
        assert!(
            out.starts_with(&format!("stored {name} version 1 (")),
            "{out}"
        );
        assert_eq!(out.matches("127.0.0.1:").count(), 2, "two holders: {out}");
    }
    for (name, bytes) in &cases {
        let restored = cluster.root.join(format!("{name}.restored"));
        cluster.ok(&["get", name, "-o", restored.to_str().unwrap()]);
        assert!(fs::read(&restored).unwrap() == *bytes, "{name} differs");
        assert!(
            !cluster
                .root
                .join(format!("{name}.restored.partial"))
                .exists()
        );
    }
    let rows = ls_rows(&cluster);
    assert_eq!(rows.len(), 3);
    assert!(rows.contains(&("large.bin".into(), 200 << 20, 1, 2)));
    assert!(rows.contains(&("empty".into(), 0, 1, 2)));
}

#[test]
fn putting_a_name_again_adds_a_version_and_get_can_ask_for_any() {
    let cluster = BackupCluster::start(3, 2, "10", "3600");
    let first = write_file(&cluster, "one", b"first version");
    let second = write_file(&cluster, "two", b"the second version");
    assert!(
        cluster
            .ok(&["put", &first, "--as", "notes/a.txt"])
            .contains("version 1")
    );
    assert!(
        cluster
            .ok(&["put", &second, "--as", "notes/a.txt"])
            .contains("version 2")
    );
    assert_eq!(ls_rows(&cluster), [("notes/a.txt".into(), 18, 2, 2)]);
    let out = cluster.root.join("out");
    let out_s = out.to_str().unwrap();
    cluster.ok(&["get", "notes/a.txt", "-o", out_s]);
    assert_eq!(fs::read(&out).unwrap(), b"the second version");
    cluster.ok(&["get", "notes/a.txt", "-o", out_s, "--version", "1"]);
    assert_eq!(fs::read(&out).unwrap(), b"first version");
    let missing = cluster.client(&["get", "notes/a.txt", "-o", out_s, "--version", "3"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no version 3"));
    // The same bytes under another name are kept once: R copies in all.
    cluster.ok(&["put", &first, "--as", "copy"]);
    let first_sha = sha256_hex(std::path::Path::new(&first));
    cluster.wait_until("one set of copies", REPAIR_SLACK, |c| {
        c.copies_of(&first_sha).len() == 2
    });
    cluster.ok(&["rm", "notes/a.txt"]);
    assert_eq!(ls_rows(&cluster), [("copy".into(), 13, 1, 2)]);
    let second_sha = sha256_hex(std::path::Path::new(&second));
    cluster.wait_until(
        "the removed version's copies are deleted",
        REPAIR_SLACK,
        |c| c.copies_of(&second_sha).is_empty(),
    );
}

#[test]
fn a_tree_keeps_its_relative_names() {
    let cluster = BackupCluster::start(2, 2, "10", "3600");
    let docs = cluster.root.join("docs");
    fs::create_dir_all(docs.join("sub")).unwrap();
    fs::write(docs.join("a.txt"), b"a").unwrap();
    fs::write(docs.join("sub/b.txt"), b"bb").unwrap();
    cluster.ok(&["put", "-r", docs.to_str().unwrap()]);
    let names: Vec<String> = ls_rows(&cluster).into_iter().map(|r| r.0).collect();
    assert_eq!(names, ["docs/a.txt", "docs/sub/b.txt"]);
    let only_sub: Vec<String> = cluster
        .ok(&["ls", "docs/sub/"])
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect();
    assert_eq!(only_sub, ["docs/sub/b.txt"]);
}

#[test]
fn a_killed_server_s_files_are_readable_and_copied_again_within_dead_after() {
    let mut cluster = BackupCluster::start(4, 2, "2", "3600");
    let mut files = Vec::new();
    for i in 0..6 {
        let bytes = pattern(100_000 + i * 1000, i as u64);
        let path = write_file(&cluster, &format!("f{i}"), &bytes);
        cluster.ok(&["put", &path]);
        files.push((format!("f{i}"), bytes));
    }
    let victim_addr = locate(cluster.manager_addr(), "f0")["copies"][0]
        .as_str()
        .unwrap()
        .to_string();
    let victim = cluster.server_at(&victim_addr);
    cluster.servers[victim].process.child.kill().unwrap(); // SIGKILL
    let _ = cluster.servers[victim].process.child.wait();
    // Reads work at once: the dead copy is skipped for the next.
    for (name, bytes) in &files {
        let out = cluster.root.join(format!("{name}.out"));
        cluster.ok(&["get", name, "-o", out.to_str().unwrap()]);
        assert!(fs::read(&out).unwrap() == *bytes, "{name} differs");
    }
    cluster.wait_until("the killed server counts as dead", REPAIR_SLACK, |c| {
        c.status().contains(" down ")
    });
    cluster.wait_until(
        "every file has 2 live copies again",
        Duration::from_secs(2) + REPAIR_SLACK,
        |c| every_file_has(c, 2),
    );
    for (name, _) in &files {
        let sha = locate(cluster.manager_addr(), name)["sha256"]
            .as_str()
            .unwrap()
            .to_string();
        let live = cluster
            .copies_of(&sha)
            .into_iter()
            .filter(|(i, _)| *i != victim)
            .count();
        assert_eq!(live, 2, "{name} on the live servers' disks");
    }
    // The dead server comes back with its old copies: the extras are trimmed.
    cluster.restart_server(victim);
    cluster.wait_until("the server is back", REPAIR_SLACK, |c| {
        !c.status().contains(" down ")
    });
    cluster.wait_until(
        "every content has exactly 2 copies on disk",
        REPAIR_SLACK,
        |c| {
            files.iter().all(|(name, _)| {
                let sha = locate(c.manager_addr(), name)["sha256"]
                    .as_str()
                    .unwrap()
                    .to_string();
                c.copies_of(&sha).len() == 2
            })
        },
    );
    assert!(every_file_has(&cluster, 2));
}

#[test]
fn a_flipped_byte_is_skipped_by_get_and_repaired_by_the_scrub() {
    let cluster = BackupCluster::start(3, 2, "10", "1");
    let bytes = pattern(300_000, 42);
    let path = write_file(&cluster, "precious", &bytes);
    cluster.ok(&["put", &path]);
    let location = locate(cluster.manager_addr(), "precious");
    let sha = location["sha256"].as_str().unwrap().to_string();
    let first = cluster.server_at(location["copies"][0].as_str().unwrap());
    let object = cluster.servers[first].dir.join("objects").join(&sha);
    let mut damaged = fs::read(&object).unwrap();
    damaged[1234] ^= 0x01;
    fs::write(&object, &damaged).unwrap();
    let out = cluster.root.join("precious.out");
    cluster.ok(&["get", "precious", "-o", out.to_str().unwrap()]);
    assert!(
        fs::read(&out).unwrap() == bytes,
        "get returned the damaged bytes"
    );
    cluster.wait_until(
        "the scrub found it and a good copy replaced it",
        REPAIR_SLACK,
        |c| {
            let copies = c.copies_of(&sha);
            copies.len() == 2 && copies.iter().all(|(_, b)| *b == bytes)
        },
    );
    cluster.wait_until("the manager counts 2 copies", REPAIR_SLACK, |c| {
        every_file_has(c, 2)
    });
}

#[test]
fn the_catalogue_survives_a_manager_restart() {
    let mut cluster = BackupCluster::start(2, 2, "10", "3600");
    for (name, bytes) in [("a", &b"alpha"[..]), ("b/c", &b"charlie"[..])] {
        let path = write_file(&cluster, "tmp", bytes);
        cluster.ok(&["put", &path, "--as", name]);
    }
    let path = write_file(&cluster, "tmp", b"alpha 2");
    cluster.ok(&["put", &path, "--as", "a"]);
    let before = cluster.ls();
    cluster.restart_manager();
    cluster.wait_until("ls is as before the restart", REPAIR_SLACK, |c| {
        c.ls() == before
    });
    let out = cluster.root.join("c.out");
    cluster.ok(&["get", "b/c", "-o", out.to_str().unwrap()]);
    assert_eq!(fs::read(&out).unwrap(), b"charlie");
}

#[test]
fn traversal_nul_and_overlong_names_are_refused_on_both_sides() {
    let cluster = BackupCluster::start(1, 1, "10", "3600");
    let path = write_file(&cluster, "f", b"x");
    for bad in ["../escape", "/etc/passwd", "a/../../b"] {
        let output = cluster.client(&["put", &path, "--as", bad]);
        assert_eq!(output.status.code(), Some(2), "{bad}");
        let output = cluster.client(&["get", bad]);
        assert_eq!(output.status.code(), Some(2), "{bad}");
    }
    let sha = sha256_hex(std::path::Path::new(&path));
    let long = "a".repeat(5000);
    for bad in ["../../etc/passwd", "/abs", "nul\u{0}byte", long.as_str()] {
        let request = serde_json::json!({"op": "place", "name": bad, "size": 1});
        let reply = raw_exchange(cluster.manager_addr(), format!("{request}\n").as_bytes());
        assert!(reply.contains("\"reply\":\"error\""), "{bad}: {reply}");
        let commit = serde_json::json!({"op": "commit", "name": bad, "size": 1, "sha256": sha, "holders": []});
        let reply = raw_exchange(cluster.manager_addr(), format!("{commit}\n").as_bytes());
        assert!(reply.contains("\"reply\":\"error\""), "{bad}: {reply}");
    }
    // A hash that is a path is refused by the storage server too.
    let server = cluster.servers[0].process.addr;
    let reply = raw_exchange(
        server,
        b"{\"op\":\"fetch\",\"sha256\":\"../../etc/passwd\"}\n",
    );
    assert!(reply.contains("not a lowercase hex SHA-256"), "{reply}");
    assert!(cluster.ls().lines().count() == 1, "nothing was stored");
}

#[test]
fn garbage_on_any_port_gets_an_error_and_everyone_else_is_served() {
    let cluster = BackupCluster::start(2, 2, "10", "3600");
    let ports = [
        cluster.manager_addr(),
        cluster.servers[0].process.addr,
        cluster.servers[1].process.addr,
    ];
    for addr in ports {
        let reply = raw_exchange(addr, b"\x16\x03\x01\x00garbage\xff\n");
        assert!(reply.contains("\"reply\":\"error\""), "{addr}: {reply}");
        let reply = raw_exchange(addr, b"{\"op\":\"launch_missiles\"}\n");
        assert!(reply.contains("bad request"), "{addr}: {reply}");
        // A head that never ends is cut off at the limit.
        let mut stream = TcpStream::connect(addr).unwrap();
        let junk = vec![b'x'; 1 << 20];
        for _ in 0..9 {
            if stream.write_all(&junk).is_err() {
                break;
            }
        }
    }
    let path = write_file(&cluster, "f", b"still served");
    cluster.ok(&["put", &path]);
    let out = cluster.root.join("f.out");
    cluster.ok(&["get", "f", "-o", out.to_str().unwrap()]);
    assert_eq!(fs::read(&out).unwrap(), b"still served");
}

#[test]
fn a_full_server_refuses_and_keeps_nothing_partial() {
    let mut cluster = BackupCluster::start(0, 1, "10", "3600");
    cluster.add_server(Some(10_000));
    cluster.wait_until("the server is up", REPAIR_SLACK, |c| {
        c.status().contains(" up ")
    });
    let path = write_file(&cluster, "big", &pattern(50_000, 1));
    let output = cluster.client(&["put", &path]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("room") || stderr.contains("disk full"),
        "{stderr}"
    );
    // Straight to the server, past the manager's placement: disk full too.
    let request = serde_json::json!({"op": "store", "size": 50_000, "forward": []});
    let reply = raw_exchange(
        cluster.servers[0].process.addr,
        format!("{request}\n").as_bytes(),
    );
    assert!(reply.contains("disk full"), "{reply}");
    let dir = &cluster.servers[0].dir;
    assert_eq!(fs::read_dir(dir.join("objects")).unwrap().count(), 0);
    assert_eq!(fs::read_dir(dir.join("tmp")).unwrap().count(), 0);
    let small = write_file(&cluster, "small", b"fits");
    cluster.ok(&["put", &small]);
}

#[test]
fn a_client_that_disconnects_mid_upload_leaves_nothing_behind() {
    let cluster = BackupCluster::start(2, 2, "10", "3600");
    let server = cluster.servers[0].process.addr;
    let forward = cluster.servers[1].process.addr.to_string();
    let request = serde_json::json!({"op": "store", "size": 10_000_000, "forward": [forward]});
    let mut stream = TcpStream::connect(server).unwrap();
    stream.write_all(format!("{request}\n").as_bytes()).unwrap();
    stream.write_all(&vec![7u8; 1_000_000]).unwrap();
    drop(stream);
    cluster.wait_until("both temporary files are gone", REPAIR_SLACK, |c| {
        c.servers.iter().all(|s| {
            fs::read_dir(s.dir.join("tmp")).unwrap().count() == 0
                && fs::read_dir(s.dir.join("objects")).unwrap().count() == 0
        })
    });
    let path = write_file(&cluster, "f", b"after the cut");
    cluster.ok(&["put", &path]);
}

#[test]
fn sigterm_stops_a_storage_server_with_exit_0() {
    let mut cluster = BackupCluster::start(1, 1, "10", "3600");
    cluster.servers[0].process.signal(support::SIGTERM);
    assert_eq!(
        cluster.servers[0]
            .process
            .wait_exit(Duration::from_secs(15)),
        Some(0)
    );
}

#[test]
fn get_skips_a_copy_whose_checksum_is_wrong_for_the_next() {
    let cluster = BackupCluster::start(2, 2, "10", "3600");
    let bytes = pattern(70_000, 3);
    let path = write_file(&cluster, "doc", &bytes);
    cluster.ok(&["put", &path]);
    let location = locate(cluster.manager_addr(), "doc");
    let sha = location["sha256"].as_str().unwrap().to_string();
    let first = location["copies"][0].as_str().unwrap().to_string();
    let second = location["copies"][1].as_str().unwrap().to_string();
    let object = cluster.servers[cluster.server_at(&first)]
        .dir
        .join("objects")
        .join(&sha);
    let mut damaged = fs::read(&object).unwrap();
    damaged[0] ^= 0x80;
    fs::write(&object, &damaged).unwrap();
    let out = cluster.root.join("doc.out");
    let output = cluster.client(&["get", "doc", "-o", out.to_str().unwrap()]);
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stdout.contains(&format!("from {second}")), "{stdout}");
    assert!(stderr.contains("checksum mismatch"), "{stderr}");
    assert!(fs::read(&out).unwrap() == bytes);
}

#[test]
fn puts_right_after_a_server_dies_go_to_the_others_before_the_manager_knows() {
    // The manager takes a server for dead only after a minute: until then
    // it may still place it first, and the client must go around it.
    let mut cluster = BackupCluster::start(3, 2, "60", "3600");
    let victim = 0;
    cluster.servers[victim].process.child.kill().unwrap(); // SIGKILL
    let _ = cluster.servers[victim].process.child.wait();
    for i in 0..6 {
        let bytes = pattern(50_000 + i * 1000, 100 + i as u64);
        let path = write_file(&cluster, &format!("after{i}"), &bytes);
        cluster.ok(&["put", &path]);
        let out = cluster.root.join(format!("after{i}.out"));
        cluster.ok(&["get", &format!("after{i}"), "-o", out.to_str().unwrap()]);
        assert!(fs::read(&out).unwrap() == bytes, "after{i} differs");
    }
    assert!(
        cluster.status().contains(" up "),
        "the manager still thinks it up"
    );
}
