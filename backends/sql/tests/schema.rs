//! The schema is versioned: an older database is upgraded when a store
//! opens it, a newer one is refused.

use std::path::Path;

use fleche::{CallStore, Digest, ErrorChain, Owner, bridge};
use fleche_sql::{PgStore, SqliteStore};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

mod common;
use common::PgSchema;

fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}/cache.db", dir.path().display())
}

#[test]
fn a_postgres_schema_1_is_upgraded_with_unlogged_claims() {
    let Some(schema) = PgSchema::new("upgrade") else {
        return;
    };
    bridge::block_on(async {
        // Set the schema up as fleche-sql with schema version 1 did.
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/postgres");
        let all = Migrator::new(dir.as_path()).await.unwrap();
        let mut v1 = Migrator::with_migrations(all.migrations[..1].to_vec());
        v1.create_schema(schema.name().to_owned());
        let connect: PgConnectOptions = schema.url("").split('?').next().unwrap().parse().unwrap();
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(connect.options([("search_path", schema.name())]))
            .await
            .unwrap();
        v1.run(&pool).await.unwrap();
        let claims_persistence =
            "SELECT relpersistence::text FROM pg_class WHERE oid = 'fleche_claims'::regclass";
        let before: String = sqlx::query_scalar(claims_persistence)
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(before, "p", "schema 1 logs its claims");

        let store = PgStore::open(&schema.url("")).await.unwrap();
        let version: i64 = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(version, 2);
        let after: String = sqlx::query_scalar(claims_persistence)
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(after, "u", "schema 2 keeps claims unlogged");
        let key = Digest::of(b"claimed after the upgrade");
        let owner = Owner::new();
        let ttl = std::time::Duration::from_secs(5);
        assert!(store.claim(key, &owner, ttl).await.unwrap().is_acquired());
        assert!(store.release(key, &owner).await.unwrap());
    });
}
#[test]
fn a_sqlite_schema_from_a_newer_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let store = bridge::block_on(SqliteStore::open(&url)).unwrap();
    bridge::block_on(
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (999, 'from the future', TRUE, X'00', 0)",
        )
        .execute(store.pool()),
    )
    .unwrap();
    drop(store);
    let err = bridge::block_on(SqliteStore::open(&url)).unwrap_err();
    let msg = ErrorChain(&err).to_string();
    assert!(
        msg.contains("schema version 999, newer than") && msg.contains("upgrade fleche-sql"),
        "{msg}"
    );
}

#[test]
fn a_postgres_schema_from_a_newer_version_is_refused() {
    let Some(schema) = PgSchema::new("newer") else {
        return;
    };
    let store = bridge::block_on(PgStore::open(&schema.url(""))).unwrap();
    bridge::block_on(
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (999, 'from the future', TRUE, '\\x00'::bytea, 0)",
        )
        .execute(store.pool()),
    )
    .unwrap();
    let err = bridge::block_on(PgStore::open(&schema.url(""))).unwrap_err();
    let msg = ErrorChain(&err).to_string();
    assert!(msg.contains("schema version 999, newer than"), "{msg}");
}

#[test]
fn destroy_leaves_an_empty_sqlite_database() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let store = bridge::block_on(SqliteStore::open(&url)).unwrap();
    let key = Digest::of(b"destroyed");
    bridge::block_on(fleche::ValueStore::put(&store, key, b"x".to_vec().into())).unwrap();
    bridge::block_on(store.destroy()).unwrap();
    let conn = rusqlite::Connection::open(dir.path().join("cache.db")).unwrap();
    let tables: i64 = conn
        .query_row("SELECT COUNT(*) FROM sqlite_master", [], |r| r.get(0))
        .unwrap();
    assert_eq!(tables, 0, "no table, index or trigger is left");
    // Opened again, it is a fresh store.
    let store = bridge::block_on(SqliteStore::open(&url)).unwrap();
    assert!(!bridge::block_on(fleche::ValueStore::contains(&store, key)).unwrap());
}

