//! Options of a file store.

use std::time::Duration;

/// How a [`FileStore`](crate::FileStore) writes.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FileOptions {
    /// fsync each file (and its directory) before it counts as written, so
    /// a power cut cannot lose it. Off, a crash of the process still leaves
    /// old or new files, never torn ones; only the machine's crash can lose
    /// the last writes.
    pub fsync: bool,
    /// The longest wait for another writer's lock on one record.
    pub lock_timeout: Duration,
}

impl Default for FileOptions {
    fn default() -> Self {
        Self {
            fsync: true,
            lock_timeout: Duration::from_secs(30),
        }
    }
}

impl FileOptions {
    /// Sets [`FileOptions::fsync`].
    pub fn fsync(mut self, on: bool) -> Self {
        self.fsync = on;
        self
    }

    /// Sets [`FileOptions::lock_timeout`].
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }
}
