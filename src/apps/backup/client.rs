//! The backup client: put (ask the manager for a pipeline, stream the file
//! to its first server while hashing it, commit), get (locate, read from one copy after
//! another until one has the right SHA-256), list, remove and status. Files
//! are streamed in bounded pieces; large ones show a progress bar on stderr.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};

use super::name::check_name;
use super::wire::{
    Connection, FileEntry, Reply, Request, Trailer, WireError, call, copy_body, hex_digest,
    write_head,
};
use crate::{debug, warn};

/// Files at least this large show a progress bar, in bytes.
pub const PROGRESS_MIN_BYTES: u64 = 16 << 20;

/// What a put did.
#[derive(Debug, Clone, PartialEq)]
pub struct PutOutcome {
    /// The version number given.
    pub version: u32,
    /// The servers that acknowledged the bytes.
    pub holders: Vec<String>,
}

/// What a get did.
#[derive(Debug, Clone, PartialEq)]
pub struct GetOutcome {
    /// The version read.
    pub version: u32,
    /// Its size.
    pub size: u64,
    /// The server whose copy was good.
    pub from: String,
}

fn progress(size: u64, what: &str) -> ProgressBar {
    if size < PROGRESS_MIN_BYTES {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(size);
    if let Ok(style) =
        ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_string());
    bar
}

fn unexpected(reply: Reply) -> WireError {
    WireError::Unexpected(format!("{reply:?}"))
}

/// Uploads of one put, each to a placement without the first servers that
/// failed, before the put fails.
pub const MAX_UPLOAD_ATTEMPTS: usize = 3;

/// Stores the file at `path` under `name`.
pub fn put(manager: &str, path: &Path, name: &str) -> Result<PutOutcome, WireError> {
    check_name(name).map_err(|e| WireError::Remote(e.to_string()))?;
    let size = fs::metadata(path)?.len();
    let started = Instant::now();
    // A server that died but is not yet taken for dead by the manager (its
    // heartbeats stop for --dead-after) may still be placed first: the
    // upload then goes again to a placement without it.
    let mut avoid: Vec<String> = Vec::new();
    let (sha256, holders) = loop {
        let placement = call(
            manager,
            &Request::Place {
                name: name.to_string(),
                size,
                avoid: avoid.clone(),
            },
        )?;
        let Reply::Placement { pipeline } = placement else {
            return Err(unexpected(placement));
        };
        match upload(path, name, size, &pipeline) {
            Ok(stored) => break stored,
            Err(e) if avoid.len() + 1 < MAX_UPLOAD_ATTEMPTS && !pipeline.is_empty() => {
                warn!("backup put: {name}: {e}; trying another placement");
                avoid.push(pipeline[0].clone());
            }
            Err(e) => return Err(e),
        }
    };
    debug!("backup put: {name}: stored after {:?}", started.elapsed());
    let commit = Request::Commit {
        name: name.to_string(),
        size,
        sha256,
        holders: holders.clone(),
    };
    match call(manager, &commit)? {
        Reply::Committed { version } => Ok(PutOutcome { version, holders }),
        other => Err(unexpected(other)),
    }
}

/// Streams the file to the pipeline, hashing it on the way; returns its
/// SHA-256 and the servers that stored it.
fn upload(
    path: &Path,
    name: &str,
    size: u64,
    pipeline: &[String],
) -> Result<(String, Vec<String>), WireError> {
    let (first, rest) = pipeline
        .split_first()
        .ok_or_else(|| WireError::Unexpected("an empty pipeline".into()))?;
    let mut file = File::open(path)?;
    let mut connection = Connection::open(first)?;
    write_head(
        &mut connection.writer,
        &Request::Store {
            size,
            forward: rest.to_vec(),
        },
    )?;
    let bar = progress(size, name);
    let mut hasher = Sha256::new();
    let sent = copy_body(&mut file, size, |piece| {
        hasher.update(piece);
        connection.writer.write_all(piece)?;
        bar.inc(piece.len() as u64);
        Ok(())
    });
    bar.finish_and_clear();
    let sha256 = hex_digest(hasher);
    let sent = sent.and_then(|()| {
        connection.send(&Trailer {
            sha256: sha256.clone(),
        })
    });
    // A server that refuses early (disk full) answers and closes while we
    // still write: its answer says more than our broken pipe.
    let reply = connection.reply();
    match (sent, reply) {
        (_, Ok(Reply::Stored { holders })) => Ok((sha256, holders)),
        (_, Err(WireError::Remote(why))) => Err(WireError::Remote(format!("{first}: {why}"))),
        (Err(e), _) => Err(e),
        (Ok(()), Err(e)) => Err(e),
        (Ok(()), Ok(other)) => Err(unexpected(other)),
    }
}

