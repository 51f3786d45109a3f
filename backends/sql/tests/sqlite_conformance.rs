//! SQLite runs the whole conformance suite, cross-process cases included:
//! the child processes open the same database file.

use fleche_conformance::{Factory, Location, Stores};
use fleche_core::{Digest, ErrorKind, StoreError, async_trait};
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

    /// Writes columns that cannot make a record into the record's row,
    /// through a connection of its own: a result digest of 2 bytes (what
    /// the hit path reads), arguments and metadata that are not JSON.
    async fn damage_record(&self, at: &Location, key: Digest) -> Result<bool, StoreError> {
        use sqlx::ConnectOptions;
        use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
        let path = at.0.trim_start_matches("sqlite://");
        let sql = |e: sqlx::Error| {
            StoreError::new(ErrorKind::Backend, "sqlite", "cannot damage the record")
                .with_key(key)
                .with_source(e)
        };
        let mut conn = SqliteConnectOptions::new()
            .filename(path)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(std::time::Duration::from_secs(10))
            .connect()
            .await
            .map_err(sql)?;
        let done = sqlx::query(
            "UPDATE fleche_calls SET result_digest = X'DEAD', args = 'not json', \
             metadata = '{\"cut' WHERE key = ?",
        )
        .bind(key.as_bytes().to_vec())
        .execute(&mut conn)
        .await
        .map_err(sql)?;
        sqlx::Connection::close(conn).await.map_err(sql)?;
        if done.rows_affected() != 1 {
            return Err(
                StoreError::new(ErrorKind::Backend, "sqlite", "no record to damage").with_key(key),
            );
        }
        Ok(true)
    }
}

fleche_conformance::suite!(
    factory: SqliteFactory,
    claims: true,
    persistent: true,
    processes: true,
    damage: true,
);
