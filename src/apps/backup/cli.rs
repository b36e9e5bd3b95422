//! `distloop backup ...`: the flags of the manager, the storage server and
//! the client commands, and the functions that run them. Results go to
//! stdout, logs and progress to stderr. (`distloop backup cluster`, the
//! demonstration, is composed above the services, in
//! `crate::cluster::backup`.)

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};

use super::client;
use super::manager::{Manager, ManagerConfig};
use super::name::{check_name, file_part};
use super::serve::Stopper;
use super::server::{ServerConfig, StorageServer};
use super::wire::Reply;
use crate::cli::{DURATION_HELP, parse_positive_duration};

/// The manager's usual address.
pub const DEFAULT_MANAGER: &str = "127.0.0.1:7000";

/// The backup's own subcommands of `distloop backup`.
#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Run the manager (catalogue, placement, re-replication).
    Manager(ManagerArgs),
    /// Run a storage server.
    Server(ServerArgs),
    /// Store files (a name again adds a version).
    Put(PutArgs),
    /// Restore a file.
    Get(GetArgs),
    /// List files: name, size, versions, live copies.
    Ls(LsArgs),
    /// Forget every version of a file.
    Rm(RmArgs),
    /// Servers up or down, free space, files held, files under-replicated.
    Status(ManagerAddr),
}

fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    text.to_socket_addrs()
        .map_err(|e| format!("cannot resolve {text:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("{text:?} resolves to no address"))
}

fn parse_name(text: &str) -> Result<String, String> {
    check_name(text).map_err(|e| e.to_string())?;
    Ok(text.to_string())
}

/// The manager's address, for client commands.
#[derive(Debug, Args)]
pub struct ManagerAddr {
    /// The manager's address.
    #[arg(long, default_value = DEFAULT_MANAGER)]
    manager: String,
}

/// The flags of `distloop backup manager`.
#[derive(Debug, Args)]
#[command(after_help = DURATION_HELP)]
pub struct ManagerArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = DEFAULT_MANAGER, value_parser = parse_addr)]
    listen: SocketAddr,
    /// Folder that keeps the catalogue.
    #[arg(long)]
    state: PathBuf,
    /// Copies kept of every file.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=16))]
    replicas: u8,
    /// Silence after which a server is dead.
    #[arg(long, default_value = "10s", value_name = "DURATION", value_parser = parse_positive_duration)]
    dead_after: Duration,
    /// How long an object no version refers to is kept (uploads not yet committed).
    #[arg(long, default_value = "60s", value_name = "DURATION", value_parser = parse_positive_duration)]
    orphan_grace: Duration,
}

/// The flags of `distloop backup server`.
#[derive(Debug, Args)]
#[command(after_help = DURATION_HELP)]
pub struct ServerArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, value_parser = parse_addr)]
    listen: SocketAddr,
    /// The manager's address.
    #[arg(long, default_value = DEFAULT_MANAGER)]
    manager: String,
    /// Folder for the stored objects.
    #[arg(long)]
    dir: PathBuf,
    /// Keep at most this many bytes (default: what the disk has free).
    #[arg(long)]
    capacity: Option<u64>,
    /// Time between heartbeats to the manager.
    #[arg(long, default_value = "1s", value_name = "DURATION", value_parser = parse_positive_duration)]
    heartbeat_interval: Duration,
    /// Time between two scrubs of every stored object.
    #[arg(long, default_value = "1h", value_name = "DURATION", value_parser = parse_positive_duration)]
    scrub_interval: Duration,
}

/// The flags of `distloop backup put`.
#[derive(Debug, Args)]
pub struct PutArgs {
    #[command(flatten)]
    manager: ManagerAddr,
    /// Upload this folder's tree; names keep their relative folders.
    #[arg(short = 'r', long = "recursive", value_name = "DIR")]
    tree: Option<PathBuf>,
    /// Store a single FILE under this name instead of its file name.
    #[arg(long = "as", value_name = "NAME", value_parser = parse_name)]
    name: Option<String>,
    /// Files to store, each under its file name.
    files: Vec<PathBuf>,
}

/// The flags of `distloop backup get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    #[command(flatten)]
    manager: ManagerAddr,
    /// The file's name.
    #[arg(value_parser = parse_name)]
    name: String,
    /// Where to write it (default: the name's last part, here).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// A version number (default: the latest).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    version: Option<u32>,
}

/// The flags of `distloop backup ls`.
#[derive(Debug, Args)]
pub struct LsArgs {
    #[command(flatten)]
    manager: ManagerAddr,
    /// Only names starting with this.
    #[arg(default_value = "")]
    prefix: String,
}

/// The flags of `distloop backup rm`.
#[derive(Debug, Args)]
pub struct RmArgs {
    #[command(flatten)]
    manager: ManagerAddr,
    /// The file's name.
    #[arg(value_parser = parse_name)]
    name: String,
}

