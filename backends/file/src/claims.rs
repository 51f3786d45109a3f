//! Claims as files.
//!
//! A claim is the file `claims/ab/<key>`, holding its owner, host, pid
//! and lease expiry. Every claim operation on a key runs under the key's
//! shard lock, so "read the claim, decide, write" is atomic across
//! processes. The holder also keeps an advisory lock on its claim file for
//! as long as it lives: when it dies the operating system drops the lock,
//! and a claimer on the same host sees at once that the claim is dead. On
//! other hosts the lease decides.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fleche_core::{Claim, Digest, ErrorKind, Owner, StoreError};
use serde::{Deserialize, Serialize};

use crate::{BACKEND, FileStore, fsio, layout};

/// What a claim file holds.
#[derive(Debug, Serialize, Deserialize)]
struct ClaimFile {
    owner: String,
    host: String,
    pid: u32,
    /// Milliseconds since the Unix epoch.
    expires_ms: u128,
}

/// The claim files this process holds, with their advisory locks: the lock
/// lives as long as the open file.
fn held() -> &'static Mutex<HashMap<PathBuf, File>> {
    static HELD: OnceLock<Mutex<HashMap<PathBuf, File>>> = OnceLock::new();
    HELD.get_or_init(Default::default)
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
}

fn host() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| {
            fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
        })
        .unwrap_or_default()
}

fn read(path: &Path, key: Digest) -> Result<Option<ClaimFile>, StoreError> {
    let Some(bytes) = fsio::read(path, key)? else {
        return Ok(None);
    };
    // An empty claim file is a released claim: the file stays, so the next
    // claim of the key reuses its inode (creating and deleting files is the
    // slowest part of a miss on ext4).
    if bytes.is_empty() {
        return Ok(None);
    }
    // A claim file torn by a crash mid-write is a dead claim.
    Ok(Some(serde_json::from_slice(&bytes).unwrap_or(ClaimFile {
        owner: String::new(),
        host: String::new(),
        pid: 0,
        expires_ms: 0,
    })))
}

/// Whether some process holds the advisory lock on the claim file.
fn locked(path: &Path) -> bool {
    let Ok(f) = File::open(path) else {
        return false;
    };
    match f.try_lock_shared() {
        Ok(()) => {
            let _ = f.unlock();
            false
        }
        Err(_) => true,
    }
}

/// Whether the claim in `c` (at `path`) still counts.
fn live(c: &ClaimFile, path: &Path, now: u128) -> bool {
    if now >= c.expires_ms {
        return false;
    }
    // On this host a dead holder has lost its lock; elsewhere, trust the lease.
    c.host != host() || locked(path)
}

fn content(owner: &Owner, ttl: Duration) -> Vec<u8> {
    let c = ClaimFile {
        owner: owner.as_str().to_owned(),
        host: host().to_owned(),
        pid: std::process::id(),
        expires_ms: now_ms() + ttl.as_millis(),
    };
    serde_json::to_vec(&c).unwrap_or_default()
}

/// Makes `owner` the holder of the claim file at `path`: reuses the file
/// (released, or left by a dead holder) when this process can lock it, and
/// otherwise — an expired holder that still lives keeps its lock on the
/// old file — replaces it with a new one.
fn take(path: &Path, owner: &Owner, ttl: Duration, key: Digest) -> Result<(), StoreError> {
    let open = |create_new: bool| {
        let mut options = OpenOptions::new();
        options.read(true).write(true);
        if create_new {
            options.create_new(true);
        } else {
            options.create(true).truncate(false);
        }
        fsio::open_in_shard(path, &options)
            .map_err(|e| fsio::io_error("open claim file", path, Some(key), e))
    };
    // Our own earlier lock on this file (a released or superseded owner in
    // this process) must go first, or it would block us.
    held()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(path);
    let mut file = open(false)?;
    if file.try_lock().is_err() {
        fsio::remove(path, key)?;
        file = open(true)?;
        file.try_lock().map_err(|e| {
            StoreError::new(
                ErrorKind::Conflict,
                BACKEND,
                format!("cannot lock the new claim file {}: {e}", path.display()),
            )
            .with_key(key)
        })?;
    }
    let write = |f: &mut File| {
        f.set_len(0)?;
        f.seek(SeekFrom::Start(0))?;
        f.write_all(&content(owner, ttl))
    };
    write(&mut file).map_err(|e| fsio::io_error("write claim file", path, Some(key), e))?;
    held()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(path.to_owned(), file);
    Ok(())
}

/// Releases the claim file: empties it and drops this process's lock.
fn clear(path: &Path, key: Digest) -> Result<(), StoreError> {
    fs::write(path, b"").map_err(|e| fsio::io_error("release claim file", path, Some(key), e))?;
    held()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(path);
    Ok(())
}

async fn shard_lock(store: &FileStore, key: Digest) -> Result<fsio::LockGuard, StoreError> {
    fsio::lock(
        &layout::lock_path(store.root(), key),
        store.options().lock_timeout,
        key,
    )
    .await
}

pub(crate) async fn claim(
    store: &FileStore,
    key: Digest,
    owner: &Owner,
    ttl: Duration,
) -> Result<Claim, StoreError> {
    let _lock = shard_lock(store, key).await?;
    let path = layout::claim_path(store.root(), key);
    let now = now_ms();
    let took_over = match read(&path, key)? {
        None => false,
        Some(c) if c.owner == owner.as_str() => {
            fs::write(&path, content(owner, ttl))
                .map_err(|e| fsio::io_error("renew claim file", &path, Some(key), e))?;
            return Ok(Claim::Acquired { took_over: false });
        }
        Some(c) if live(&c, &path, now) => {
            let remaining = Duration::from_millis(
                u64::try_from(c.expires_ms.saturating_sub(now)).unwrap_or(u64::MAX),
            );
            return Ok(Claim::Held {
                holder: Owner::from_string(c.owner),
                remaining,
            });
        }
        Some(_) => true,
    };
    take(&path, owner, ttl, key)?;
    Ok(Claim::Acquired { took_over })
}

pub(crate) async fn renew(
    store: &FileStore,
    key: Digest,
    owner: &Owner,
    ttl: Duration,
) -> Result<bool, StoreError> {
    let _lock = shard_lock(store, key).await?;
    let path = layout::claim_path(store.root(), key);
    match read(&path, key)? {
        Some(c) if c.owner == owner.as_str() => {
            // In place: the holder's lock stays on the same file.
            fs::write(&path, content(owner, ttl))
                .map_err(|e| fsio::io_error("renew claim file", &path, Some(key), e))?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

pub(crate) async fn release(
    store: &FileStore,
    key: Digest,
    owner: &Owner,
) -> Result<bool, StoreError> {
    let _lock = shard_lock(store, key).await?;
    let path = layout::claim_path(store.root(), key);
    match read(&path, key)? {
        Some(c) if c.owner == owner.as_str() => {
            clear(&path, key)?;
            Ok(true)
        }
        _ => Ok(false),
    }
}
