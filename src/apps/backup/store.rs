//! A storage server's disk: objects named by their SHA-256 under
//! `DIR/objects/`, written through `DIR/tmp/` (temporary file, fsync, rename,
//! fsync of the folder) so a crash or a cut upload never leaves a partial
//! object that counts. No sockets here.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

use super::wire::{BODY_CHUNK_BYTES, hex_digest, is_sha256_hex};

/// What a store operation can refuse.
#[derive(Debug)]
pub enum StoreError {
    /// Not a lowercase hex SHA-256.
    BadHash(String),
    /// No room for the object.
    DiskFull {
        /// Bytes asked for.
        size: u64,
        /// Bytes free.
        free: u64,
    },
    /// The bytes received do not have the announced SHA-256.
    ChecksumMismatch {
        /// Announced.
        expected: String,
        /// Received.
        actual: String,
    },
    /// More or fewer bytes than announced.
    SizeMismatch {
        /// Announced.
        expected: u64,
        /// Received.
        actual: u64,
    },
    /// No such object.
    Missing(String),
    /// The disk failed.
    Io(io::Error),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::BadHash(h) => write!(f, "{h:?} is not a lowercase hex SHA-256"),
            StoreError::DiskFull { size, free } => {
                write!(f, "disk full: {size} bytes asked, {free} free")
            }
            StoreError::ChecksumMismatch { expected, actual } => {
                write!(
                    f,
                    "checksum mismatch: expected {expected}, received {actual}"
                )
            }
            StoreError::SizeMismatch { expected, actual } => {
                write!(
                    f,
                    "size mismatch: expected {expected} bytes, received {actual}"
                )
            }
            StoreError::Missing(h) => write!(f, "no object {h}"),
            StoreError::Io(e) => write!(f, "disk error: {e}"),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<io::Error> for StoreError {
    fn from(e: io::Error) -> Self {
        if e.raw_os_error() == Some(28) {
            // ENOSPC: the file system itself is full.
            StoreError::DiskFull { size: 0, free: 0 }
        } else {
            StoreError::Io(e)
        }
    }
}

/// The objects of one server.
#[derive(Debug, Clone)]
pub struct Store {
    objects: PathBuf,
    tmp: PathBuf,
    capacity: Option<u64>,
    used: Arc<AtomicU64>,
    next_temporary: Arc<AtomicU64>,
}

impl Store {
    /// Opens (creating) `dir`, drops leftovers of cut uploads from `dir/tmp`,
    /// and counts what is stored. `capacity` caps the bytes kept, below what
    /// the file system has free.
    pub fn open(dir: &Path, capacity: Option<u64>) -> Result<Store, StoreError> {
        let objects = dir.join("objects");
        let tmp = dir.join("tmp");
        fs::create_dir_all(&objects)?;
        let _ = fs::remove_dir_all(&tmp);
        fs::create_dir_all(&tmp)?;
        let mut used = 0;
        for entry in fs::read_dir(&objects)? {
            used += entry?.metadata()?.len();
        }
        Ok(Store {
            objects,
            tmp,
            capacity,
            used: Arc::new(AtomicU64::new(used)),
            next_temporary: Arc::new(AtomicU64::new(0)),
        })
    }

    fn path_of(&self, sha256: &str) -> Result<PathBuf, StoreError> {
        if !is_sha256_hex(sha256) {
            return Err(StoreError::BadHash(sha256.to_string()));
        }
        Ok(self.objects.join(sha256))
    }

    /// Bytes that can still be stored.
    pub fn free(&self) -> u64 {
        let disk = rustix::fs::statvfs(&self.objects)
            .map(|s| s.f_bavail.saturating_mul(s.f_frsize))
            .unwrap_or(0);
        match self.capacity {
            Some(cap) => disk.min(cap.saturating_sub(self.used.load(Ordering::Relaxed))),
            None => disk,
        }
    }