/// Runs one `distloop backup` command.
pub fn run(command: BackupCommand) -> ExitCode {
    report(match command {
        BackupCommand::Manager(args) => run_manager(args),
        BackupCommand::Server(args) => run_server(args),
        BackupCommand::Put(args) => run_put(args),
        BackupCommand::Get(args) => run_get(args),
        BackupCommand::Ls(args) => run_ls(args),
        BackupCommand::Rm(args) => client::remove(&args.manager.manager, &args.name)
            .map(|()| println!("removed {}", args.name))
            .map_err(|e| e.to_string()),
        BackupCommand::Status(args) => run_status(args),
    })
}

/// The exit code of a command's result, its error shown as
/// `distloop backup: ERROR`.
pub fn report(result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("distloop backup: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_manager(args: ManagerArgs) -> Result<(), String> {
    let config = ManagerConfig {
        state: args.state,
        replicas: args.replicas as usize,
        dead_after: args.dead_after,
        orphan_grace: args.orphan_grace,
    };
    let manager = Manager::bind(args.listen, config)?;
    let addr = manager.local_addr().map_err(|e| e.to_string())?;
    let stopper = Stopper::default();
    stopper
        .on_signals()
        .map_err(|e| format!("cannot watch signals: {e}"))?;
    println!("listening on {addr}");
    manager.run(&stopper);
    Ok(())
}

fn run_server(args: ServerArgs) -> Result<(), String> {
    let config = ServerConfig {
        manager: args.manager,
        dir: args.dir,
        capacity: args.capacity,
        heartbeat_interval: args.heartbeat_interval,
        scrub_interval: args.scrub_interval,
    };
    let server = StorageServer::bind(args.listen, config)?;
    let addr = server.local_addr().map_err(|e| e.to_string())?;
    let stopper = Stopper::default();
    stopper
        .on_signals()
        .map_err(|e| format!("cannot watch signals: {e}"))?;
    println!("listening on {addr}");
    server.run(&stopper);
    Ok(())
}

fn run_put(args: PutArgs) -> Result<(), String> {
    let mut jobs: Vec<(PathBuf, String)> = Vec::new();
    if let Some(tree) = &args.tree {
        jobs.extend(client::tree_names(tree).map_err(|e| format!("{}: {e}", tree.display()))?);
    }
    if args.name.is_some() && args.files.len() != 1 {
        return Err("--as names exactly one FILE".into());
    }
    for file in &args.files {
        let name = match &args.name {
            Some(name) => name.clone(),
            None => file
                .file_name()
                .and_then(|n| n.to_str())
                .map(str::to_string)
                .ok_or_else(|| format!("{} has no UTF-8 file name", file.display()))?,
        };
        jobs.push((file.clone(), name));
    }
    if jobs.is_empty() {
        return Err("nothing to put: name FILEs or -r DIR".into());
    }
    for (path, name) in jobs {
        let outcome = client::put(&args.manager.manager, &path, &name)
            .map_err(|e| format!("put {}: {e}", path.display()))?;
        let place = if outcome.holders.is_empty() {
            "content already stored".to_string()
        } else {
            outcome.holders.join(", ")
        };
        println!("stored {name} version {} ({place})", outcome.version);
    }
    Ok(())
}

fn run_get(args: GetArgs) -> Result<(), String> {
    let out = args
        .output
        .unwrap_or_else(|| PathBuf::from(file_part(&args.name)));
    let outcome = client::get(&args.manager.manager, &args.name, args.version, &out)
        .map_err(|e| format!("get {}: {e}", args.name))?;
    println!(
        "restored {} version {} ({} bytes from {}) to {}",
        args.name,
        outcome.version,
        outcome.size,
        outcome.from,
        out.display()
    );
    Ok(())
}

fn run_ls(args: LsArgs) -> Result<(), String> {
    let files = client::list(&args.manager.manager, &args.prefix).map_err(|e| e.to_string())?;
    println!(
        "{:<40} {:>14} {:>8} {:>6}",
        "NAME", "SIZE", "VERSIONS", "COPIES"
    );
    for file in files {
        println!(
            "{:<40} {:>14} {:>8} {:>6}",
            file.name, file.size, file.versions, file.copies
        );
    }
    Ok(())
}

fn run_status(args: ManagerAddr) -> Result<(), String> {
    let Reply::Status {
        servers,
        replicas,
        files,
        under_replicated,
    } = client::status(&args.manager).map_err(|e| e.to_string())?
    else {
        return Err("the manager gave no status".into());
    };
    println!(
        "{:<24} {:>5} {:>16} {:>8}",
        "SERVER", "STATE", "FREE", "OBJECTS"
    );
    for server in servers {
        let state = if server.alive { "up" } else { "down" };
        println!(
            "{:<24} {:>5} {:>16} {:>8}",
            server.addr, state, server.free, server.held
        );
    }
    println!("files: {files}, replicas: {replicas}, under-replicated: {under_replicated}");
    Ok(())
}
