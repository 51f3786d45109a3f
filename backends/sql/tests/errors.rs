//! Bad input gets a clear error and loses nothing: a file that is not a
//! database, a truncated database, rows that do not make a record, and
//! results whose bytes were damaged. (A newer schema: `tests/schema.rs`.)

use fleche::{CallStore, Digest, ErrorChain, ErrorKind, StoreError, bridge, fleche};
use fleche_sql::{PgStore, SqliteStore};

mod common;
use common::{PgSchema, store_error};

#[fleche]
fn square(x: u64) -> u64 {
    x * x
}

fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}/cache.db", dir.path().display())
}

fn open_sqlite(url: &str) -> Result<SqliteStore, StoreError> {
    bridge::block_on(SqliteStore::open(url)).map_err(store_error)
}

#[test]
fn a_file_that_is_not_a_database_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.db");
    let text = b"my thesis, not a database; do not overwrite me\n".repeat(100);
    std::fs::write(&path, &text).unwrap();
    let err = open_sqlite(&sqlite_url(&dir)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    let msg = ErrorChain(&err).to_string();
    assert!(
        msg.contains("cache.db") && msg.contains("not a database"),
        "{msg}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), text, "the file is untouched");
}

#[test]
fn a_truncated_database_never_reads_as_a_record() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let store = open_sqlite(&url).unwrap();
    let cache = fleche::Cache::new(
        std::sync::Arc::new(store.clone()),
        std::sync::Arc::new(store),
    );
    fleche::with_cache(cache, || {
        for x in 0..500 {
            assert_eq!(square(x), x * x);
        }
    });
    // Fold the WAL into the main file so the truncation hits the records.
    let store = open_sqlite(&url).unwrap();
    bridge::block_on(sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(store.pool())).unwrap();
    drop(store);
    let path = dir.path().join("cache.db");
    let len = std::fs::metadata(&path).unwrap().len();
    assert!(len > 16 * 1024, "the database spans several pages: {len}");
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(len / 2).unwrap();
    drop(file);

    // Either the database refuses to open, or reads fail as Corrupt or
    // find nothing; no read returns a record that is not whole.
    let store = match open_sqlite(&url) {
        Ok(store) => store,
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
            println!("the truncated database is refused: {e}");
            return;
        }
    };
    let (mut whole, mut missing, mut corrupt) = (0, 0, 0);
    for x in 0..500u64 {
        match bridge::block_on(CallStore::get(&store, square::digest(&x))) {
            Ok(None) => missing += 1,
            Ok(Some(record)) => {
                assert_eq!(record.key, square::digest(&x));
                whole += 1;
            }
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
                corrupt += 1;
            }
        }
    }
    println!("truncated database: {whole} whole records, {missing} missing, {corrupt} corrupt");
    assert!(
        corrupt + missing > 0,
        "half the file is gone, yet every record reads"
    );
}

/// Stores `square(x)` through a cache on `store` for each damage (SQL
/// with one parameter, the key), damages its row, and checks that the
/// store reports it as `Corrupt` and the cache still returns the right
/// result. Damage to what a hit reads (the result, its digest, the format)
/// is a miss that the next call repairs; damage to the rest of the record
/// (arguments, metadata), which a hit does not read, is repaired by a
/// rerun.
fn damaged_rows_are_reported_and_repaired<S>(
    store: S,
    hit_path: &[&'static str],
    rest: &[&'static str],
) where
    S: fleche::ValueStore + CallStore + Pool + Clone + 'static,
{
    let shared = std::sync::Arc::new(store.clone());
    let cache = fleche::Cache::new(shared.clone(), shared);
    let damages = hit_path
        .iter()
        .map(|d| (d, true))
        .chain(rest.iter().map(|d| (d, false)));
    for (x, (damage, on_hit_path)) in (0u64..).zip(damages) {
        let key = square::digest(&x);
        fleche::with_cache(cache.clone(), || assert_eq!(square(x), x * x));
        store.execute(damage, key);
        match bridge::block_on(CallStore::get(&store, key)) {
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::Corrupt, "{damage}: {e}");
                assert_eq!(e.key(), Some(key), "{damage}: {e}");
            }
            // A result that no longer matches its digest still makes a
            // record; the cache's verification catches it.
            Ok(_) => assert!(on_hit_path, "{damage}: the damage went unnoticed"),
        }
        fleche::with_cache(cache.clone(), || {
            assert_eq!(square(x), x * x, "{damage}");
            if !on_hit_path {
                assert_eq!(square::rerun(x), x * x, "{damage}");
            }
        });
        let repaired = bridge::block_on(CallStore::get(&store, key))
            .unwrap_or_else(|e| panic!("{damage}: not repaired: {e}"))
            .unwrap();
        let bytes = repaired.result.inline.expect("square's result is inline");
        assert_eq!(Digest::of(&bytes), repaired.result.digest, "{damage}");
    }
}

/// Runs one statement with the key bound, on a store's own pool.
trait Pool {
    fn execute(&self, sql: &'static str, key: Digest);
}

impl Pool for SqliteStore {
    fn execute(&self, sql: &'static str, key: Digest) {
        let q = sqlx::query(sql).bind(key.as_bytes().to_vec());
        bridge::block_on(q.execute(self.pool())).unwrap();
    }
}

impl Pool for PgStore {
    fn execute(&self, sql: &'static str, key: Digest) {
        let q = sqlx::query(sql).bind(key.as_bytes().to_vec());
        bridge::block_on(q.execute(self.pool())).unwrap();
    }
}

#[test]
fn damaged_sqlite_rows_are_reported_and_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_sqlite(&sqlite_url(&dir)).unwrap();
    damaged_rows_are_reported_and_repaired(
        store,
        &[
            "UPDATE fleche_calls SET result_inline = X'ff00' WHERE key = ?",
            "UPDATE fleche_calls SET result_digest = X'0102' WHERE key = ?",
            "UPDATE fleche_calls SET format = 99 WHERE key = ?",
            "UPDATE fleche_calls SET result_inline = NULL WHERE key = ?",
        ],
        &[
            "UPDATE fleche_calls SET args = 'not json' WHERE key = ?",
            "UPDATE fleche_calls SET metadata = '{' WHERE key = ?",
        ],
    );
}

#[test]
fn damaged_postgres_rows_are_reported_and_repaired() {
    let Some(schema) = PgSchema::new("damaged") else {
        return;
    };
    let store = bridge::block_on(PgStore::open(&schema.url(""))).unwrap();
    damaged_rows_are_reported_and_repaired(
        store,
        &[
            "UPDATE fleche_calls SET result_inline = '\\xff00'::bytea WHERE key = $1",
            "UPDATE fleche_calls SET result_digest = '\\x0102'::bytea WHERE key = $1",
            "UPDATE fleche_calls SET format = 99 WHERE key = $1",
            "UPDATE fleche_calls SET result_inline = NULL WHERE key = $1",
        ],
        &[
            "UPDATE fleche_calls SET args = '{\"not\": \"an array\"}' WHERE key = $1",
            "UPDATE fleche_calls SET metadata = '[1, 2]' WHERE key = $1",
        ],
    );
}
