//! `distloop backup cluster`: the original's setup in one process, a manager
//! and four storage servers in temporary folders, with the client commands
//! to try printed. Everything stops, and the folders go, on Ctrl-C.
//!
//! The `distloop backup` command line is put together here too: the
//! backup's own commands ([`crate::apps::backup::cli`]) and `cluster`.

use std::fs;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use clap::{Args, Subcommand};

use crate::apps::backup::cli::{self as backup, BackupCommand, DEFAULT_MANAGER};
use crate::apps::backup::manager::{Manager, ManagerConfig};
use crate::apps::backup::serve::Stopper;
use crate::apps::backup::server::{ServerConfig, StorageServer};
use crate::cli::parse_addr;

/// Heartbeats in the demonstration, quick enough to watch.
const DEMO_HEARTBEAT: Duration = Duration::from_secs(1);
/// Silence after which a demonstration server is dead.
const DEMO_DEAD_AFTER: Duration = Duration::from_secs(5);
/// How long the demonstration keeps unreferenced objects.
const DEMO_ORPHAN_GRACE: Duration = Duration::from_secs(30);
/// Scrubs in the demonstration.
const DEMO_SCRUB: Duration = Duration::from_secs(30);

/// Replicated file backup.
#[derive(Debug, Args)]
pub struct BackupArgs {
    #[command(subcommand)]
    command: BackupSubcommand,
}

#[derive(Debug, Subcommand)]
enum BackupSubcommand {
    #[command(flatten)]
    Backup(BackupCommand),
    /// A manager and 4 storage servers in temporary folders, for trying out.
    Cluster(ClusterArgs),
}

/// Flags of the demonstration cluster.
#[derive(Debug, Args)]
pub struct ClusterArgs {
    /// The manager's address.
    #[arg(long, default_value = DEFAULT_MANAGER, value_parser = parse_addr)]
    pub listen: SocketAddr,
    /// How many storage servers.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u8).range(1..=32))]
    pub servers: u8,
    /// Copies kept of every file.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=16))]
    pub replicas: u8,
}

/// Runs one `distloop backup` command.
pub fn run(args: BackupArgs) -> ExitCode {
    match args.command {
        BackupSubcommand::Backup(command) => backup::run(command),
        BackupSubcommand::Cluster(args) => backup::report(run_cluster(&args)),
    }
}

/// Runs the demonstration until SIGINT or SIGTERM.
pub fn run_cluster(args: &ClusterArgs) -> Result<(), String> {
    let root = std::env::temp_dir().join(format!("distloop-backup-{}", std::process::id()));
    fs::create_dir_all(&root).map_err(|e| format!("cannot create {}: {e}", root.display()))?;
    let result = run_in(args, &root);
    let _ = fs::remove_dir_all(&root);
    result
}

fn run_in(args: &ClusterArgs, root: &std::path::Path) -> Result<(), String> {
    let stopper = Stopper::default();
    stopper
        .on_signals()
        .map_err(|e| format!("cannot watch signals: {e}"))?;
    let manager = Manager::bind(
        args.listen,
        ManagerConfig {
            state: root.join("manager"),
            replicas: args.replicas as usize,
            dead_after: DEMO_DEAD_AFTER,
            orphan_grace: DEMO_ORPHAN_GRACE,
        },
    )?;
    let manager_addr = manager.local_addr().map_err(|e| e.to_string())?;
    println!("manager listening on {manager_addr}");
    let mut threads = Vec::new();
    {
        let stopper = stopper.clone();
        threads.push(thread::spawn(move || manager.run(&stopper)));
    }
    for n in 1..=args.servers {
        let dir = root.join(format!("server{n}"));
        let listen: SocketAddr = "127.0.0.1:0".parse().expect("a literal address");
        let server = StorageServer::bind(
            listen,
            ServerConfig {
                manager: manager_addr.to_string(),
                dir: dir.clone(),
                capacity: None,
                heartbeat_interval: DEMO_HEARTBEAT,
                scrub_interval: DEMO_SCRUB,
            },
        )?;
        let addr = server.local_addr().map_err(|e| e.to_string())?;
        println!("server {n} listening on {addr} (folder {})", dir.display());
        let stopper = stopper.clone();
        threads.push(thread::spawn(move || server.run(&stopper)));
    }
    let m = manager_addr;
    println!();
    println!("try, in another terminal:");
    println!("  distloop backup put --manager {m} README.md");
    println!("  distloop backup put --manager {m} -r docs");
    println!("  distloop backup ls --manager {m}");
    println!("  distloop backup get --manager {m} README.md -o /tmp/README.restored");
    println!("  distloop backup status --manager {m}");
    println!("  distloop backup rm --manager {m} README.md");
    println!("Ctrl-C stops the cluster and deletes its folders.");
    for thread in threads {
        let _ = thread.join();
    }
    Ok(())
}