/// Reads `name` (the latest version unless `version`) into `out`, trying
/// each copy in turn until one has the right SHA-256. `out` appears only
/// complete and verified.
pub fn get(
    manager: &str,
    name: &str,
    version: Option<u32>,
    out: &Path,
) -> Result<GetOutcome, WireError> {
    let located = call(
        manager,
        &Request::Locate {
            name: name.to_string(),
            version,
        },
    )?;
    let Reply::Location {
        version,
        size,
        sha256,
        copies,
    } = located
    else {
        return Err(unexpected(located));
    };
    let partial = partial_path(out);
    let mut last_error = WireError::Remote(format!("no server holds {name} version {version}"));
    for copy in &copies {
        match fetch(copy, &sha256, size, &partial, name) {
            Ok(()) => {
                fs::rename(&partial, out)?;
                return Ok(GetOutcome {
                    version,
                    size,
                    from: copy.clone(),
                });
            }
            Err(e) => {
                warn!("backup get: the copy on {copy} failed: {e}; trying the next");
                let _ = fs::remove_file(&partial);
                last_error = WireError::Remote(format!("{copy}: {e}"));
            }
        }
    }
    Err(last_error)
}

fn partial_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    out.with_file_name(name)
}

fn fetch(
    server: &str,
    sha256: &str,
    size: u64,
    partial: &Path,
    name: &str,
) -> Result<(), WireError> {
    let mut connection = Connection::open(server)?;
    connection.send(&Request::Fetch {
        sha256: sha256.to_string(),
    })?;
    match connection.reply()? {
        Reply::Body { size: announced } if announced == size => {}
        Reply::Body { size: announced } => {
            return Err(WireError::Remote(format!(
                "the copy is {announced} bytes, not {size}"
            )));
        }
        other => return Err(unexpected(other)),
    }
    let mut file = File::create(partial)?;
    let mut hasher = Sha256::new();
    let bar = progress(size, name);
    let copied = copy_body(&mut connection.reader, size, |piece| {
        hasher.update(piece);
        file.write_all(piece)?;
        bar.inc(piece.len() as u64);
        Ok(())
    });
    bar.finish_and_clear();
    copied?;
    let actual = hex_digest(hasher);
    if actual != sha256 {
        return Err(WireError::Remote(format!(
            "checksum mismatch: expected {sha256}, received {actual}"
        )));
    }
    file.sync_all()?;
    Ok(())
}

/// The files under `prefix`.
pub fn list(manager: &str, prefix: &str) -> Result<Vec<FileEntry>, WireError> {
    match call(
        manager,
        &Request::List {
            prefix: prefix.to_string(),
        },
    )? {
        Reply::Files { files } => Ok(files),
        other => Err(unexpected(other)),
    }
}

/// Forgets every version of `name`.
pub fn remove(manager: &str, name: &str) -> Result<(), WireError> {
    match call(
        manager,
        &Request::Remove {
            name: name.to_string(),
        },
    )? {
        Reply::Done => Ok(()),
        other => Err(unexpected(other)),
    }
}

/// The manager's status reply.
pub fn status(manager: &str) -> Result<Reply, WireError> {
    match call(manager, &Request::Status)? {
        reply @ Reply::Status { .. } => Ok(reply),
        other => Err(unexpected(other)),
    }
}

/// The names `put -r DIR` gives: DIR's own name, then each file's path
/// below it (`docs/a.txt` for `docs/a.txt` in `put -r docs`), in sorted
/// order, with the path to read each from. Symbolic links are not followed.
pub fn tree_names(dir: &Path) -> io::Result<Vec<(PathBuf, String)>> {
    let base = dir
        .canonicalize()?
        .file_name()
        .and_then(|n| n.to_str())
        .map(str::to_string)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the folder has no name"))?;
    let mut found = Vec::new();
    let mut pending = vec![(dir.to_path_buf(), base)];
    while let Some((folder, prefix)) = pending.pop() {
        for entry in fs::read_dir(&folder)? {
            let entry = entry?;
            let Some(part) = entry.file_name().to_str().map(str::to_string) else {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{} is not UTF-8", entry.path().display()),
                ));
            };
            let name = format!("{prefix}/{part}");
            let kind = entry.file_type()?;
            if kind.is_dir() {
                pending.push((entry.path(), name));
            } else if kind.is_file() {
                found.push((entry.path(), name));
            }
        }
    }
    found.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tree_s_names_keep_their_relative_folders() {
        let root = std::env::temp_dir().join(format!("distloop-tree-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(root.join("docs/sub")).unwrap();
        fs::write(root.join("docs/a.txt"), b"a").unwrap();
        fs::write(root.join("docs/sub/b.txt"), b"b").unwrap();
        let names: Vec<String> = tree_names(&root.join("docs"))
            .unwrap()
            .into_iter()
            .map(|(_, n)| n)
            .collect();
        assert_eq!(names, ["docs/a.txt", "docs/sub/b.txt"]);
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn the_partial_file_sits_beside_the_output() {
        assert_eq!(
            partial_path(Path::new("/x/y.txt")),
            Path::new("/x/y.txt.partial")
        );
    }
}
