//! The storage server process: it stores bodies under their SHA-256,
//! forwarding each to the next server of the pipeline while it receives it,
//! serves fetches, sends heartbeats (free space and every object held) to the
//! manager and carries out the copies and deletions the manager answers
//! with, and scrubs its objects now and then.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::serve::{Stopper, accept_request, refuse, serve};
use super::store::{Store, StoreError};
use super::wire::{
    BODY_CHUNK_BYTES, Connection, Reply, Request, Task, Trailer, WireError, call, copy_body,
    parse_head, read_head, write_head,
};
use crate::{debug, info, warn};

/// How a storage server runs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The manager's address.
    pub manager: String,
    /// Where objects are kept.
    pub dir: PathBuf,
    /// Bytes this server may keep at most (default: what the disk has).
    pub capacity: Option<u64>,
    /// Time between heartbeats.
    pub heartbeat_interval: Duration,
    /// Time between two scrubs of every object.
    pub scrub_interval: Duration,
}

/// A bound storage server, ready to run.
pub struct StorageServer {
    listener: TcpListener,
    addr: String,
    config: ServerConfig,
    store: Store,
}

impl StorageServer {
    /// Opens the store in `config.dir` and binds `listen`.
    pub fn bind(listen: SocketAddr, config: ServerConfig) -> Result<StorageServer, String> {
        let store = Store::open(&config.dir, config.capacity)
            .map_err(|e| format!("cannot open {}: {e}", config.dir.display()))?;
        let listener =
            TcpListener::bind(listen).map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("no local address: {e}"))?
            .to_string();
        Ok(StorageServer {
            listener,
            addr,
            config,
            store,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `stopper` stops; heartbeats and scrubs run beside.
    pub fn run(self, stopper: &Stopper) {
        let StorageServer {
            listener,
            addr,
            config,
            store,
        } = self;
        let config = Arc::new(config);
        {
            let (store, config, addr, stopper) = (
                store.clone(),
                Arc::clone(&config),
                addr.clone(),
                stopper.clone(),
            );
            thread::spawn(move || heartbeats(&store, &config, &addr, &stopper));
        }
        {
            let (store, config, stopper) = (store.clone(), Arc::clone(&config), stopper.clone());
            thread::spawn(move || scrubs(&store, &config, &stopper));
        }
        let me = addr.clone();
        serve(listener, stopper, move |stream, peer| {
            handle_connection(stream, peer, &store, &me);
        });
    }
}

fn heartbeats(store: &Store, config: &ServerConfig, addr: &str, stopper: &Stopper) {
    let mut reached = false;
    loop {
        let held = store.list().unwrap_or_default();
        let request = Request::Heartbeat {
            addr: addr.to_string(),
            free: store.free(),
            held,
        };
        match call(&config.manager, &request) {
            Ok(Reply::Tasks { tasks }) => {
                if !reached {
                    info!("backup server {addr}: registered with {}", config.manager);
                    reached = true;
                }
                for task in tasks {
                    run_task(store, task, addr);
                }
            }
            Ok(other) => warn!("backup server {addr}: odd heartbeat reply {other:?}"),
            Err(e) => {
                if reached {
                    warn!("backup server {addr}: manager {}: {e}", config.manager);
                }
                reached = false;
            }
        }
        if stopper.sleep(config.heartbeat_interval) {
            return;
        }
    }
}

fn run_task(store: &Store, task: Task, me: &str) {
    match task {
        Task::Delete { sha256 } => match store.remove(&sha256) {
            Ok(()) => info!("backup server {me}: deleted {sha256}"),
            Err(e) => warn!("backup server {me}: cannot delete {sha256}: {e}"),
        },
        Task::Copy { sha256, to, .. } => {
            let store = store.clone();
            let me = me.to_string();
            thread::spawn(move || match push_object(&store, &sha256, &to) {
                Ok(()) => info!("backup server {me}: copied {sha256} to {to}"),
                Err(e) => warn!("backup server {me}: copy of {sha256} to {to} failed: {e}"),
            });
        }
    }
}

/// Sends a stored object to another server as a one-server pipeline.
fn push_object(store: &Store, sha256: &str, to: &str) -> Result<(), WireError> {
    let (mut file, size) = store
        .open_object(sha256)
        .map_err(|e| WireError::Remote(e.to_string()))?;
    let mut connection = Connection::open(to)?;
    write_head(
        &mut connection.writer,
        &Request::Store {
            size,
            forward: Vec::new(),
        },
    )?;
    copy_body(&mut file, size, |piece| {
        connection.writer.write_all(piece).map_err(WireError::from)
    })?;
    let trailer = Trailer {
        sha256: sha256.to_string(),
    };
    connection.send(&trailer)?;
    match connection.reply()? {
        Reply::Stored { .. } => Ok(()),
        other => Err(WireError::Unexpected(format!("{other:?}"))),
    }
}

fn scrubs(store: &Store, config: &ServerConfig, stopper: &Stopper) {
    while !stopper.sleep(config.scrub_interval) {
        for sha in store.list().unwrap_or_default() {
            if stopper.stopped() {
                return;
            }
            match store.scrub(&sha) {
                Ok(true) => {}
                Ok(false) => warn!(
                    "backup scrub: {sha} was corrupt; deleted, the manager will copy it again"
                ),
                Err(StoreError::Missing(_)) => {}
                Err(e) => warn!("backup scrub: {sha}: {e}"),
            }
        }
    }
}

fn handle_connection(stream: TcpStream, peer: SocketAddr, store: &Store, me: &str) {
    let Some((mut connection, request)) =
        accept_request(stream, peer, &format!("backup server {me}"))
    else {
        return;
    };
    let result = match request {
        Request::Store { size, forward } => receive(&mut connection, store, me, size, &forward),
        Request::Fetch { sha256 } => send(&mut connection, store, &sha256),
        _ => Err(WireError::BadHead(
            "this is a storage server: it answers store and fetch only".into(),
        )),
    };
    if let Err(e) = result {
        debug!("backup server {me}: {peer}: {e}");
        refuse(&mut connection.writer, e);
    }
}

fn store_error(e: StoreError) -> WireError {
    WireError::Remote(e.to_string())
}

/// Receives a body and its trailer into the store while forwarding both to
/// `forward[0]` (which forwards to the rest). Answers with every server that
/// holds it.
fn receive(
    connection: &mut Connection,
    store: &Store,
    me: &str,
    size: u64,
    forward: &[String],
) -> Result<(), WireError> {
    let started = Instant::now();
    let mut incoming = store.begin(size).map_err(store_error)?;
    let mut downstream = match forward.split_first() {
        Some((next, rest)) => match open_downstream(next, size, rest) {
            Ok(connection) => Some(connection),
            Err(e) => {
                warn!("backup server {me}: pipeline to {next} failed: {e}; storing here only");
                None
            }
        },
        None => None,
    };
    copy_body(&mut connection.reader, size, |piece| {
        incoming.write(piece).map_err(store_error)?;
        if let Some(next) = downstream.as_mut()
            && let Err(e) = next.writer.write_all(piece)
        {
            warn!("backup server {me}: pipeline to {} broke: {e}", next.peer);
            downstream = None;
        }
        Ok(())
    })?;
    let head = read_head(&mut connection.reader)?.ok_or(WireError::Closed)?;
    let trailer: Trailer = parse_head(&head)?;
    // Pass the trailer on first so the next server verifies while we fsync.
    if let Some(next) = downstream.as_mut()
        && let Err(e) = next.send(&trailer)
    {
        warn!("backup server {me}: pipeline to {} broke: {e}", next.peer);
        downstream = None;
    }
    let sha256 = trailer.sha256.as_str();
    let received = started.elapsed();
    incoming.finish(sha256).map_err(store_error)?;
    debug!(
        "backup server {me}: {sha256}: received in {received:?}, durable after {:?}",
        started.elapsed()
    );
    let mut holders = vec![me.to_string()];
    if let Some(mut next) = downstream {
        match next.reply() {
            Ok(Reply::Stored { holders: theirs }) => holders.extend(theirs),
            Ok(other) => warn!("backup server {me}: {} answered {other:?}", next.peer),
            Err(e) => warn!("backup server {me}: {} did not store: {e}", next.peer),
        }
    }
    connection.send(&Reply::Stored { holders })
}

fn open_downstream(next: &str, size: u64, rest: &[String]) -> Result<Connection, WireError> {
    let mut connection = Connection::open(next)?;
    write_head(
        &mut connection.writer,
        &Request::Store {
            size,
            forward: rest.to_vec(),
        },
    )?;
    Ok(connection)
}

/// Streams an object. The client checks its SHA-256 and tries another copy
/// on a mismatch, so a corrupt copy costs a retry, never wrong bytes.
fn send(connection: &mut Connection, store: &Store, sha256: &str) -> Result<(), WireError> {
    let (file, size) = store.open_object(sha256).map_err(store_error)?;
    write_head(&mut connection.writer, &Reply::Body { size })?;
    let mut reader = file.take(size);
    let mut buffer = vec![0u8; BODY_CHUNK_BYTES];
    let mut sent = 0;
    while sent < size {
        let n = reader.read(&mut buffer)?;
        if n == 0 {
            // The file shrank under us: cut the connection so the client
            // sees a short body rather than a wrong one.
            return Err(WireError::Closed);
        }
        connection.writer.write_all(&buffer[..n])?;
        sent += n as u64;
    }
    connection.writer.flush()?;
    Ok(())
}
