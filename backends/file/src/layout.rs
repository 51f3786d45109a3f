//! Where things are under the root, and the format marker.

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use fleche_core::{Digest, StoreError};

use crate::error::{bad_root, io_error};
use crate::fsio;

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

/// Makes every shard directory and lock file that is missing. What exists
/// is skipped after a `stat`, which takes no lock: a `mkdir` or `O_CREAT`
/// takes the directory's lock even when the entry exists, and processes
/// making one store at once would queue on it.
fn make_shards(root: &Path) -> Result<(), StoreError> {
    for dir in ["values", "calls"] {
        for shard in shards() {
            let path = root.join(dir).join(shard);
            if !path.is_dir() {
                fs::create_dir_all(&path)
                    .map_err(|e| io_error("create directory", &path, None, e))?;
            }
        }
    }
    // One lock file and one claim table per shard.
    for dir in ["locks", "claims"] {
        let base = root.join(dir);
        fs::create_dir_all(&base).map_err(|e| io_error("create directory", &base, None, e))?;
        for shard in shards() {
            let path = base.join(shard);
            if !path.is_file() {
                fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .map_err(|e| io_error("create file", &path, None, e))?;
            }
        }
    }
    Ok(())
}

/// Checks (or makes) the root: a directory, holding a fleche store of a
/// format this crate reads, or empty.
///
/// Many processes may open a new directory at once (the default cache on a
/// fresh machine, a pool of fresh workers), so making a store is idempotent
/// and the marker comes last, whole and at once: a marker that exists is
/// never empty or partial, and says that the layout under it is complete.
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
        Ok(text) => {
            check_marker(root, &text)?;
            // Stores made before the marker came last may lack shards;
            // `claims/ff` is the last thing `make_shards` makes.
            if !root.join("claims").join("ff").exists() {
                make_shards(root)?;
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => create(root, &marker),
        Err(e) => Err(io_error("read the format marker", &marker, None, e)),
    }
}

/// Makes the store in `root`, which had no marker: new, being made by
/// other processes right now, or left half-made by a process that died.
fn create(root: &Path, marker: &Path) -> Result<(), StoreError> {
    // Anything a maker does not put there means the directory is someone
    // else's: refuse it, writing nothing.
    let foreign = fs::read_dir(root)
        .map_err(|e| io_error("list", root, None, e))?
        .filter_map(Result::ok)
        .any(|entry| !made_by_a_maker(&entry.file_name()));
    if foreign {
        return Err(bad_root(
            root,
            format!(
                "holds files but no {MARKER} marker: not a fleche store; use an empty or new directory"
            ),
        ));
    }
    make_shards(root)?;
    // The marker: its text in a temp file of our own (fsynced, so that a
    // power cut cannot leave it empty), then linked to its name. A link
    // never replaces a file: the first maker's marker stays, and the others
    // find it there (AlreadyExists), whole.
    let text = format!("fleche-file {FORMAT}\n");
    let tmp = fsio::write_temp(marker, text.as_bytes(), true)
        .map_err(|e| io_error("write the format marker", marker, None, e))?;
    let published = match fs::hard_link(&tmp, marker) {
        // A file system without hard links (FAT, some FUSE mounts): a
        // rename shows a whole marker too; makers racing here write the
        // same text.
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => fs::rename(&tmp, marker),
        other => other,
    };
    let _ = fs::remove_file(&tmp);
    match published {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let text = fs::read_to_string(marker)
                .map_err(|e| io_error("read the format marker", marker, None, e))?;
            check_marker(root, &text)
        }
        Err(e) => Err(io_error("write the format marker", marker, None, e)),
    }
}

/// What a process making a store puts in the root: the layout's
/// directories, marker temp files, and at last the marker (which may
/// appear while we look). A maker killed midway leaves these; the next
/// opener completes the store, and a dead maker's temp file stays, ignored,
/// until the store is removed.
fn made_by_a_maker(name: &OsStr) -> bool {
    name == MARKER
        || SUBDIRS.iter().any(|d| name == *d)
        || name.to_str().is_some_and(|n| fsio::is_temp_of(n, MARKER))
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
    // Marker temp files of makers that died before they removed them.
    for entry in fs::read_dir(root).into_iter().flatten().flatten() {
        if entry
            .file_name()
            .to_str()
            .is_some_and(|n| fsio::is_temp_of(n, MARKER))
        {
            let _ = fs::remove_file(entry.path());
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// What a maker that is still at work (or died) leaves: some of the
    /// layout, and a marker temp file with part of its text.
    fn half_made(root: &Path) -> PathBuf {
        fs::create_dir_all(root.join("values").join("00")).unwrap();
        fs::create_dir_all(root.join("locks")).unwrap();
        fs::write(root.join("locks").join("00"), b"").unwrap();
        let tmp = root.join(format!(".tmp-4242-{:016x}-0-{MARKER}", 7));
        fs::write(&tmp, b"fleche-f").unwrap();
        tmp
    }

    #[test]
    fn a_store_being_made_opens_and_is_completed() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = half_made(dir.path());
        prepare(dir.path()).unwrap();
        assert_eq!(
            fs::read_to_string(dir.path().join(MARKER)).unwrap(),
            "fleche-file 1\n"
        );
        assert!(dir.path().join("claims").join("ff").is_file());
        // The other maker's temp file is not ours to remove while it may
        // still link it; it is ignored, and reopening works.
        assert!(tmp.exists());
        prepare(dir.path()).unwrap();
        // Removing the store removes it too.
        remove(dir.path()).unwrap();
        assert!(!dir.path().exists());
    }

    #[test]
    fn a_store_being_made_with_an_unrelated_file_is_refused() {
        for name in [
            "notes.txt",
            ".tmp-1-FLECHE-STORE-old",
            ".tmp-1-XFLECHE-STORE",
        ] {
            let dir = tempfile::tempdir().unwrap();
            half_made(dir.path());
            fs::write(dir.path().join(name), b"mine").unwrap();
            let err = prepare(dir.path()).unwrap_err().to_string();
            assert!(err.contains("not a fleche store"), "{name}: {err}");
            assert!(!dir.path().join(MARKER).exists(), "{name}");
            assert!(!dir.path().join("calls").exists(), "{name}: nothing made");
        }
    }

    #[test]
    fn marker_temp_names_are_recognised() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = fsio::write_temp(&dir.path().join(MARKER), b"", false).unwrap();
        let name = tmp.file_name().unwrap().to_str().unwrap().to_owned();
        assert!(made_by_a_maker(OsStr::new(&name)), "{name}");
        assert!(!made_by_a_maker(OsStr::new(".tmp-1-2-values")));
    }
}
