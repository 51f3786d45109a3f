//! The SQLite store: one database file that many processes on one machine
//! share (WAL mode, a busy timeout), or an in-process `sqlite::memory:`.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use fleche_core::bridge::on_fleche_runtime;
use fleche_core::{
    Bytes, CallRecord, CallStore, Capabilities, Claim, Digest, Owner, Query, StoreError, ValueRef,
    ValueStore, async_trait, redact_url,
};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use rusqlite::OptionalExtension;
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{Arguments, AssertSqlSafe, Row};

use crate::columns::{self, Columns, RECORD_COLUMNS_SQLITE};
use crate::error::{rusqlite_error, store_error};
use crate::filter::{self, Bind, Dialect, Sql};
use crate::sqlite_direct::DirectReads;
use crate::{SqlOptions, options, schema};

/// The backend name in errors.
pub const SQLITE: &str = "sqlite";

/// The options of a SQLite URL that the driver reads.
const DRIVER_KEYS: &[&str] = &["mode", "cache", "immutable", "vfs"];

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// The hit: one statement reads the inline result, or the value joined in.
const GET_RESULT: &str = "SELECT c.format, c.result_digest, COALESCE(c.result_inline, v.bytes) \
     FROM fleche_calls c LEFT JOIN fleche_values v \
     ON c.result_inline IS NULL AND v.digest = c.result_digest WHERE c.key = ?";

/// The database's clock in milliseconds since the Unix epoch.
const NOW_MS: &str = "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)";

/// A value store and call store in a SQLite database. Cheap to clone.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use fleche_core::{Bytes, Digest, ValueStore};
/// let dir = tempfile::tempdir().unwrap();
/// let url = format!("sqlite://{}/cache.db", dir.path().display());
/// let store = fleche_sql::SqliteStore::connect(&url).await.unwrap();
/// let bytes = Bytes::from_static(b"hello");
/// store.put(Digest::of(&bytes), bytes.clone()).await.unwrap();
/// assert_eq!(store.get(Digest::of(&bytes)).await.unwrap(), Some(bytes));
/// # });
/// ```
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: SqlitePool,
    url: String,
    /// Hits read on the caller's thread; `None` for an in-process database
    /// (gone with its last connection), which only the pool's connection
    /// can see.
    direct: Option<DirectReads>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("url", &self.inner.url)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens the database at `url` — `sqlite:///abs/path/cache.db`,
    /// `sqlite://relative.db` or `sqlite::memory:` — creating the file (and
    /// its directory) and the tables if needed. Options of [`SqlOptions`]
    /// may be given in the query string.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, SqlOptions::default()).await
    }

    /// Like [`SqliteStore::connect`], starting from `options`.
    pub async fn connect_with(url: &str, mut options: SqlOptions) -> Result<Self, StoreError> {
        on_fleche_runtime(async {
            let shown = redact_url(url);
            let bad_url = |why: String| crate::bad_url(SQLITE, &shown, why);
            let driver_url = options::split_url(url, DRIVER_KEYS, &mut options).map_err(bad_url)?;
            let connect = SqliteConnectOptions::from_str(&driver_url)
                .map_err(|e| bad_url(e.to_string()))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // With WAL, NORMAL loses no data when a process dies; only
                // a power cut can lose the last commits, never corrupt.
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(options.busy_timeout);
            let in_memory = connect
                .get_filename()
                .to_string_lossy()
                .contains("in-memory");
            if !in_memory {
                make_parent_dir(&connect, &shown)?;
            }
            let filename = connect.get_filename().to_path_buf();
            let mut pool = SqlitePoolOptions::new()
                .max_connections(options.max_connections)
                .acquire_timeout(options.acquire_timeout)
                .test_before_acquire(false);
            if in_memory {
                // The database lives as long as one connection to it does.
                pool = pool
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None);
            }
            let pool = pool.connect_with(connect).await.map_err(|e| {
                let e = store_error(SQLITE, e);
                crate::open_error(SQLITE, &shown, e)
            })?;
            let store = Self {
                inner: Arc::new(Inner {
                    pool,
                    url: shown,
                    direct: (!in_memory).then(|| DirectReads::new(filename)),
                }),
            };
            store.migrate().await?;
            Ok(store)
        })
        .await
    }

    /// Applies the migrations this database lacks, refusing a newer schema.
    async fn migrate(&self) -> Result<(), StoreError> {
        let pool = &self.inner.pool;
        let err = |e| crate::open_error(SQLITE, &self.inner.url, store_error(SQLITE, e));
        let has_table: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations')",
        )
        .fetch_one(pool)
        .await
        .map_err(err)?;
        let found: Option<i64> = if has_table {
            sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
                .fetch_one(pool)
                .await
                .map_err(err)?
        } else {
            None
        };
        schema::refuse_newer(SQLITE, found, &MIGRATOR)?;
        if found == Some(schema::latest(&MIGRATOR)) {
            return Ok(());
        }
        schema::with_retries(SQLITE, || MIGRATOR.run(pool)).await
    }

    /// The URL, without secrets.
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// The connection pool, for statements of your own.
    pub fn pool(&self) -> &SqlitePool {
        &self.inner.pool
    }

    fn err(&self, key: Option<Digest>) -> impl Fn(sqlx::Error) -> StoreError {
        move |e| {
            let e = store_error(SQLITE, e);
            match key {
                Some(key) => e.with_key(key),
                None => e,
            }
        }
    }
}

