//! The PostgreSQL store: one database shared by many machines, each cache
//! in a schema of its own.

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
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Arguments, AssertSqlSafe, Row};

use crate::columns::{self, Columns, RECORD_COLUMNS};
use crate::error::store_error;
use crate::filter::{self, Bind, Dialect, Sql};
use crate::{SqlOptions, options, schema};

/// The backend name in errors.
pub const POSTGRES: &str = "postgres";

/// The options of a PostgreSQL URL that the driver reads.
const DRIVER_KEYS: &[&str] = &[
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "application_name",
    "statement-cache-capacity",
];

static MIGRATOR: Migrator = sqlx::migrate!("migrations/postgres");

/// A claim lease, `$n` milliseconds from now on the server's clock.
fn lease(n: usize) -> String {
    format!("clock_timestamp() + ${n}::float8 * interval '1 millisecond'")
}

/// A value store and call store in a PostgreSQL schema. Cheap to clone.
///
/// ```no_run
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let store = fleche_sql::PgStore::connect("postgres://me@db.internal/cache?schema=team")
///     .await
///     .unwrap();
/// # });
/// ```
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    url: String,
    schema: String,
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore")
            .field("url", &self.inner.url)
            .field("schema", &self.inner.schema)
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects to `postgres://user[:password]@host[:port]/database`, and
    /// sets up the tables in the schema named by `?schema=` (default
    /// [`DEFAULT_SCHEMA`](crate::DEFAULT_SCHEMA)) if needed. Options of
    /// [`SqlOptions`] and the driver's (`sslmode`, …) may be given in the
    /// query string.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, SqlOptions::default()).await
    }

    /// Like [`PgStore::connect`], starting from `options`.
    pub async fn connect_with(url: &str, mut options: SqlOptions) -> Result<Self, StoreError> {
        on_fleche_runtime(async {
            let shown = redact_url(url);
            let bad_url = |why: String| crate::bad_url(POSTGRES, &shown, why);
            let driver_url = options::split_url(url, DRIVER_KEYS, &mut options).map_err(bad_url)?;
            options::check_schema_name(&options.schema).map_err(bad_url)?;
            let connect = PgConnectOptions::from_str(&driver_url)
                .map_err(|e| bad_url(e.to_string()))?
                .options([("search_path", options.schema.as_str())]);
            let pool = PgPoolOptions::new()
                .max_connections(options.max_connections)
                .acquire_timeout(options.acquire_timeout)
                // A broken connection fails one statement (as Unavailable)
                // and is dropped when it returns to the pool; testing each
                // one before use would cost a round trip on every hit.
                .test_before_acquire(false)
                .connect_with(connect)
                .await
                .map_err(|e| crate::open_error(POSTGRES, &shown, store_error(POSTGRES, e)))?;
            let store = Self {
                inner: Arc::new(Inner {
                    pool,
                    url: shown,
                    schema: options.schema,
                }),
            };
            store.migrate().await?;
            Ok(store)
        })
        .await
    }

    /// Creates the schema and applies the migrations it lacks, refusing a
    /// newer schema. sqlx holds an advisory lock meanwhile, so processes
    /// that open a fresh database together take turns.
    async fn migrate(&self) -> Result<(), StoreError> {
        let pool = &self.inner.pool;
        let err = |e| crate::open_error(POSTGRES, &self.inner.url, store_error(POSTGRES, e));
        let has_table: bool =
            sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
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
        schema::refuse_newer(POSTGRES, found, &MIGRATOR)?;
        if found == Some(schema::latest(&MIGRATOR)) {
            return Ok(());
        }
        let mut migrator = Migrator::with_migrations(MIGRATOR.migrations.to_vec());
        migrator.create_schema(self.inner.schema.clone());
        schema::with_retries(POSTGRES, || migrator.run(pool)).await
    }

    /// The URL, without its password.
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// The schema that holds the tables.
    pub fn schema(&self) -> &str {
        &self.inner.schema
    }

    /// The connection pool, for statements of your own (its connections'
    /// `search_path` is the store's schema).
    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    /// Drops the store's schema with everything in it: for tests that made
    /// a schema of their own.
    pub async fn drop_schema(&self) -> Result<(), StoreError> {
        on_fleche_runtime(
            sqlx::query(AssertSqlSafe(format!(
                "DROP SCHEMA IF EXISTS {} CASCADE",
                self.inner.schema
            )))
            .execute(&self.inner.pool),
        )
        .await
        .map_err(self.err(None))?;
        Ok(())
    }

    fn err(&self, key: Option<Digest>) -> impl Fn(sqlx::Error) -> StoreError {
        move |e| {
            let e = store_error(POSTGRES, e);
            match key {
                Some(key) => e.with_key(key),
                None => e,
            }
        }
    }
}

/// PostgreSQL reaches into JSONB: containment (`@>`, on the GIN indexes)
/// narrows, and `#>` checks the exact value.
struct Postgres;

impl Dialect for Postgres {
    const NUMBERED: bool = true;
    const COLUMNS: &'static str = RECORD_COLUMNS;

    fn arg_condition(sql: &mut Sql, name: &str, digest: &Digest) {
        sql.push("args @> ")
            .bind(Bind::Text(filter::arg_json(name, digest)))
            .push("::jsonb");
    }

    fn metadata_condition(sql: &mut Sql, path: &[&str], value: &serde_json::Value) {
        // {"tags": {"project": "demo"}} for the index; containment alone
        // would also accept [1, 2] for [1], hence the exact check after it.
        let nested = path.iter().rev().fold(
            value.clone(),
            |inner, key| serde_json::json!({ *key: inner }),
        );
        sql.push("(metadata @> ")
            .bind(Bind::Text(nested.to_string()))
            .push("::jsonb AND metadata #> ARRAY[");
        for (i, part) in path.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.bind(Bind::Text((*part).to_owned()));
        }
        sql.push("]::text[] = ")
            .bind(Bind::Text(value.to_string()))
            .push("::jsonb)");
    }
}

