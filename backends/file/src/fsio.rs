//! File operations: atomic writes, reads, locks, and errors that say what
//! failed where.

use std::collections::hash_map::RandomState;
use std::fs::{self, File, OpenOptions};
use std::hash::BuildHasher;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use fleche_core::{Digest, StoreError};

use crate::error::{conflict, io_error};

/// Reads a file; `None` if it does not exist.
pub(crate) fn read(path: &Path, key: Digest) -> Result<Option<Vec<u8>>, StoreError> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error("read", path, Some(key), e)),
    }
}

/// Removes a file; `false` if it did not exist.
pub(crate) fn remove(path: &Path, key: Digest) -> Result<bool, StoreError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_error("remove", path, Some(key), e)),
    }
}

/// Opens `path` with `options`; if its directory is missing (a shard
/// someone removed), creates it and tries once more. Shards are made with
/// the store, so the common case costs no `mkdir`.
pub(crate) fn open_in_shard(path: &Path, options: &OpenOptions) -> io::Result<File> {
    match options.open(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(path.parent().unwrap_or(Path::new(".")))?;
            options.open(path)
        }
        other => other,
    }
}

/// A temp file name next to `path`, unique across processes and threads.
/// Temp names start with a dot, so listings skip them.
///
/// The pid alone does not make the name unique over time: a process killed
/// mid-write leaves its temp file behind, and pids come back (a worker
/// restarted in a fresh container often gets the very same one). A later
/// process with that pid would count the same names again and, making the
/// same writes, find its temp file already there. So the name also holds a
/// random nonce drawn once per process.
fn temp_path(path: &Path) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    static NONCE: OnceLock<u64> = OnceLock::new();
    let nonce = *NONCE.get_or_init(|| RandomState::new().hash_one(std::process::id()));
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    path.with_file_name(format!(
        ".tmp-{}-{nonce:016x}-{n}-{name}",
        std::process::id()
    ))
}

/// Whether `name` is a temp file of [`temp_path`] for a file named `target`.
pub(crate) fn is_temp_of(name: &str, target: &str) -> bool {
    name.starts_with(".tmp-")
        && name
            .strip_suffix(target)
            .is_some_and(|head| head.ends_with('-'))
}

/// Creates a new temp file next to `path`. A name that is taken (a stray
/// temp file that happens to have it) is skipped, not reused or removed.
fn create_temp(path: &Path) -> Result<(File, PathBuf), (PathBuf, io::Error)> {
    let mut attempts = 0;
    loop {
        let tmp = temp_path(path);
        match open_in_shard(&tmp, OpenOptions::new().write(true).create_new(true)) {
            Ok(f) => return Ok((f, tmp)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempts < 16 => attempts += 1,
            Err(e) => return Err((tmp, e)),
        }
    }
}

/// Writes `bytes` to a new temp file next to `path` (fsynced if asked)
/// and returns its name; on failure, nothing is left behind.
pub(crate) fn write_temp(path: &Path, bytes: &[u8], fsync: bool) -> io::Result<PathBuf> {
    // A temp file that could not be created is not ours: leave it be.
    let (mut file, tmp) = create_temp(path).map_err(|(_, e)| e)?;
    let written = file
        .write_all(bytes)
        .and_then(|()| if fsync { file.sync_all() } else { Ok(()) });
    drop(file);
    match written {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Writes `bytes` to `path` atomically: temp file, write, fsync (optional),
/// rename. A crash at any point leaves the old file or the new one, and at
/// worst a stray temp file that no reader looks at.
pub(crate) fn write_atomic(
    path: &Path,
    bytes: &[u8],
    fsync: bool,
    key: Digest,
) -> Result<(), StoreError> {
    let tmp = write_temp(path, bytes, fsync)
        .map_err(|e| io_error("write (through a temp file)", path, Some(key), e))?;
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(io_error("rename into place", path, Some(key), e));
    }
    if fsync && let Some(dir) = path.parent() {
        // The rename itself is durable only once the directory is synced.
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_error("sync directory", dir, Some(key), e))?;
    }
    Ok(())
}

/// An exclusive advisory lock on a lock file, released when dropped.
pub(crate) struct LockGuard(File);

impl Drop for LockGuard {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

/// Takes the exclusive lock on `path` (creating the file), waiting at most
/// `timeout`, with backoff.
pub(crate) async fn lock(
    path: &Path,
    timeout: Duration,
    key: Digest,
) -> Result<LockGuard, StoreError> {
    let file = open_in_shard(
        path,
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false),
    )
    .map_err(|e| io_error("open lock file", path, Some(key), e))?;
    let deadline = Instant::now() + timeout;
    let mut backoff = Duration::from_micros(200);
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(LockGuard(file)),
            Err(fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_millis(50));
            }
            Err(fs::TryLockError::WouldBlock) => {
                return Err(conflict(
                    key,
                    format!(
                        "another writer held the lock {} for more than {timeout:?}",
                        path.display()
                    ),
                ));
            }
            Err(fs::TryLockError::Error(e)) => return Err(io_error("lock", path, Some(key), e)),
        }
    }
}