fn make_parent_dir(connect: &SqliteConnectOptions, shown: &str) -> Result<(), StoreError> {
    match connect.get_filename().parent() {
        Some(dir) if !dir.as_os_str().is_empty() => std::fs::create_dir_all(dir).map_err(|e| {
            crate::open_error(
                SQLITE,
                shown,
                StoreError::new(
                    fleche_core::ErrorKind::Backend,
                    SQLITE,
                    format!("cannot create directory {}: {e}", dir.display()),
                ),
            )
        }),
        _ => Ok(()),
    }
}

/// SQLite reaches into JSON with `->` and keeps argument digests in a side
/// table (see the migration).
struct Sqlite;

impl Dialect for Sqlite {
    const NUMBERED: bool = false;
    const COLUMNS: &'static str = RECORD_COLUMNS_SQLITE;

    fn arg_condition(sql: &mut Sql, name: &str, digest: &Digest) {
        sql.push("key IN (SELECT key FROM fleche_call_args WHERE name = ")
            .bind(Bind::Text(name.to_owned()))
            .push(" AND digest = ")
            .bind(Bind::Text(digest.to_hex()))
            .push(")");
    }

    fn metadata_condition(sql: &mut Sql, path: &[&str], value: &serde_json::Value) {
        // `$."tags"."project"`: each part quoted, so dots and brackets in
        // keys are not read as path syntax.
        let mut json_path = String::from("$");
        for part in path {
            json_path.push_str(&format!(".\"{}\"", part.replace('"', "\\\"")));
        }
        sql.push("(metadata -> ")
            .bind(Bind::Text(json_path))
            .push(") = json(")
            .bind(Bind::Text(value.to_string()))
            .push(")");
    }
}

fn arguments(binds: Vec<Bind>) -> Result<SqliteArguments, sqlx::Error> {
    let mut args = SqliteArguments::default();
    for bind in binds {
        match bind {
            Bind::Text(s) => args.add(s),
            Bind::Int(i) => args.add(i),
        }
        .map_err(sqlx::Error::Encode)?;
    }
    Ok(args)
}

#[async_trait]
impl ValueStore for SqliteStore {
    async fn put(&self, key: Digest, bytes: Bytes) -> Result<(), StoreError> {
        // Rewrites a value only if its bytes differ: a damaged value is
        // repaired, an intact one costs no write.
        on_fleche_runtime(
            sqlx::query(
                "INSERT INTO fleche_values (digest, bytes) VALUES (?, ?) \
                 ON CONFLICT (digest) DO UPDATE SET bytes = excluded.bytes \
                 WHERE fleche_values.bytes <> excluded.bytes",
            )
            .bind(key.as_bytes().as_slice())
            .bind(bytes.as_ref())
            .execute(&self.inner.pool),
        )
        .await
        .map_err(self.err(Some(key)))?;
        Ok(())
    }

    async fn get(&self, key: Digest) -> Result<Option<Bytes>, StoreError> {
        let bytes: Option<Vec<u8>> = on_fleche_runtime(
            sqlx::query_scalar("SELECT bytes FROM fleche_values WHERE digest = ?")
                .bind(key.as_bytes().as_slice())
                .fetch_optional(&self.inner.pool),
        )
        .await
        .map_err(self.err(Some(key)))?;
        Ok(bytes.map(Bytes::from))
    }

