//! The driver: `file:///path/to/dir`.

use std::sync::Arc;

use fleche_core::async_trait;
use fleche_core::driver::{Driver, OpenError, StoreUrl, Stores, UrlOption};

use crate::{FileOptions, FileStore};

/// Opens `file:///absolute/path/to/dir` (`%20` for a space; also
/// `file://localhost/…`), creating the store if the directory is empty or
/// missing. Takes the options of [`FileOptions::URL_OPTIONS`].
///
/// A URL that names no absolute path is refused with what to write
/// instead: `file://dir/x` would name a host `dir`, and `file:/x` or
/// `file:x` miss the `//`.
///
/// ```
/// # fleche_core::bridge::block_on(async {
/// fleche_core::driver::register(fleche_file::FileDriver);
/// let dir = tempfile::tempdir().unwrap();
/// let url = format!("file://{}?fsync=false", dir.path().display());
/// let cache = fleche_core::driver::open(&url).await.unwrap();
/// assert!(dir.path().join(fleche_file::MARKER).exists());
/// let err = fleche_core::driver::open("file://relative/dir").await.unwrap_err();
/// assert!(fleche_core::ErrorChain(&err).to_string().contains("names a host `relative`"));
/// # });
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct FileDriver;

#[async_trait]
impl Driver for FileDriver {
    fn schemes(&self) -> &[&str] {
        &["file"]
    }

    fn help(&self) -> &str {
        "file:///absolute/path: a directory tree that the processes of a machine (or of a shared file system) share"
    }

    fn options(&self) -> &[UrlOption] {
        FileOptions::URL_OPTIONS
    }

    async fn open(&self, url: &StoreUrl) -> Result<Stores, OpenError> {
        let root = url.local_path()?;
        let options = FileOptions::default().with_url(url)?;
        Ok(Stores::both(Arc::new(FileStore::open_with(root, options)?)))
    }
}
