//! Claims, kept in one table file per shard.
//!
//! The claims of the keys in shard `ab` live in the file `claims/ab`, a
//! JSON map from key to owner, host, pid and lease expiry. Every claim
//! operation reads, decides and rewrites that table in place under the
//! shard's lock, so it is atomic across processes — and, unlike a file per
//! claim, it costs no new inode (on ext4 the slowest part of a miss).
//!
//! Each process that claims holds an advisory lock on a file of its own,
//! `locks/procs/<host>-<pid>-<nonce>`, for as long as it lives; a claim
//! names that file. When the process dies the operating system drops the
//! lock, so a claimer on the same host sees at once that the claim is dead;
//! on other hosts the lease decides. A table torn by a crash mid-rewrite
//! reads as empty: at worst some work is done twice.

use std::collections::BTreeMap;
use std::collections::hash_map::RandomState;
use std::fs::{self, File, OpenOptions};
use std::hash::BuildHasher;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fleche_core::{Claim, Digest, Owner, StoreError};
use serde::{Deserialize, Serialize};

use crate::error::{conflict, io_error};
use crate::{FileStore, fsio, layout};

/// One claim in a shard's table.
#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    owner: String,
    host: String,
    pid: u32,
    /// The holder's process lock file, under `locks/procs`.
    process: String,
    /// Milliseconds since the Unix epoch.
    expires_ms: u128,
}

type Table = BTreeMap<String, Entry>;

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
}

fn host() -> &'static str {
    fleche_core::metadata::host_name()
}

/// This process's lock file under `root`, made and locked on first use and
/// held until the process ends.
fn process_file(root: &Path, key: Digest) -> Result<String, StoreError> {
    static HELD: OnceLock<Mutex<BTreeMap<PathBuf, String>>> = OnceLock::new();
    static FILES: OnceLock<Mutex<Vec<File>>> = OnceLock::new();
    let held = HELD.get_or_init(Default::default);
    let mut held = held.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(name) = held.get(root) {
        return Ok(name.clone());
    }
    let nonce = RandomState::new().hash_one(std::process::id());
    let name = format!(
        "{}-{}-{nonce:016x}",
        host().replace(['/', '\\'], "_"),
        std::process::id()
    );
    let path = root.join("locks").join("procs").join(&name);
    let file = fsio::open_in_shard(
        &path,
        OpenOptions::new().write(true).create(true).truncate(false),
    )
    .map_err(|e| io_error("create the process lock file", &path, Some(key), e))?;
    file.try_lock()
        .map_err(|e| conflict(key, format!("cannot lock {}", path.display())).with_source(e))?;
    FILES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(file);
    held.insert(root.to_owned(), name.clone());
    Ok(name)
}

/// Whether the process that holds `entry` still lives: on this host, its
/// lock file is still locked; elsewhere we cannot tell, so yes.
fn holder_lives(root: &Path, entry: &Entry) -> bool {
    if entry.host != host() {
        return true;
    }
    let path = root.join("locks").join("procs").join(&entry.process);
    let Ok(f) = File::open(&path) else {
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

/// The shard's claim table, opened for rewriting.
struct Shard {
    file: File,
    path: PathBuf,
    table: Table,
}

impl Shard {
    fn open(root: &Path, key: Digest) -> Result<Self, StoreError> {
        let path = layout::claim_table_path(root, key);
        let mut file = fsio::open_in_shard(
            &path,
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false),
        )
        .map_err(|e| io_error("open claim table", &path, Some(key), e))?;
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut file, &mut bytes)
            .map_err(|e| io_error("read claim table", &path, Some(key), e))?;
        // The first JSON value; bytes after it are the tail of a longer
        // table cut short by a crash between overwrite and shrink.
        let table = serde_json::Deserializer::from_slice(&bytes)
            .into_iter::<Table>()
            .next()
            .and_then(Result::ok)
            .unwrap_or_default();
        Ok(Self { file, path, table })
    }

    fn save(&mut self, key: Digest) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(&self.table).unwrap_or_default();
        // Overwrite in place, then shrink: the file keeps its data block, so
        // no block is freed and allocated again on every claim.
        let mut write = || {
            self.file.seek(SeekFrom::Start(0))?;
            self.file.write_all(&bytes)?;
            self.file.set_len(bytes.len() as u64)
        };
        write().map_err(|e| io_error("write claim table", &self.path, Some(key), e))
    }
}

async fn shard_lock(store: &FileStore, key: Digest) -> Result<fsio::LockGuard, StoreError> {
    fsio::lock(
        &layout::lock_path(store.root(), key),
        store.options().lock_timeout,
        key,
    )
    .await
}

fn entry(root: &Path, key: Digest, owner: &Owner, ttl: Duration) -> Result<Entry, StoreError> {
    Ok(Entry {
        owner: owner.as_str().to_owned(),
        host: host().to_owned(),
        pid: std::process::id(),
        process: process_file(root, key)?,
        expires_ms: now_ms() + ttl.as_millis(),
    })
}

pub(crate) async fn claim(
    store: &FileStore,
    key: Digest,
    owner: &Owner,
    ttl: Duration,
) -> Result<Claim, StoreError> {
    let _lock = shard_lock(store, key).await?;
    let root = store.root();
    let mut shard = Shard::open(root, key)?;
    let now = now_ms();
    let hex = key.to_hex();
    let took_over = match shard.table.get(&hex) {
        None => false,
        Some(e) if e.owner == owner.as_str() => false,
        Some(e) if now < e.expires_ms && holder_lives(root, e) => {
            let remaining =
                Duration::from_millis(u64::try_from(e.expires_ms - now).unwrap_or(u64::MAX));
            return Ok(Claim::Held {
                holder: Owner::from_string(e.owner.clone()),
                remaining,
            });
        }
        Some(_) => true,
    };
    shard.table.insert(hex, entry(root, key, owner, ttl)?);
    shard.save(key)?;
    Ok(Claim::Acquired { took_over })
}

pub(crate) async fn renew(
    store: &FileStore,
    key: Digest,
    owner: &Owner,
    ttl: Duration,
) -> Result<bool, StoreError> {
    let _lock = shard_lock(store, key).await?;
    let mut shard = Shard::open(store.root(), key)?;
    match shard.table.get_mut(&key.to_hex()) {
        Some(e) if e.owner == owner.as_str() => {
            e.expires_ms = now_ms() + ttl.as_millis();
            shard.save(key)?;
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
    let mut shard = Shard::open(store.root(), key)?;
    let hex = key.to_hex();
    match shard.table.get(&hex) {
        Some(e) if e.owner == owner.as_str() => {
            shard.table.remove(&hex);
            shard.save(key)?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// Removes the lock files of dead processes: call now and then (they are
/// one small file per process that ever claimed).
pub fn prune_process_files(root: &Path) -> Result<usize, StoreError> {
    let dir = root.join("locks").join("procs");
    let Ok(entries) = fs::read_dir(&dir) else {
        return Ok(0);
    };
    let mut removed = 0;
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        let Ok(f) = File::open(&path) else { continue };
        if f.try_lock().is_ok() && fs::remove_file(&path).is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}