    async fn contains(&self, key: Digest) -> Result<bool, StoreError> {
        let found: Option<i64> = on_fleche_runtime(
            sqlx::query_scalar("SELECT 1 FROM fleche_values WHERE digest = ?")
                .bind(key.as_bytes().as_slice())
                .fetch_optional(&self.inner.pool),
        )
        .await
        .map_err(self.err(Some(key)))?;
        Ok(found.is_some())
    }

    async fn delete(&self, key: Digest) -> Result<bool, StoreError> {
        let done = on_fleche_runtime(
            sqlx::query("DELETE FROM fleche_values WHERE digest = ?")
                .bind(key.as_bytes().as_slice())
                .execute(&self.inner.pool),
        )
        .await
        .map_err(self.err(Some(key)))?;
        Ok(done.rows_affected() > 0)
    }

    fn list(&self, prefix: &str) -> BoxStream<'_, Result<Digest, StoreError>> {
        let Some((low, high)) = filter::prefix_range(prefix) else {
            return futures::stream::empty().boxed();
        };
        let rows = sqlx::query_scalar::<_, Vec<u8>>(
            "SELECT digest FROM fleche_values WHERE digest BETWEEN ? AND ? ORDER BY digest",
        )
        .bind(low)
        .bind(high)
        .fetch(&self.inner.pool);
        on_fleche_runtime(rows)
            .map(|row| {
                let bytes = row.map_err(|e| store_error(SQLITE, e))?;
                columns::digest(&bytes, SQLITE, "value digest")
            })
            .boxed()
    }
}

#[async_trait]
impl CallStore for SqliteStore {
    async fn put(&self, record: CallRecord) -> Result<(), StoreError> {
        let c = Columns::of(&record, SQLITE)?;
        on_fleche_runtime(
            sqlx::query(
                "INSERT INTO fleche_calls (key, function, version, code, args, result_digest, \
                 result_inline, metadata, created_at, format) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
                 ON CONFLICT (key) DO UPDATE SET function = excluded.function, \
                 version = excluded.version, code = excluded.code, args = excluded.args, \
                 result_digest = excluded.result_digest, result_inline = excluded.result_inline, \
                 metadata = excluded.metadata, created_at = excluded.created_at, \
                 format = excluded.format",
            )
            .bind(c.key)
            .bind(c.function)
            .bind(c.version)
            .bind(c.code)
            .bind(c.args)
            .bind(c.result_digest)
            .bind(c.result_inline)
            .bind(c.metadata)
            .bind(c.created_at)
            .bind(c.format)
            .execute(&self.inner.pool),
        )
        .await
        .map_err(self.err(Some(record.key)))?;
        Ok(())
    }

    async fn get(&self, key: Digest) -> Result<Option<CallRecord>, StoreError> {
        let row = on_fleche_runtime(
            sqlx::query(AssertSqlSafe(format!(
                "SELECT {RECORD_COLUMNS_SQLITE} FROM fleche_calls WHERE key = ?"
            )))
            .bind(key.as_bytes().as_slice())
            .fetch_optional(&self.inner.pool),
        )
        .await
        .map_err(self.err(Some(key)))?;
        match row {
            Some(row) => Columns::read(&row)
                .map_err(self.err(Some(key)))?
                .into_record(SQLITE)
                .map(Some),
            None => Ok(None),
        }
    }