    /// The hashes of every object held, sorted.
    pub fn list(&self) -> Result<Vec<String>, StoreError> {
        let mut hashes = Vec::new();
        for entry in fs::read_dir(&self.objects)? {
            let name = entry?.file_name();
            if let Some(name) = name.to_str().filter(|n| is_sha256_hex(n)) {
                hashes.push(name.to_string());
            }
        }
        hashes.sort();
        Ok(hashes)
    }

    /// Starts receiving an object of `size` bytes; its SHA-256 comes at the end.
    pub fn begin(&self, size: u64) -> Result<Incoming, StoreError> {
        let free = self.free();
        if size > free {
            return Err(StoreError::DiskFull { size, free });
        }
        let n = self.next_temporary.fetch_add(1, Ordering::Relaxed);
        let temporary = self
            .tmp
            .join(format!("incoming.{}.{n}", std::process::id()));
        let file = File::create(&temporary)?;
        Ok(Incoming {
            file,
            temporary,
            store: self.clone(),
            hasher: Sha256::new(),
            expected_size: size,
            written: 0,
            done: false,
        })
    }

    /// Opens an object for reading, with its size.
    pub fn open_object(&self, sha256: &str) -> Result<(File, u64), StoreError> {
        let path = self.path_of(sha256)?;
        let file = File::open(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => StoreError::Missing(sha256.to_string()),
            _ => StoreError::Io(e),
        })?;
        let size = file.metadata()?.len();
        Ok((file, size))
    }

