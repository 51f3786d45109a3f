//! Where things are under the root, and the format marker.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use fleche_core::{Digest, StoreError};

use crate::error::{bad_root, io_error};

/// The marker file at the root.
pub const MARKER: &str = "FLECHE-STORE";
/// The layout version this crate writes and reads.
pub const FORMAT: u32 = 1;

const SUBDIRS: [&str; 4] = ["values", "calls", "locks", "claims"];

/// `root/dir/ab/<hex>`: 256 shards, made with the store, so a write never
/// has to make a directory (a new inode is the slowest part of a write on
/// ext4), and a directory holds 1/256 of the entries.
fn sharded(root: &Path, dir: &str, key: Digest) -> PathBuf {
    let hex = key.to_hex();
    root.join(dir).join(&hex[..2]).join(hex)
}

pub(crate) fn value_path(root: &Path, key: Digest) -> PathBuf {
    sharded(root, "values", key)
}

pub(crate) fn call_path(root: &Path, key: Digest) -> PathBuf {
    sharded(root, "calls", key)
}

/// The claim table of a key's shard, `root/claims/ab`.
pub(crate) fn claim_table_path(root: &Path, key: Digest) -> PathBuf {
    let hex = key.to_hex();
    root.join("claims").join(&hex[..2])
}

/// The lock file of a key's shard, `root/locks/ab`: writers and claimers of
/// the keys in one shard take turns (a few microseconds each), and there
/// are 256 lock files, made with the store.
pub(crate) fn lock_path(root: &Path, key: Digest) -> PathBuf {
    let hex = key.to_hex();
    root.join("locks").join(&hex[..2])
}

/// The 256 shard names.
fn shards() -> impl Iterator<Item = String> {
    (0..=255u8).map(|b| format!("{b:02x}"))
}

/// Makes every shard directory and lock file; cheap when they exist.
fn make_shards(root: &Path) -> Result<(), StoreError> {
    for dir in ["values", "calls"] {
        for shard in shards() {
            let path = root.join(dir).join(shard);
            fs::create_dir_all(&path).map_err(|e| io_error("create directory", &path, None, e))?;
        }
    }
    // One lock file and one claim table per shard.
    for dir in ["locks", "claims"] {
        let base = root.join(dir);
        fs::create_dir_all(&base).map_err(|e| io_error("create directory", &base, None, e))?;
        for shard in shards() {
            let path = base.join(shard);
            fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| io_error("create file", &path, None, e))?;
        }
    }
    Ok(())
}

/// Checks (or makes) the root: a directory, holding a fleche store of a
/// format this crate reads, or empty.
pub(crate) fn prepare(root: &Path) -> Result<(), StoreError> {
    match fs::metadata(root) {
        Ok(m) if !m.is_dir() => {
            return Err(bad_root(
                root,
                "is a file, not a directory; a file store needs a directory".into(),
            ));
        }
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(root)
                .map_err(|e| io_error("create the store directory", root, None, e))?;
        }
        Err(e) => return Err(io_error("inspect", root, None, e)),
    }
    let marker = root.join(MARKER);
    match fs::read_to_string(&marker) {
        Ok(text) => check_marker(root, &text)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let foreign = fs::read_dir(root)
                .map_err(|e| io_error("list", root, None, e))?
                .filter_map(Result::ok)
                .any(|entry| !SUBDIRS.iter().any(|d| entry.file_name() == *d));
            if foreign {
                return Err(bad_root(
                    root,
                    format!(
                        "holds files but no {MARKER} marker: not a fleche store; use an empty or new directory"
                    ),
                ));
            }
            fs::write(&marker, format!("fleche-file {FORMAT}\n"))
                .map_err(|e| io_error("write the format marker", &marker, None, e))?;
        }
        Err(e) => return Err(io_error("read the format marker", &marker, None, e)),
    }
    if !root.join("locks").join("ff").exists() {
        make_shards(root)?;
    }
    Ok(())
}

fn check_marker(root: &Path, text: &str) -> Result<(), StoreError> {
    let version = text
        .trim()
        .strip_prefix("fleche-file ")
        .and_then(|v| v.parse::<u32>().ok());
    match version {
        Some(v) if v <= FORMAT => Ok(()),
        Some(v) => Err(bad_root(
            root,
            format!(
                "was written by a newer fleche (store format {v}; this version reads up to {FORMAT}); upgrade fleche"
            ),
        )),
        None => Err(bad_root(
            root,
            format!(
                "{MARKER} does not hold a fleche-file format: {:?}",
                text.trim()
            ),
        )),
    }
}

/// Removes the store at `root`: the marker and the directories of the
/// layout, then `root` itself if nothing else is left in it.
pub(crate) fn remove(root: &Path) -> Result<(), StoreError> {
    for dir in SUBDIRS {
        let path = root.join(dir);
        match fs::remove_dir_all(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                return Err(io_error("remove", &path, None, e));
            }
            _ => {}
        }
    }
    let marker = root.join(MARKER);
    match fs::remove_file(&marker) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            return Err(io_error("remove", &marker, None, e));
        }
        _ => {}
    }
    // Whatever else is there is not ours: leave it, and the directory.
    let _ = fs::remove_dir(root);
    Ok(())
}

/// Every key stored under `root/dir` whose hex starts with `prefix`, for
/// listing and queries. Temp files (names starting with a dot) are skipped.
pub(crate) fn keys(root: &Path, dir: &str, prefix: &str) -> Result<Vec<Digest>, StoreError> {
    let prefix = prefix.to_ascii_lowercase();
    let mut out = Vec::new();
    for shard in subdirs(
        &root.join(dir),
        prefix.get(..2.min(prefix.len())).unwrap_or(""),
    )? {
        let entries = match fs::read_dir(&shard) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_error("list", &shard, None, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| io_error("list", &shard, None, e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with('.') || !name.starts_with(prefix.as_str()) {
                continue;
            }
            if let Ok(key) = name.parse::<Digest>() {
                out.push(key);
            }
        }
    }
    Ok(out)
}

/// The subdirectories of `dir` whose names start with `prefix`.
fn subdirs(dir: &Path, prefix: &str) -> Result<Vec<PathBuf>, StoreError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error("list", dir, None, e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io_error("list", dir, None, e))?;
        let name = entry.file_name();
        if name
            .to_str()
            .is_some_and(|n| !n.starts_with('.') && n.starts_with(prefix))
        {
            out.push(entry.path());
        }
    }
    Ok(out)
}
