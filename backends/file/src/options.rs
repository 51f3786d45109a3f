//! Options of a file store, and the URL options that set them.

use std::time::Duration;

use fleche_core::driver::{StoreUrl, UrlError, UrlOption};

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
    /// The options a `file://` URL may carry.
    pub const URL_OPTIONS: &'static [UrlOption] = &[
        UrlOption::new(
            "fsync",
            "false: do not fsync each write (a machine crash may lose the last writes; default true)",
        ),
        UrlOption::new(
            "lock_timeout_ms",
            "the longest wait for another writer's lock on one record (default 30000)",
        ),
    ];

    /// These options with the ones `url` gives set over them.
    ///
    /// ```
    /// use fleche_core::StoreUrl;
    /// let url = StoreUrl::parse("file:///data/cache?fsync=false").unwrap();
    /// let options = fleche_file::FileOptions::default().with_url(&url).unwrap();
    /// assert!(!options.fsync);
    /// ```
    pub fn with_url(mut self, url: &StoreUrl) -> Result<Self, UrlError> {
        if let Some(fsync) = url.flag("fsync")? {
            self.fsync = fsync;
        }
        if let Some(timeout) = url.millis("lock_timeout_ms")? {
            self.lock_timeout = timeout;
        }
        Ok(self)
    }

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
