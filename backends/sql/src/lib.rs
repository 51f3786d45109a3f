//! # fleche-sql
//!
//! A [`ValueStore`](fleche_core::ValueStore) and
//! [`CallStore`](fleche_core::CallStore) in a SQL database, through sqlx:
//!
//! - [`SqliteStore`] (feature `sqlite`): one embedded database file that many
//!   processes on one machine share — WAL mode and a busy timeout, so
//!   concurrent writers wait their turn instead of failing — or an
//!   in-process `sqlite::memory:` database.
//! - [`PgStore`] (feature `postgres`): a PostgreSQL database that many
//!   machines share; each cache lives in its own schema.
//!
//! Both are one implementation, [`SqlStore`], over what differs between the
//! two databases (their clock, JSON, connection options, error codes, and
//! SQLite's faster reads of a hit).
//!
//! ## URL
//!
//! | URL | store |
//! |---|---|
//! | `sqlite:///abs/path/cache.db` | a SQLite file (`%20` for a space); its directory is made if missing |
//! | `sqlite::memory:` | a private in-process database, gone with the store |
//! | `postgres://user[:password]@host[:port]/db?schema=NAME` | a PostgreSQL schema (default `fleche`), created if missing; `postgresql://` too |
//!
//! A SQLite URL takes an absolute path: `sqlite://cache.db` (which would
//! name a host `cache.db`) and `sqlite://` (no file at all) are refused with
//! what to write instead. The drivers are [`SqliteDriver`] and
//! [`PgDriver`]; the `fleche` crate registers them under its features
//! `sqlite` and `postgres`.
//!
//! ## Options
//!
//! In the query string, beside the cache's own (`strict`, …):
//!
//! | option | database | what |
//! |---|---|---|
//! | `max_connections` | both | the most connections the pool opens (10) |
//! | `acquire_timeout_ms` | both | the longest wait for a connection, or for the server to answer (5000) |
//! | `busy_timeout_ms` | SQLite | how long a writer waits for another's write lock (30000) |
//! | `mode` | SQLite | `rwc` (default), `rw` (the file must exist), `ro` (read-only) |
//! | `cache` | SQLite | `shared` or `private`: SQLite's shared-cache mode |
//! | `immutable` | SQLite | `true`: a file nothing changes, read without locks or WAL (checkpoint it first) |
//! | `vfs` | SQLite | the SQLite VFS to open the file with |
//! | `schema` | PostgreSQL | the schema of the tables (`fleche`): lowercase letters, digits, `_` |
//! | `sslmode`, `sslrootcert`, `sslcert`, `sslkey` | PostgreSQL | TLS, as libpq reads them |
//! | `host`, `port`, `dbname`, `user`, `password` | PostgreSQL | override the URL's parts (`host=/var/run/postgresql` for a Unix socket) |
//! | `application_name`, `statement-cache-capacity` | PostgreSQL | as sqlx reads them |
//!
//! Any other option is refused, naming the known ones. In code, the same
//! through [`SqlOptions`] and [`SqlStore::open_with`].
//!
//! ## Guarantees
//!
//! - **The schema is versioned** by sqlx migrations and set up when a store
//!   opens; a database set up by a newer fleche-sql is refused with a clear
//!   error instead of being misread.
//! - **Last writer wins by upsert** (`INSERT … ON CONFLICT … DO UPDATE`): a
//!   record is replaced in one statement, never deleted and re-inserted, so
//!   concurrent writers of one key never fail and a reader never misses it.
//! - **A hit is one statement**: the record's inline result, or its value
//!   joined in. On SQLite it is read on the calling thread, through
//!   rusqlite, skipping the hand-off to sqlx's connection thread.
//! - **Queries run in the database**: by function, argument, metadata and
//!   time range, on indexes (PostgreSQL keeps arguments and metadata as
//!   JSONB with GIN indexes).
//! - **Claims are rows** with an owner token and a lease measured on the
//!   database's clock, so the clocks of the machines do not matter; an
//!   expired claim is taken over in one atomic upsert.
//! - **Failures are typed**: a server that is down, restarting or refusing
//!   connections is [`ErrorKind::Unavailable`](fleche_core::ErrorKind);
//!   opening fails at once with the driver's cause (a refused connection is
//!   reported as such, not as a pool that timed out), and the pool
//!   reconnects by itself when the server is back. URLs, errors and
//!   `Debug` never show a password.
//!
//! ## Deployment
//!
//! **SQLite** is the embedded choice for one machine. `synchronous=NORMAL`
//! in WAL mode: a crash of a process loses nothing, a power cut may lose
//! the last commits but never corrupts the file. Do not put it on a network
//! file system; use PostgreSQL to share across machines.
//!
//! **PostgreSQL** is the choice for a cluster; give each cache (and each
//! test run) its own schema. Claims live in an `UNLOGGED` table: a server
//! crash forgets them, and the workers claim again. [`SqlStore::destroy`]
//! drops the schema (PostgreSQL) or the tables (SQLite).
//!
//! ## Limits
//!
//! - A SQLite store is for the processes of one machine.
//! - An `immutable` SQLite file, and an in-process database, are read
//!   through sqlx's connection thread: the faster direct reads need a
//!   plain file.
//! - PostgreSQL's `~/.pgpass` is not read: give the password in the URL
//!   (or `PGPASSWORD`). The `PG…` environment variables give defaults for
//!   what the URL leaves out.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use fleche_core::{CallStore, Digest};
//! let store = fleche_sql::SqliteStore::open("sqlite::memory:").await.unwrap();
//! assert_eq!(CallStore::get(&store, Digest::of(b"nothing")).await.unwrap(), None);
//! # });
//! ```

