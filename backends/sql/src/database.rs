//! What differs between SQLite and PostgreSQL, and nothing else.
//!
//! The store ([`SqlStore`](crate::SqlStore)) is written once over this
//! trait. Each database implements it in its own module ([`crate::sqlite`],
//! [`crate::postgres`]) with: how to connect from a URL, the few SQL
//! fragments that differ (the clock, JSON, casts, the schema's tables),
//! how its migrations run, how its error codes read, and — for SQLite — a
//! faster way to read a hit. The statements themselves are in
//! [`crate::statements`]; placeholders are `$1, $2, …` in both databases.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use fleche_core::driver::{OpenError, StoreUrl, UrlOption};
use fleche_core::{Digest, ErrorKind, Metadata, StoreError};
use sqlx::migrate::{MigrateError, Migrator};

use crate::SqlOptions;
use crate::error::store_error;
use crate::exec::Exec;
use crate::filter::Sql;
use crate::rows::Hit;

/// A database a [`SqlStore`](crate::SqlStore) keeps its tables in: its
/// connection pool, and what else it needs to reach them. Implemented by
/// this crate's [`Sqlite`](crate::Sqlite) and [`Postgres`](crate::Postgres)
/// only.
pub(crate) trait Database: fmt::Debug + Sized + Send + Sync + 'static {
    /// The backend name in errors; the store's `BACKEND`.
    const BACKEND: &'static str;
    /// The store's type name, in `Debug`.
    const STORE: &'static str;
    /// The URL schemes that name such a database.
    const SCHEMES: &'static [&'static str];
    /// Every option its URLs take (see [`SqlOptions::URL_OPTIONS`]).
    const URL_OPTIONS: &'static [UrlOption];

    /// The connection pool, on which [`crate::exec`] runs statements.
    type Pool: Exec;

    /// Connects to the database `url` names, with `options` (already read
    /// from the URL): one connection first, so that a refusal is reported
    /// at once with its cause, then the pool.
    fn connect(
        url: &StoreUrl,
        options: &SqlOptions,
    ) -> impl Future<Output = Result<Self, OpenError>> + Send;

    /// The pool.
    fn pool(&self) -> &Self::Pool;

    // ---- SQL fragments -------------------------------------------------

    /// The database's clock, in the unit of `fleche_claims.expires_at`.
    const NOW: &'static str;
    /// The `expires_at` of a lease of `$3` milliseconds from now (claim and
    /// renew both bind the lease third).
    const LEASE: &'static str;
    /// The milliseconds left of a claim's lease, zero if it has expired.
    const REMAINING_MS: &'static str;
    /// How a JSON parameter is written into a JSON column (a cast, or
    /// nothing where JSON is text).
    const TEXT_TO_JSON: &'static str;
    /// How a JSON column is read as text.
    const JSON_TO_TEXT: &'static str;
    /// A statement that returns a row if the migrations table exists.
    const HAS_MIGRATIONS: &'static str;

    /// A record's metadata as the JSON text its column is written from.
    fn metadata_json(metadata: &Metadata) -> serde_json::Result<String> {
        serde_json::to_string(metadata)
    }

    /// Appends a condition: the record has argument `name` with `digest`.
    fn arg_condition(sql: &mut Sql, name: &str, digest: &Digest);

    /// Appends a condition: the record's metadata at `path` equals `value`.
    fn metadata_condition(sql: &mut Sql, path: &[&str], value: &serde_json::Value);

    // ---- Schema ----------------------------------------------------------

    /// The migrations this crate ships for the database.
    fn migrator() -> &'static Migrator;

    /// Applies the migrations the database lacks (creating what holds the
    /// tables, if the database has such a thing).
    fn run_migrations(&self) -> impl Future<Output = Result<(), MigrateError>> + Send;

    /// The statements that remove everything the store holds.
    fn destroy_statements(&self) -> Vec<String>;

    // ---- Everything else -------------------------------------------------

    /// The kind of an error the database reported with `code`: a SQLite
    /// result code, a PostgreSQL SQLSTATE.
    fn error_kind(code: &str) -> ErrorKind;

    /// Reads a hit without the pool, where the database has a faster way
    /// (SQLite: on the calling thread). `None`: read it through the pool.
    fn read_hit(&self, sql: &str, key: Digest) -> Option<Result<Option<Hit>, StoreError>> {
        let _ = (sql, key);
        None
    }

    /// Whether the data outlives the process (not an in-memory SQLite).
    fn persistent(&self) -> bool;
}

/// Opens one connection with `options`, and closes it: a refused
/// connection, a wrong password or a file that is not a database is
/// reported at once with the driver's cause, where a pool would retry until
/// its timeout and then report only that it timed out. `opening` says what
/// was being opened ("cannot connect to db.internal:5432").
pub(crate) async fn try_connect<D, O>(
    options: &O,
    timeout: Duration,
    opening: &str,
) -> Result<(), StoreError>
where
    D: Database,
    O: sqlx::ConnectOptions<Connection: Sized>,
{
    match tokio::time::timeout(timeout, options.connect()).await {
        Ok(Ok(connection)) => {
            // Closing politely is a courtesy; a failure to is no failure to
            // open.
            let _ = sqlx::Connection::close(connection).await;
            Ok(())
        }
        Ok(Err(e)) => Err(store_error::<D>(opening, e)),
        Err(_) => Err(StoreError::new(
            ErrorKind::Unavailable,
            D::BACKEND,
            format!("{opening}: no answer within {timeout:?}"),
        )),
    }
}