    async fn get_result(&self, key: Digest) -> Result<Option<ValueRef>, StoreError> {
        if let Some(direct) = &self.inner.direct {
            let read = direct.read(|conn| {
                conn.prepare_cached(GET_RESULT)?
                    .query_row([key.as_bytes().as_slice()], |row| {
                        Ok((row.get(0)?, row.get::<_, Vec<u8>>(1)?, row.get(2)?))
                    })
                    .optional()
            });
            match read {
                Ok(Some(Some((format, digest, bytes)))) => {
                    return columns::hit_result(SQLITE, key, format, &digest, bytes).map(Some);
                }
                Ok(Some(None)) => return Ok(None),
                // The database asked to wait: sqlx's connection thread will.
                Ok(None) => {}
                Err(e) => return Err(rusqlite_error(e).with_key(key)),
            }
        }
        let row = on_fleche_runtime(
            sqlx::query(GET_RESULT)
                .bind(key.as_bytes().as_slice())
                .fetch_optional(&self.inner.pool),
        )
        .await
        .map_err(self.err(Some(key)))?;
        let Some(row) = row else { return Ok(None) };
        let read = || -> Result<(i32, Vec<u8>, Option<Vec<u8>>), sqlx::Error> {
            Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?))
        };
        let (format, digest, bytes) = read().map_err(self.err(Some(key)))?;
        columns::hit_result(SQLITE, key, format, &digest, bytes).map(Some)
    }

    async fn delete(&self, key: Digest) -> Result<bool, StoreError> {
        let done = on_fleche_runtime(
            sqlx::query("DELETE FROM fleche_calls WHERE key = ?")
                .bind(key.as_bytes().as_slice())
                .execute(&self.inner.pool),
        )
        .await
        .map_err(self.err(Some(key)))?;
        Ok(done.rows_affected() > 0)
    }

    fn query<'a>(&'a self, query: &'a Query) -> BoxStream<'a, Result<CallRecord, StoreError>> {
        let Sql { text, binds, .. } = filter::select_records::<Sqlite>(query);
        let pool = &self.inner.pool;
        let rows = async_stream::try_stream! {
            let args = arguments(binds)?;
            let mut rows = sqlx::query_with(AssertSqlSafe(text), args).fetch(pool);
            while let Some(row) = rows.try_next().await? {
                yield Columns::read(&row)?;
            }
        };
        on_fleche_runtime(rows)
            .map(|columns: Result<Columns, sqlx::Error>| {
                columns
                    .map_err(|e| store_error(SQLITE, e))?
                    .into_record(SQLITE)
            })
            .boxed()
    }

    fn capabilities(&self) -> Capabilities {
        let mut caps = Capabilities::default();
        caps.claims = true;
        caps.query_pushdown = true;
        caps.persistent = self.inner.direct.is_some();
        caps.shared = caps.persistent;
        caps
    }

    async fn claim(&self, key: Digest, owner: &Owner, ttl: Duration) -> Result<Claim, StoreError> {
        let claim_sql = format!(
            "INSERT INTO fleche_claims (key, owner, expires_at) VALUES (?1, ?2, {NOW_MS} + ?3) \
             ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, \
             expires_at = excluded.expires_at, previous_owner = fleche_claims.owner \
             WHERE fleche_claims.owner = excluded.owner OR fleche_claims.expires_at <= {NOW_MS} \
             RETURNING previous_owner"
        );
        let holder_sql =
            format!("SELECT owner, MAX(0, expires_at - {NOW_MS}) FROM fleche_claims WHERE key = ?");
        let attempt = || async {
            let won = sqlx::query_as::<_, (Option<String>,)>(AssertSqlSafe(claim_sql.clone()))
                .bind(key.as_bytes().as_slice())
                .bind(owner.as_str())
                .bind(crate::millis(ttl))
                .fetch_optional(&self.inner.pool)
                .await?;
            if let Some((previous,)) = won {
                return Ok(Some(crate::acquired(previous, owner)));
            }
            let held = sqlx::query_as::<_, (String, i64)>(AssertSqlSafe(holder_sql.clone()))
                .bind(key.as_bytes().as_slice())
                .fetch_optional(&self.inner.pool)
                .await?;
            Ok::<_, sqlx::Error>(held.map(|(holder, ms)| crate::held(holder, ms)))
        };
        on_fleche_runtime(crate::claim_until_decided(attempt))
            .await
            .map_err(self.err(Some(key)))
    }

    async fn renew(&self, key: Digest, owner: &Owner, ttl: Duration) -> Result<bool, StoreError> {
        let done = on_fleche_runtime(
            sqlx::query(AssertSqlSafe(format!(
                "UPDATE fleche_claims SET expires_at = {NOW_MS} + ? WHERE key = ? AND owner = ?"
            )))
            .bind(crate::millis(ttl))
            .bind(key.as_bytes().as_slice())
            .bind(owner.as_str())
            .execute(&self.inner.pool),
        )
        .await
        .map_err(self.err(Some(key)))?;
        Ok(done.rows_affected() > 0)
    }

    async fn release(&self, key: Digest, owner: &Owner) -> Result<bool, StoreError> {
        let done = on_fleche_runtime(
            sqlx::query("DELETE FROM fleche_claims WHERE key = ? AND owner = ?")
                .bind(key.as_bytes().as_slice())
                .bind(owner.as_str())
                .execute(&self.inner.pool),
        )
        .await
        .map_err(self.err(Some(key)))?;
        Ok(done.rows_affected() > 0)
    }

    fn backend_name(&self) -> &'static str {
        SQLITE
    }
}