#[test]
fn destroy_drops_the_postgres_schema() {
    let Some(schema) = PgSchema::new("destroy") else {
        return;
    };
    let store = bridge::block_on(PgStore::open(&schema.url(""))).unwrap();
    bridge::block_on(store.destroy()).unwrap();
    let exists: bool = bridge::block_on(
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
            .bind(schema.name())
            .fetch_one(store.pool()),
    )
    .unwrap();
    assert!(!exists, "the schema {} is gone", schema.name());
}

/// A record under `key` with the single argument `n`.
fn record_with_arg(key: Digest, n: u64) -> fleche::CallRecord {
    let result = fleche::codec::encode(&n).unwrap();
    fleche::CallRecord::new(
        key,
        "schema::args",
        fleche::ValueRef {
            digest: Digest::of(&result),
            inline: Some(result.into()),
        },
    )
    .with_args(vec![fleche::ArgDigest {
        name: "n".into(),
        digest: fleche::codec::digest(&n).unwrap(),
    }])
}

/// The keys of the records whose argument `n` is `value`.
fn keys_with_arg(store: &SqliteStore, value: u64) -> Vec<Digest> {
    use futures::TryStreamExt;
    let query = fleche::Query::new().arg("n", &value);
    let found: Vec<fleche::CallRecord> =
        bridge::block_on(store.query(&query).try_collect()).unwrap();
    found.into_iter().map(|r| r.key).collect()
}

#[test]
fn a_sqlite_schema_1_is_upgraded_and_queries_follow_overwritten_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let key = Digest::of(b"overwritten with other arguments");
    let store = bridge::block_on(SqliteStore::open(&url)).unwrap();
    // Schema 2 keeps the argument table in step with an overwrite.
    bridge::block_on(store.put(record_with_arg(key, 1))).unwrap();
    bridge::block_on(store.put(record_with_arg(key, 2))).unwrap();
    assert_eq!(keys_with_arg(&store, 1), Vec::<Digest>::new());
    assert_eq!(keys_with_arg(&store, 2), vec![key]);
    // Back to schema 1 (no update trigger), and overwrite there: the
    // argument table is left stale, as schema 1 left it. Another record's
    // arguments are damaged: the upgrade must not trip over them.
    let damaged = Digest::of(b"damaged arguments");
    bridge::block_on(async {
        store.put(record_with_arg(damaged, 5)).await.unwrap();
        for sql in [
            "DROP TRIGGER fleche_calls_args_update",
            "DELETE FROM _sqlx_migrations WHERE version = 2",
        ] {
            sqlx::query(sql).execute(store.pool()).await.unwrap();
        }
        store.put(record_with_arg(key, 3)).await.unwrap();
        sqlx::query("UPDATE fleche_calls SET args = 'not json' WHERE key = ?")
            .bind(damaged.as_bytes().to_vec())
            .execute(store.pool())
            .await
            .unwrap();
    });
    assert_eq!(keys_with_arg(&store, 2), vec![key], "schema 1 is stale");
    drop(store);
    // Opened again, it is upgraded: the stale rows are gone.
    let store = bridge::block_on(SqliteStore::open(&url)).unwrap();
    assert_eq!(keys_with_arg(&store, 2), Vec::<Digest>::new());
    assert_eq!(keys_with_arg(&store, 3), vec![key]);
    bridge::block_on(store.put(record_with_arg(key, 4))).unwrap();
    assert_eq!(keys_with_arg(&store, 3), Vec::<Digest>::new());
    assert_eq!(keys_with_arg(&store, 4), vec![key]);
    // The damaged record is indexed again once a put repairs it.
    assert_eq!(keys_with_arg(&store, 5), Vec::<Digest>::new());
    bridge::block_on(store.put(record_with_arg(damaged, 5))).unwrap();
    assert_eq!(keys_with_arg(&store, 5), vec![damaged]);
}
