//! The file store runs the whole conformance suite, cross-process cases
//! included: the child processes open the same directory.

use fleche_conformance::{Factory, Location, Stores};
use fleche_core::{Digest, ErrorKind, StoreError, async_trait};
use fleche_file::{FileOptions, FileStore};

/// A fresh directory per case; its path is the location. fsync is off:
/// the suite checks concurrency and atomicity, not power cuts.
struct FileFactory;

#[async_trait]
impl Factory for FileFactory {
    async fn create(&self) -> Result<Location, StoreError> {
        let dir = tempfile::Builder::new()
            .prefix("fleche file conformance ü ")
            .tempdir()
            .map_err(|e| StoreError::new(ErrorKind::Backend, "file", e.to_string()))?;
        Ok(Location(dir.keep().to_string_lossy().into_owned()))
    }

    async fn open(&self, at: &Location) -> Result<Stores, StoreError> {
        let store = FileStore::open_with(&at.0, FileOptions::default().fsync(false))?;
        Ok(Stores::both(std::sync::Arc::new(store)))
    }

    async fn destroy(&self, at: &Location) -> Result<(), StoreError> {
        std::fs::remove_dir_all(&at.0)
            .map_err(|e| StoreError::new(ErrorKind::Backend, "file", e.to_string()))
    }

    /// Cuts the record's file, `calls/ab/<hex>`, to half its length, as a
    /// copy or a disk that stopped half way would leave it.
    async fn damage_record(&self, at: &Location, key: Digest) -> Result<bool, StoreError> {
        let hex = key.to_hex();
        let path = std::path::Path::new(&at.0)
            .join("calls")
            .join(&hex[..2])
            .join(&hex);
        let io = |e: std::io::Error| {
            StoreError::new(
                ErrorKind::Backend,
                "file",
                format!("cannot damage {}: {e}", path.display()),
            )
        };
        let len = std::fs::metadata(&path).map_err(io)?.len();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_len(len / 2))
            .map_err(io)?;
        Ok(true)
    }
}

fleche_conformance::suite!(
    factory: FileFactory,
    claims: true,
    persistent: true,
    processes: true,
    damage: true,
);
