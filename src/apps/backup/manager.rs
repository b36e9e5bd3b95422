//! The backup manager process: it keeps the catalogue (persisted in
//! `--state` before any reply says done), hears the storage servers'
//! heartbeats, places new content, and hands out re-replication work in the
//! heartbeat replies. The decisions live in [`Catalogue`], [`ServerTable`]
//! and [`RepairPlanner`]; this file only turns requests into calls on them.

use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::catalogue::Catalogue;
use super::name::check_name;
use super::repair::RepairPlanner;
use super::serve::{Stopper, accept_request, serve};
use super::servers::ServerTable;
use super::wire::{FileEntry, Reply, Request, is_sha256_hex};
use crate::{debug, info};

/// How the manager runs.
#[derive(Debug, Clone)]
pub struct ManagerConfig {
    /// Where the catalogue is kept.
    pub state: PathBuf,
    /// Copies kept of every content.
    pub replicas: usize,
    /// A server silent this long is dead.
    pub dead_after: Duration,
    /// An object no version refers to is deleted once reported this long
    /// (an upload in progress is stored before it is committed).
    pub orphan_grace: Duration,
}

struct ManagerState {
    catalogue: Catalogue,
    servers: ServerTable,
    planner: RepairPlanner,
}

/// A bound manager, ready to run.
pub struct Manager {
    listener: TcpListener,
    config: ManagerConfig,
    state: Arc<Mutex<ManagerState>>,
}

impl Manager {
    /// Loads the catalogue from `config.state` and binds `listen`.
    pub fn bind(listen: SocketAddr, config: ManagerConfig) -> Result<Manager, String> {
        std::fs::create_dir_all(&config.state)
            .map_err(|e| format!("cannot create {}: {e}", config.state.display()))?;
        let catalogue = Catalogue::load(&config.state)
            .map_err(|e| format!("cannot load the catalogue: {e}"))?;
        let listener =
            TcpListener::bind(listen).map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        info!(
            "backup manager: {} names in the catalogue, {} replicas, dead after {:?}",
            catalogue.len(),
            config.replicas,
            config.dead_after
        );
        let state = ManagerState {
            catalogue,
            servers: ServerTable::new(config.dead_after),
            planner: RepairPlanner::new(config.orphan_grace),
        };
        Ok(Manager {
            listener,
            config,
            state: Arc::new(Mutex::new(state)),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `stopper` stops.
    pub fn run(self, stopper: &Stopper) {
        let Manager {
            listener,
            config,
            state,
        } = self;
        let config = Arc::new(config);
        serve(listener, stopper, move |stream, peer| {
            handle_connection(stream, peer, &config, &state);
        });
    }
}

fn handle_connection(
    stream: TcpStream,
    peer: SocketAddr,
    config: &ManagerConfig,
    state: &Mutex<ManagerState>,
) {
    let Some((mut connection, request)) = accept_request(stream, peer, "backup manager") else {
        return;
    };
    let reply = match answer(request, config, state, Instant::now()) {
        Ok(reply) => reply,
        Err(error) => Reply::Error { error },
    };
    if let Err(e) = connection.send(&reply) {
        debug!("backup manager: {peer}: reply lost: {e}");
    }
}

fn persist(catalogue: &Catalogue, dir: &Path) -> Result<(), String> {
    catalogue
        .save(dir)
        .map_err(|e| format!("the manager cannot save its catalogue: {e}"))
}

fn checked_hash(sha256: &str) -> Result<(), String> {
    if is_sha256_hex(sha256) {
        Ok(())
    } else {
        Err(format!("{sha256:?} is not a lowercase hex SHA-256"))
    }
}

/// One request's reply; the state lock is held for the whole request so a
/// commit's save and its reply follow each other.
fn answer(
    request: Request,
    config: &ManagerConfig,
    state: &Mutex<ManagerState>,
    now: Instant,
) -> Result<Reply, String> {
    let mut guard = state
        .lock()
        .map_err(|_| "the manager's state is poisoned".to_string())?;
    let ManagerState {
        catalogue,
        servers,
        planner,
    } = &mut *guard;
    let live_copies = |catalogue: &Catalogue, servers: &ServerTable, sha: &str| {
        catalogue
            .locations_of(sha)
            .filter(|h| servers.is_live(h, now))
            .count()
    };
    match request {
        Request::Heartbeat { addr, free, held } => {
            if let Some(bad) = held.iter().find(|h| !is_sha256_hex(h)) {
                return Err(format!("{bad:?} is not a lowercase hex SHA-256"));
            }
            let held: BTreeSet<String> = held.into_iter().collect();
            if servers.heartbeat(&addr, free, held.clone(), now) {
                info!(
                    "backup manager: server {addr} is up ({free} bytes free, {} objects)",
                    held.len()
                );
            }
            let mut changed = catalogue.apply_report(&addr, &held);
            let tasks = planner.tasks_for(&addr, catalogue, servers, config.replicas, now);
            changed |= !tasks.is_empty();
            for task in &tasks {
                info!("backup manager: {addr} is told to {task:?}");
            }
            if changed {
                persist(catalogue, &config.state)?;
            }
            Ok(Reply::Tasks { tasks })
        }
        Request::Place { name, size, avoid } => {
            check_name(&name).map_err(|e| e.to_string())?;
            let pipeline = servers
                .place_avoiding(config.replicas, size, now, &avoid)
                .map_err(|e| e.to_string())?;
            Ok(Reply::Placement { pipeline })
        }
        Request::Commit {
            name,
            size,
            sha256,
            holders,
        } => {
            check_name(&name).map_err(|e| e.to_string())?;
            checked_hash(&sha256)?;
            if holders.is_empty() && live_copies(catalogue, servers, &sha256) == 0 {
                return Err("no server holds this content; upload it first".into());
            }
            let version = catalogue.commit(&name, size, &sha256, &holders);
            persist(catalogue, &config.state)?;
            info!("backup manager: {name} version {version} ({size} bytes) on {holders:?}");
            Ok(Reply::Committed { version })
        }
        Request::Locate { name, version } => {
            let found = catalogue
                .version(&name, version)
                .map_err(|e| e.to_string())?;
            let (mut copies, dead): (Vec<String>, Vec<String>) = catalogue
                .locations_of(&found.sha256)
                .cloned()
                .partition(|h| servers.is_live(h, now));
            copies.extend(dead);
            Ok(Reply::Location {
                version: found.number,
                size: found.size,
                sha256: found.sha256.clone(),
                copies,
            })
        }
        Request::List { prefix } => {
            let files = catalogue
                .list(&prefix)
                .map(|(name, versions)| {
                    let latest = versions.last().expect("a name keeps a version");
                    FileEntry {
                        name: name.to_string(),
                        size: latest.size,
                        versions: versions.len() as u32,
                        copies: live_copies(catalogue, servers, &latest.sha256),
                    }
                })
                .collect();
            Ok(Reply::Files { files })
        }
        Request::Remove { name } => {
            let count = catalogue.remove(&name).map_err(|e| e.to_string())?;
            info!("backup manager: removed {name} ({count} versions)");
            persist(catalogue, &config.state)?;
            Ok(Reply::Done)
        }
        Request::Status => {
            let under_replicated = catalogue
                .referenced()
                .keys()
                .filter(|sha| live_copies(catalogue, servers, sha) < config.replicas)
                .count();
            Ok(Reply::Status {
                servers: servers.entries(now),
                replicas: config.replicas,
                files: catalogue.len(),
                under_replicated,
            })
        }
        Request::Store { .. } | Request::Fetch { .. } => {
            Err("this is the manager: send store and fetch to a storage server".into())
        }
    }
}
