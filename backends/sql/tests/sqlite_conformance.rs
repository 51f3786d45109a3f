//! SQLite runs the whole conformance suite, cross-process cases included:
//! the child processes open the same database file.

use fleche_conformance::{Factory, Location, Stores};
use fleche_core::{ErrorKind, StoreError, async_trait};
use fleche_sql::SqliteStore;

mod common;
use common::store_error;

/// A fresh database file in a fresh directory per case; its URL is the
/// location.
struct SqliteFactory;

fn io_error(e: std::io::Error) -> StoreError {
    StoreError::new(ErrorKind::Backend, "sqlite", e.to_string())
}

#[async_trait]
impl Factory for SqliteFactory {
    async fn create(&self) -> Result<Location, StoreError> {
        let dir = tempfile::Builder::new()
            .prefix("fleche sqlite conformance ")
            .tempdir()
            .map_err(io_error)?;
        let path = dir.keep().join("cache.db");
        Ok(Location(format!("sqlite://{}", path.display())))
    }

    async fn open(&self, at: &Location) -> Result<Stores, StoreError> {
        let store = SqliteStore::open(&at.0).await.map_err(store_error)?;
        Ok(Stores::both(std::sync::Arc::new(store)))
    }

    async fn destroy(&self, at: &Location) -> Result<(), StoreError> {
        let path = at.0.trim_start_matches("sqlite://");
        let dir = std::path::Path::new(path).parent().expect("a directory");
        std::fs::remove_dir_all(dir).map_err(io_error)
    }
}

fleche_conformance::suite!(
    factory: SqliteFactory,
    claims: true,
    persistent: true,
    processes: true,
);
