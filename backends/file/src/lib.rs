//! # fleche-file
//!
//! A [`ValueStore`](fleche_core::ValueStore) and
//! [`CallStore`](fleche_core::CallStore) in a directory tree that many
//! processes — on one machine, or on several sharing a network file system
//! whose locks work — use at once. It is the store fleche uses when nothing
//! is configured.
//!
//! ```text
//! ROOT/
//!   FLECHE-STORE        format marker: "fleche-file 1"
//!   values/ab/<hex>     a value's bytes, under their digest
//!   calls/ab/<hex>      a call record (deterministic CBOR)
//!   locks/ab            one lock file per shard: record writers, claimers
//!   locks/procs/<id>    one per claiming process, locked while it lives
//!   claims/ab           the shard's live claims: owner, host, pid, lease
//! ```
//!
//! - **Atomic writes**: a temp file in the target's directory, written,
//!   optionally fsynced, then renamed over the target: a reader sees the
//!   old file or the new one, never a part.
//! - **Writers of one record** hold its lock file (an advisory lock), so
//!   the write that finishes last is the one that stays; waiting is bounded
//!   and a timeout is a clear `Conflict` error.
//! - **Claims** are entries of the shard's claim table, changed under the
//!   shard's lock; each claiming process keeps an advisory lock on a file of
//!   its own while it lives, so a claim whose holder died is taken over at
//!   once on the same host, and by its lease elsewhere.
//! - **Verified reads**: a value file whose bytes do not match its digest,
//!   or a record that does not decode, is reported `Corrupt`; the cache
//!   treats that as a miss and its recomputation overwrites the file.
//!
//! File operations are short and run inline on the calling task (a hit is
//! one small read; handing it to a thread pool would cost more than the
//! read). Waiting for a lock held by another writer sleeps on Tokio's timer,
//! so the store's futures run inside a Tokio runtime — as they do under a
//! `#[fleche]` function, whose sync bridge provides one.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use fleche_core::{Bytes, Digest, ValueStore};
//! let dir = tempfile::tempdir().unwrap();
//! let store = fleche_file::FileStore::open(dir.path()).unwrap();
//! let bytes = Bytes::from_static(b"hello");
//! store.put(Digest::of(&bytes), bytes.clone()).await.unwrap();
//! assert_eq!(store.get(Digest::of(&bytes)).await.unwrap(), Some(bytes));
//! # });
//! ```

#![forbid(unsafe_code)]

mod calls;
mod claims;
mod config;
mod fsio;
mod layout;
mod values;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use fleche_core::StoreError;

pub use claims::prune_process_files;
pub use config::FileOptions;
pub use layout::{FORMAT, MARKER};

/// The backend name in errors.
pub const BACKEND: &str = "file";

/// A value store and call store in a directory. Cheap to clone.
#[derive(Clone, Debug)]
pub struct FileStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    root: PathBuf,
    options: FileOptions,
}

impl FileStore {
    /// Opens (creating if needed) the store at `root` with default options.
    pub fn open(root: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(root, FileOptions::default())
    }

    /// Opens (creating if needed) the store at `root`.
    ///
    /// Fails clearly if `root` is a file, is not writable, holds something
    /// that is not a fleche store, or was written by a newer format.
    pub fn open_with(root: impl AsRef<Path>, options: FileOptions) -> Result<Self, StoreError> {
        let root = root.as_ref().to_path_buf();
        layout::prepare(&root)?;
        Ok(Self {
            inner: Arc::new(Inner { root, options }),
        })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// The options.
    pub fn options(&self) -> &FileOptions {
        &self.inner.options
    }
}
