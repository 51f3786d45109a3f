//! The store: one implementation for both databases, over [`Database`].
//!
//! [`SqlStore`] holds the database (its pool, and what else it needs), the
//! statements made for it, and the URL it was opened with (without
//! secrets). The trait impls are in [`crate::values`] and [`crate::calls`].

use std::fmt;
use std::sync::Arc;

use fleche_core::bridge::on_fleche_runtime;
use fleche_core::driver::{OpenError, StoreUrl, UrlError, UrlOption};
use fleche_core::{Digest, StoreError};

use crate::database::Database;
use crate::error::store_error;
use crate::exec::Exec;
use crate::statements::Statements;
use crate::{SqlOptions, schema};

/// A value store and call store in a SQL database: [`SqliteStore`] or
/// [`PgStore`]. Cheap to clone.
///
/// [`SqliteStore`]: crate::SqliteStore
/// [`PgStore`]: crate::PgStore
pub struct SqlStore<D> {
    inner: Arc<Inner<D>>,
}

struct Inner<D> {
    db: D,
    sql: Statements,
    /// The URL without its secrets.
    url: String,
}

impl<D> Clone for SqlStore<D> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

// The bound is this crate's own trait: `SqlStore` exists as `SqliteStore`
// and `PgStore`, and users never name `Database`.
#[allow(private_bounds)]
impl<D: Database> SqlStore<D> {
    /// The backend name in errors: `"sqlite"` or `"postgres"`.
    pub const BACKEND: &'static str = D::BACKEND;

    /// The options the store's URLs take: [`SqlOptions::URL_OPTIONS`] that
    /// apply to the database, and the database's own.
    pub const URL_OPTIONS: &'static [UrlOption] = D::URL_OPTIONS;

    /// Opens the store at `url` with default [`SqlOptions`] (see
    /// [`SqlStore::open_with`]).
    pub async fn open(url: &str) -> Result<Self, OpenError> {
        Self::open_with(url, SqlOptions::default()).await
    }

    /// Opens the store at `url`, starting from `options` (the URL's
    /// options are set over them), and sets up the tables if needed. Fails
    /// at once, with the driver's cause, if the database cannot be reached.
    pub async fn open_with(url: &str, options: SqlOptions) -> Result<Self, OpenError> {
        // Sockets and tasks the pool makes belong to fleche's runtime, which
        // outlives the caller's (this may be called from any runtime).
        on_fleche_runtime(async {
            let url = StoreUrl::parse(url)?;
            if !D::SCHEMES.contains(&url.scheme()) {
                let problem = format!(
                    "{} opens {}: URLs, not {}:",
                    D::STORE,
                    D::SCHEMES.join(": and "),
                    url.scheme()
                );
                return Err(UrlError::malformed(problem).into());
            }
            url.check_options(Self::URL_OPTIONS)?;
            Self::open_url(&url, options).await
        })
        .await
    }

    /// Opens the store at the parsed `url`, whose options are checked: what
    /// [`open_with`](Self::open_with) and the driver share.
    pub(crate) async fn open_url(url: &StoreUrl, options: SqlOptions) -> Result<Self, OpenError> {
        let options = options.with_url(url)?;
        let db = D::connect(url, &options).await?;
        let store = Self {
            inner: Arc::new(Inner {
                db,
                sql: Statements::new::<D>(),
                url: url.redacted(),
            }),
        };
        schema::migrate(&store.inner.db, &store.inner.sql).await?;
        Ok(store)
    }

    /// The URL, without its secrets.
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// Removes everything the store holds: on PostgreSQL its schema, on
    /// SQLite its tables (the migrations' included), leaving an empty
    /// database file. Other handles on the store fail afterwards: open it
    /// again to start over.
    pub async fn destroy(&self) -> Result<(), StoreError> {
        for statement in self.db().destroy_statements() {
            let sql = crate::exec::Text::new(statement);
            self.exec()
                .execute(&sql, vec![])
                .await
                .map_err(|e| self.error("cannot destroy the store", None, e))?;
        }
        Ok(())
    }

    pub(crate) fn db(&self) -> &D {
        &self.inner.db
    }

    pub(crate) fn exec(&self) -> &D::Pool {
        self.inner.db.pool()
    }

    pub(crate) fn sql(&self) -> &Statements {
        &self.inner.sql
    }

    /// The error of a statement that failed while the store was `doing`
    /// something with `key`.
    pub(crate) fn error(&self, doing: &str, key: Option<Digest>, e: sqlx::Error) -> StoreError {
        let e = store_error::<D>(doing, e);
        match key {
            Some(key) => e.with_key(key),
            None => e,
        }
    }
}

#[cfg(feature = "sqlite")]
impl SqlStore<crate::Sqlite> {
    /// The connection pool, for statements of your own.
    pub fn pool(&self) -> &sqlx::SqlitePool {
        self.exec()
    }
}

#[cfg(feature = "postgres")]
impl SqlStore<crate::Postgres> {
    /// The connection pool, for statements of your own (its connections'
    /// `search_path` is the store's schema).
    pub fn pool(&self) -> &sqlx::PgPool {
        self.exec()
    }

    /// The schema that holds the tables.
    pub fn schema(&self) -> &str {
        self.db().schema()
    }
}

impl<D: Database> fmt::Debug for SqlStore<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(D::STORE)
            .field("url", &self.inner.url)
            .field("database", &self.inner.db)
            .finish_non_exhaustive()
    }
}
