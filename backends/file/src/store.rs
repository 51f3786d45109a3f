//! The store: a root directory and the options it was opened with.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use fleche_core::StoreError;

use crate::{FileOptions, layout};

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
    /// The backend name in errors.
    pub const BACKEND: &'static str = "file";

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

    /// Removes everything the store holds — values, records, locks,
    /// claims and the format marker — and the root directory if nothing
    /// else is in it (files that are not the store's stay). Other handles
    /// on the directory fail afterwards: open it again to start over.
    pub async fn destroy(&self) -> Result<(), StoreError> {
        layout::remove(self.root())
    }
}