#![forbid(unsafe_code)]

mod calls;
mod database;
mod driver;
mod error;
mod exec;
mod filter;
mod options;
#[cfg(feature = "postgres")]
mod postgres;
mod rows;
mod schema;
#[cfg(feature = "sqlite")]
mod sqlite;
#[cfg(feature = "sqlite")]
mod sqlite_direct;
mod statements;
mod store;
mod values;

#[cfg(feature = "postgres")]
pub use driver::PgDriver;
#[cfg(feature = "sqlite")]
pub use driver::SqliteDriver;
pub use options::{DEFAULT_SCHEMA, SqlOptions};
#[cfg(feature = "postgres")]
pub use postgres::Postgres;
#[cfg(feature = "sqlite")]
pub use sqlite::Sqlite;
pub use store::SqlStore;

/// A value store and call store in a SQLite database. Cheap to clone.
///
/// Opened by [`SqlStore::open`] / [`SqlStore::open_with`] from
/// `sqlite:///absolute/path/cache.db` or `sqlite::memory:`.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use fleche_core::{Bytes, Digest, ValueStore};
/// let dir = tempfile::tempdir().unwrap();
/// let url = format!("sqlite://{}/cache.db", dir.path().display());
/// let store = fleche_sql::SqliteStore::open(&url).await.unwrap();
/// let bytes = Bytes::from_static(b"hello");
/// store.put(Digest::of(&bytes), bytes.clone()).await.unwrap();
/// assert_eq!(store.get(Digest::of(&bytes)).await.unwrap(), Some(bytes));
/// # });
/// ```
#[cfg(feature = "sqlite")]
pub type SqliteStore = SqlStore<Sqlite>;

/// A value store and call store in a PostgreSQL schema. Cheap to clone.
///
/// Opened by [`SqlStore::open`] / [`SqlStore::open_with`] from
/// `postgres://user[:password]@host[:port]/database?schema=NAME`.
///
/// ```no_run
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let store = fleche_sql::PgStore::open("postgres://me@db.internal/cache?schema=team")
///     .await
///     .unwrap();
/// assert_eq!(store.schema(), "team");
/// # });
/// ```
#[cfg(feature = "postgres")]
pub type PgStore = SqlStore<Postgres>;