fn arguments(binds: Vec<Bind>) -> Result<PgArguments, sqlx::Error> {
    let mut args = PgArguments::default();
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
impl ValueStore for PgStore {
    async fn put(&self, key: Digest, bytes: Bytes) -> Result<(), StoreError> {
        // Rewrites a value only if its bytes differ: a damaged value is
        // repaired, an intact one costs no write.
        on_fleche_runtime(
            sqlx::query(
                "INSERT INTO fleche_values (digest, bytes) VALUES ($1, $2) \
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
            sqlx::query_scalar("SELECT bytes FROM fleche_values WHERE digest = $1")
                .bind(key.as_bytes().as_slice())
                .fetch_optional(&self.inner.pool),
        )
        .await
        .map_err(self.err(Some(key)))?;
        Ok(bytes.map(Bytes::from))
    }

    async fn contains(&self, key: Digest) -> Result<bool, StoreError> {
        on_fleche_runtime(
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM fleche_values WHERE digest = $1)")
                .bind(key.as_bytes().as_slice())
                .fetch_one(&self.inner.pool),
        )
        .await
        .map_err(self.err(Some(key)))
    }

    async fn delete(&self, key: Digest) -> Result<bool, StoreError> {
        let done = on_fleche_runtime(
            sqlx::query("DELETE FROM fleche_values WHERE digest = $1")
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
            "SELECT digest FROM fleche_values WHERE digest BETWEEN $1 AND $2 ORDER BY digest",
        )
        .bind(low)
        .bind(high)
        .fetch(&self.inner.pool);
        on_fleche_runtime(rows)
            .map(|row| {
                let bytes = row.map_err(|e| store_error(POSTGRES, e))?;
                columns::digest(&bytes, POSTGRES, "value digest")
            })
            .boxed()
    }
}

#[async_trait]
impl CallStore for PgStore {
    async fn put(&self, record: CallRecord) -> Result<(), StoreError> {
        let c = Columns::of(&record, POSTGRES)?;
        on_fleche_runtime(
            sqlx::query(
                "INSERT INTO fleche_calls (key, function, version, code, args, result_digest, \
                 result_inline, metadata, created_at, format) \
                 VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8::jsonb, $9, $10) \
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
                "SELECT {RECORD_COLUMNS} FROM fleche_calls WHERE key = $1"
            )))
            .bind(key.as_bytes().as_slice())
            .fetch_optional(&self.inner.pool),
        )
        .await
        .map_err(self.err(Some(key)))?;
        match row {
            Some(row) => Columns::read(&row)
                .map_err(self.err(Some(key)))?
                .into_record(POSTGRES)
                .map(Some),
            None => Ok(None),
        }
    }

    async fn get_result(&self, key: Digest) -> Result<Option<ValueRef>, StoreError> {
        // One statement: the inline result, or the value joined in.
        let row = on_fleche_runtime(
            sqlx::query(
                "SELECT c.format, c.result_digest, COALESCE(c.result_inline, v.bytes) \
                 FROM fleche_calls c LEFT JOIN fleche_values v \
                 ON c.result_inline IS NULL AND v.digest = c.result_digest WHERE c.key = $1",
            )
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
        columns::hit_result(POSTGRES, key, format, &digest, bytes).map(Some)
    }

    async fn delete(&self, key: Digest) -> Result<bool, StoreError> {
        let done = on_fleche_runtime(
            sqlx::query("DELETE FROM fleche_calls WHERE key = $1")
                .bind(key.as_bytes().as_slice())
                .execute(&self.inner.pool),
        )
        .await
        .map_err(self.err(Some(key)))?;
        Ok(done.rows_affected() > 0)
    }

    fn query<'a>(&'a self, query: &'a Query) -> BoxStream<'a, Result<CallRecord, StoreError>> {
        let Sql { text, binds, .. } = filter::select_records::<Postgres>(query);
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
                    .map_err(|e| store_error(POSTGRES, e))?
                    .into_record(POSTGRES)
            })
            .boxed()
    }

    fn capabilities(&self) -> Capabilities {
        let mut caps = Capabilities::default();
        caps.claims = true;
        caps.query_pushdown = true;
        caps.persistent = true;
        caps.shared = true;
        caps
    }

    async fn claim(&self, key: Digest, owner: &Owner, ttl: Duration) -> Result<Claim, StoreError> {
        let claim_sql = format!(
            "INSERT INTO fleche_claims (key, owner, expires_at) VALUES ($1, $2, {}) \
             ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, \
             expires_at = excluded.expires_at, previous_owner = fleche_claims.owner \
             WHERE fleche_claims.owner = excluded.owner \
             OR fleche_claims.expires_at <= clock_timestamp() \
             RETURNING previous_owner",
            lease(3)
        );
        let holder_sql = String::from(
            "SELECT owner, GREATEST(0, CEIL(EXTRACT(EPOCH FROM \
             (expires_at - clock_timestamp())) * 1000))::bigint \
             FROM fleche_claims WHERE key = $1",
        );
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
                "UPDATE fleche_claims SET expires_at = {} WHERE key = $2 AND owner = $3",
                lease(1)
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
            sqlx::query("DELETE FROM fleche_claims WHERE key = $1 AND owner = $2")
                .bind(key.as_bytes().as_slice())
                .bind(owner.as_str())
                .execute(&self.inner.pool),
        )
        .await
        .map_err(self.err(Some(key)))?;
        Ok(done.rows_affected() > 0)
    }

    fn backend_name(&self) -> &'static str {
        POSTGRES
    }
}
