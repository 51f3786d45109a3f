//! # fleche-file
//!
//! A [`ValueStore`](fleche_core::ValueStore) and
//! [`CallStore`](fleche_core::CallStore) in a directory tree that many
//! processes — on one machine, or on several sharing a network file system
//! whose locks work — use at once. It is the store fleche uses when nothing
//! is configured.
//!
//! ## URL
//!
//! `file:///absolute/path/to/dir` (`%20` for a space; `file://localhost/…`
//! too), opened by [`FileDriver`]; the directory is made if missing. Forms
//! that would mean something else are refused with what to write:
//! `file://dir/x` names a host `dir`, `file:/x` and `file:x` lack the `//`.
//! From code: [`FileStore::open`] and [`FileStore::open_with`] take a path.
//!
//! ## Options
//!
//! [`FileOptions`], in the URL as [`FileOptions::URL_OPTIONS`]:
//! `fsync` (default `true`) and `lock_timeout_ms` (default 30000).
//!
//! ## Guarantees
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
//! - **Creation**: any number of processes may open a new directory at
//!   once. Each makes whatever of the layout is missing, then the marker
//!   appears last, whole, by a hard link of a complete temp file: an opener
//!   sees no marker (and helps make the store) or a whole one, and a
//!   directory holding only what a maker puts there is never taken for a
//!   foreign one.
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
//! ## Deployment
//!
//! One directory per cache, on a local disk or a network file system whose
//! advisory locks work (NFSv4, Lustre and GPFS with locking on). With
//! `fsync=false` a process crash still loses nothing; a machine crash may
//! lose the last writes. [`FileStore::destroy`] removes the store's files.
//!
//! ## Limits
//!
//! File operations are short and run inline on the calling task (a hit is
//! one small read; handing it to a thread pool would cost more than the
//! read). Waiting for a lock held by another writer sleeps on Tokio's timer,
//! so the store's futures run inside a Tokio runtime — as they do under a
//! `#[fleche]` function, whose sync bridge provides one. Nothing is
//! evicted: the directory grows until entries are deleted.
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
mod driver;
mod error;
mod fsio;
mod layout;
mod options;
mod store;
mod values;

pub use claims::prune_process_files;
pub use driver::FileDriver;
pub use layout::{FORMAT, MARKER};
pub use options::FileOptions;
pub use store::FileStore;