    /// Deletes an object (an extra copy, an orphan, or a corrupt one).
    pub fn remove(&self, sha256: &str) -> Result<(), StoreError> {
        let path = self.path_of(sha256)?;
        let size = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        match fs::remove_file(&path) {
            Ok(()) => {
                self.used.fetch_sub(size, Ordering::Relaxed);
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Re-reads an object and checks its SHA-256; a corrupt object is
    /// deleted (so the server stops reporting it and the manager copies it
    /// again from a good copy). Returns false when it was corrupt.
    pub fn scrub(&self, sha256: &str) -> Result<bool, StoreError> {
        let (mut file, _) = self.open_object(sha256)?;
        let mut hasher = Sha256::new();
        let mut buffer = vec![0u8; BODY_CHUNK_BYTES];
        loop {
            match file.read(&mut buffer)? {
                0 => break,
                n => hasher.update(&buffer[..n]),
            }
        }
        if hex_digest(hasher) == sha256 {
            return Ok(true);
        }
        self.remove(sha256)?;
        Ok(false)
    }
}

/// An object being received. Dropped before [`Incoming::finish`], it
/// removes its temporary file: nothing partial stays behind.
pub struct Incoming {
    file: File,
    temporary: PathBuf,
    store: Store,
    hasher: Sha256,
    expected_size: u64,
    written: u64,
    done: bool,
}

impl Incoming {
    /// Appends a piece of the body.
    pub fn write(&mut self, piece: &[u8]) -> Result<(), StoreError> {
        self.written += piece.len() as u64;
        if self.written > self.expected_size {
            return Err(StoreError::SizeMismatch {
                expected: self.expected_size,
                actual: self.written,
            });
        }
        self.hasher.update(piece);
        self.file.write_all(piece)?;
        Ok(())
    }

    /// Checks the size and that the bytes hash to `sha256`, then makes the
    /// object durable and visible under that name.
    pub fn finish(mut self, sha256: &str) -> Result<(), StoreError> {
        let target = self.store.path_of(sha256)?;
        if self.written != self.expected_size {
            return Err(StoreError::SizeMismatch {
                expected: self.expected_size,
                actual: self.written,
            });
        }
        let actual = hex_digest(std::mem::take(&mut self.hasher));
        if actual != sha256 {
            return Err(StoreError::ChecksumMismatch {
                expected: sha256.to_string(),
                actual,
            });
        }
        self.file.sync_all()?;
        let replaced = fs::metadata(&target).map(|m| m.len()).unwrap_or(0);
        fs::rename(&self.temporary, &target)?;
        self.done = true;
        File::open(&self.store.objects)?.sync_all()?;
        let used = &self.store.used;
        used.fetch_add(self.written, Ordering::Relaxed);
        used.fetch_sub(replaced, Ordering::Relaxed);
        Ok(())
    }
}

impl Drop for Incoming {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_file(&self.temporary);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("distloop-store-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    fn sha_of(bytes: &[u8]) -> String {
        hex_digest(Sha256::new_with_prefix(bytes))
    }

    #[test]
    fn a_large_object_is_stored_whole() {
        let dir = temp_dir("large");
        let store = Store::open(&dir, None).unwrap();
        let piece = vec![5u8; 1 << 20];
        let pieces = 40;
        let mut hasher = Sha256::new();
        let mut incoming = store.begin((pieces * piece.len()) as u64).unwrap();
        for _ in 0..pieces {
            hasher.update(&piece);
            incoming.write(&piece).unwrap();
        }
        let sha = hex_digest(hasher);
        incoming.finish(&sha).unwrap();
        assert!(store.scrub(&sha).unwrap());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_object_is_stored_under_its_hash_and_read_back() {
        let dir = temp_dir("roundtrip");
        let store = Store::open(&dir, None).unwrap();
        let sha = sha_of(b"hello");
        let mut incoming = store.begin(5).unwrap();
        incoming.write(b"hel").unwrap();
        incoming.write(b"lo").unwrap();
        incoming.finish(&sha).unwrap();
        assert_eq!(store.list().unwrap(), std::slice::from_ref(&sha));
        let (mut file, size) = store.open_object(&sha).unwrap();
        let mut text = String::new();
        file.read_to_string(&mut text).unwrap();
        assert_eq!((text.as_str(), size), ("hello", 5));
        assert!(store.scrub(&sha).unwrap());
        assert!(fs::read_dir(dir.join("tmp")).unwrap().next().is_none());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_mismatched_or_cut_body_leaves_nothing_behind() {
        let dir = temp_dir("mismatch");
        let store = Store::open(&dir, None).unwrap();
        let sha = sha_of(b"hello");
        let mut incoming = store.begin(5).unwrap();
        incoming.write(b"jello").unwrap();
        assert!(matches!(
            incoming.finish(&sha),
            Err(StoreError::ChecksumMismatch { .. })
        ));
        let mut cut = store.begin(5).unwrap();
        cut.write(b"he").unwrap();
        drop(cut);
        assert!(store.list().unwrap().is_empty());
        assert!(fs::read_dir(dir.join("tmp")).unwrap().next().is_none());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_full_store_refuses_before_writing() {
        let dir = temp_dir("full");
        let store = Store::open(&dir, Some(4)).unwrap();
        assert!(matches!(
            store.begin(5),
            Err(StoreError::DiskFull { size: 5, free: 4 })
        ));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn hashes_that_are_not_hex_never_become_paths() {
        let dir = temp_dir("badhash");
        let store = Store::open(&dir, None).unwrap();
        let mut incoming = store.begin(1).unwrap();
        incoming.write(b"x").unwrap();
        assert!(matches!(
            incoming.finish("../../x"),
            Err(StoreError::BadHash(_))
        ));
        assert!(matches!(
            store.open_object("/etc/passwd"),
            Err(StoreError::BadHash(_))
        ));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn scrub_deletes_a_corrupted_object() {
        let dir = temp_dir("scrub");
        let store = Store::open(&dir, None).unwrap();
        let sha = sha_of(b"hello");
        let mut incoming = store.begin(5).unwrap();
        incoming.write(b"hello").unwrap();
        incoming.finish(&sha).unwrap();
        fs::write(dir.join("objects").join(&sha), b"hellO").unwrap();
        assert!(!store.scrub(&sha).unwrap());
        assert!(store.list().unwrap().is_empty());
        fs::remove_dir_all(&dir).unwrap();
    }
}
