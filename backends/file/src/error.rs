//! The store's errors: I/O failures that say what failed where, damaged
//! files, and locks not granted in time.

use std::io;
use std::path::Path;

use fleche_core::{Digest, ErrorKind, StoreError};

use crate::FileStore;

/// A `StoreError` for an I/O failure: what was being done, to which path.
pub(crate) fn io_error(doing: &str, path: &Path, key: Option<Digest>, e: io::Error) -> StoreError {
    let kind = match e.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock => {
            ErrorKind::Unavailable
        }
        _ => ErrorKind::Backend,
    };
    let hint = match e.kind() {
        io::ErrorKind::PermissionDenied => {
            " (permission denied: check the directory's owner and mode)"
        }
        io::ErrorKind::StorageFull => " (the disk is full)",
        io::ErrorKind::NotADirectory => " (a path component is a file, not a directory)",
        io::ErrorKind::ReadOnlyFilesystem => " (the file system is read-only)",
        _ => "",
    };
    // The OS's words are the source, not repeated here.
    let err = StoreError::new(
        kind,
        FileStore::BACKEND,
        format!("cannot {doing} {}{hint}", path.display()),
    )
    .with_source(e);
    match key {
        Some(k) => err.with_key(k),
        None => err,
    }
}

/// Damaged data under `key`.
pub(crate) fn corrupt(key: Digest, what: String) -> StoreError {
    StoreError::new(ErrorKind::Corrupt, FileStore::BACKEND, what).with_key(key)
}

/// A lock on `key`'s files not granted.
pub(crate) fn conflict(key: Digest, what: String) -> StoreError {
    StoreError::new(ErrorKind::Conflict, FileStore::BACKEND, what).with_key(key)
}

/// A root directory that cannot hold a store, or holds another one.
pub(crate) fn bad_root(root: &Path, problem: String) -> StoreError {
    StoreError::new(
        ErrorKind::Backend,
        FileStore::BACKEND,
        format!("{}: {problem}", root.display()),
    )
}
