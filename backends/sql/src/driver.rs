//! The drivers: `sqlite:///path`, `sqlite::memory:`, `postgres://…`.

use std::sync::Arc;

use fleche_core::async_trait;
use fleche_core::driver::{Driver, OpenError, StoreUrl, Stores, UrlOption};

use crate::SqlOptions;
use crate::database::Database;

/// Opens `sqlite:///absolute/path/cache.db` (`%20` for a space; the
/// directory is made if missing) and `sqlite::memory:` (a private
/// in-process database). Takes the options of [`SqliteStore::URL_OPTIONS`](crate::SqlStore::URL_OPTIONS).
///
/// A URL that names no absolute path is refused with what to write
/// instead: `sqlite://cache.db` would name a host `cache.db`, and
/// `sqlite://` names no file at all.
///
/// ```
/// # fleche_core::bridge::block_on(async {
/// fleche_core::driver::register(fleche_sql::SqliteDriver);
/// let dir = tempfile::tempdir().unwrap();
/// let url = format!("sqlite://{}/cache.db?busy_timeout_ms=1000", dir.path().display());
/// let cache = fleche_core::driver::open(&url).await.unwrap();
/// assert!(dir.path().join("cache.db").exists());
/// let err = fleche_core::driver::open("sqlite://cache.db").await.unwrap_err();
/// assert!(fleche_core::ErrorChain(&err).to_string().contains("sqlite:///"));
/// # });
/// ```
#[cfg(feature = "sqlite")]
#[derive(Clone, Copy, Debug, Default)]
pub struct SqliteDriver;

#[cfg(feature = "sqlite")]
#[async_trait]
impl Driver for SqliteDriver {
    fn schemes(&self) -> &[&str] {
        crate::Sqlite::SCHEMES
    }

    fn help(&self) -> &str {
        "sqlite:///absolute/path/cache.db (a database file that the processes of a machine share) or sqlite::memory:"
    }

    fn options(&self) -> &[UrlOption] {
        crate::SqliteStore::URL_OPTIONS
    }

    async fn open(&self, url: &StoreUrl) -> Result<Stores, OpenError> {
        let store = crate::SqliteStore::open_url(url, SqlOptions::default()).await?;
        Ok(Stores::both(Arc::new(store)))
    }
}

/// Opens `postgres://user[:password]@host[:port]/database?schema=NAME`
/// (also `postgresql://`): the tables in that schema, created if missing.
/// Takes the options of [`PgStore::URL_OPTIONS`](crate::SqlStore::URL_OPTIONS).
#[cfg(feature = "postgres")]
#[derive(Clone, Copy, Debug, Default)]
pub struct PgDriver;

#[cfg(feature = "postgres")]
#[async_trait]
impl Driver for PgDriver {
    fn schemes(&self) -> &[&str] {
        crate::Postgres::SCHEMES
    }

    fn help(&self) -> &str {
        "postgres://user[:password]@host[:port]/database?schema=NAME (also postgresql://): a PostgreSQL schema that many machines share"
    }

    fn options(&self) -> &[UrlOption] {
        crate::PgStore::URL_OPTIONS
    }

    async fn open(&self, url: &StoreUrl) -> Result<Stores, OpenError> {
        let store = crate::PgStore::open_url(url, SqlOptions::default()).await?;
        Ok(Stores::both(Arc::new(store)))
    }
}
