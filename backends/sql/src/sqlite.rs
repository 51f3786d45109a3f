//! SQLite: one database file that many processes on one machine share (WAL
//! mode, a busy timeout), or an in-process database.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use fleche_core::driver::{OpenError, StoreUrl, UrlError, UrlOption};
use fleche_core::{Digest, ErrorKind, StoreError};
use rusqlite::OptionalExtension;
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::SqlOptions;
use crate::database::{Database, try_connect};
use crate::exec::Bind;
use crate::filter::Sql;
use crate::options::{ACQUIRE_TIMEOUT, BUSY_TIMEOUT, MAX_CONNECTIONS};
use crate::rows::Hit;
use crate::sqlite_direct::DirectReads;

static MIGRATOR: Migrator = sqlx::migrate!("migrations/sqlite");

/// The database's clock in milliseconds since the Unix epoch (a macro, so
/// that `concat!` can build the claim fragments from it).
macro_rules! now_ms {
    () => {
        "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)"
    };
}

const MODE: UrlOption = UrlOption::new(
    "mode",
    "rwc: read-write, created if missing (default); rw: the file must exist; ro: read-only",
);
const CACHE: UrlOption = UrlOption::new(
    "cache",
    "shared or private (default): SQLite's shared-cache mode among the pool's connections",
);
const IMMUTABLE: UrlOption = UrlOption::new(
    "immutable",
    "true: a read-only file that nothing changes, read without locks or WAL (default false)",
);
const VFS: UrlOption = UrlOption::new("vfs", "the SQLite VFS to open the file with");

/// A SQLite database: the pool, and the read connections of the hit path.
///
/// The type parameter of [`SqliteStore`](crate::SqliteStore); you do not
/// make one yourself.
pub struct Sqlite {
    pool: SqlitePool,
    /// Hits read on the caller's thread; `None` for an in-process database
    /// (gone with its last connection), which only the pool's connections
    /// can see, and for an immutable file (see [`DirectReads`]).
    direct: Option<DirectReads>,
    in_memory: bool,
}

impl fmt::Debug for Sqlite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sqlite")
            .field("in_memory", &self.in_memory)
            .field("direct_reads", &self.direct.is_some())
            .finish_non_exhaustive()
    }
}

impl Database for Sqlite {
    const BACKEND: &'static str = "sqlite";
    const STORE: &'static str = "SqliteStore";
    const SCHEMES: &'static [&'static str] = &["sqlite"];
    const URL_OPTIONS: &'static [UrlOption] = &[
        MAX_CONNECTIONS,
        ACQUIRE_TIMEOUT,
        BUSY_TIMEOUT,
        MODE,
        CACHE,
        IMMUTABLE,
        VFS,
    ];

    type Pool = SqlitePool;

    async fn connect(url: &StoreUrl, options: &SqlOptions) -> Result<Self, OpenError> {
        let target = SqliteUrl::read(url)?;
        let connect = target
            .connect_options()
            .create_if_missing(target.create)
            .journal_mode(SqliteJournalMode::Wal)
            // With WAL, NORMAL loses no data when a process dies; only a
            // power cut can lose the last commits, never corrupt.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(options.busy_timeout);
        if target.create {
            make_parent_dir(&target.path)?;
        }
        let opening = match target.in_memory {
            true => "cannot open an in-memory database".to_owned(),
            false => format!("cannot open {}", target.path.display()),
        };
        try_connect::<Self, _>(&connect, options.acquire_timeout, &opening).await?;
        let mut pool = SqlitePoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.acquire_timeout)
            .test_before_acquire(false);
        if target.in_memory {
            // The database lives as long as one connection to it does.
            pool = pool
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
        }
        Ok(Self {
            pool: pool.connect_lazy_with(connect),
            direct: target.direct_reads(),
            in_memory: target.in_memory,
        })
    }

    fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    // Claims expire at a time in milliseconds since the Unix epoch.
    const NOW: &'static str = now_ms!();
    const LEASE: &'static str = concat!(now_ms!(), " + $3");
    const REMAINING_MS: &'static str = concat!("MAX(0, expires_at - ", now_ms!(), ")");
    // JSON is text.
    const TEXT_TO_JSON: &'static str = "";
    const JSON_TO_TEXT: &'static str = "";
    const HAS_MIGRATIONS: &'static str =
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'";

    /// Argument digests are kept in a side table, on an index (see the
    /// migration).
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

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }

    async fn run_migrations(&self) -> Result<(), MigrateError> {
        MIGRATOR.run(&self.pool).await
    }

    /// Every table of the store, the migrations' included (the triggers go
    /// with their table), so the file is an empty database.
    fn destroy_statements(&self) -> Vec<String> {
        [
            "fleche_call_args",
            "fleche_calls",
            "fleche_values",
            "fleche_claims",
            "_sqlx_migrations",
        ]
        .iter()
        .map(|table| format!("DROP TABLE IF EXISTS {table}"))
        .collect()
    }

    /// A SQLite result code; the primary code is the low byte of an
    /// extended one.
    fn error_kind(code: &str) -> ErrorKind {
        match code.parse::<i32>().map(|c| c & 0xff) {
            Ok(5 | 6) => ErrorKind::Unavailable, // SQLITE_BUSY, SQLITE_LOCKED: timed out waiting
            Ok(11 | 26) => ErrorKind::Corrupt,   // SQLITE_CORRUPT, SQLITE_NOTADB
            _ => ErrorKind::Backend,
        }
    }

    fn read_hit(&self, sql: &str, key: Digest) -> Option<Result<Option<Hit>, StoreError>> {
        let direct = self.direct.as_ref()?;
        let read = direct.read(|conn| {
            conn.prepare_cached(sql)?
                .query_row([key.as_bytes().as_slice()], |row| {
                    Ok(Hit {
                        format: row.get(0)?,
                        digest: row.get(1)?,
                        bytes: row.get(2)?,
                    })
                })
                .optional()
        });
        match read {
            Ok(Some(hit)) => Some(Ok(hit)),
            // The database asked to wait: sqlx's connection thread will.
            Ok(None) => None,
            Err(e) => Some(Err(rusqlite_error(e).with_key(key))),
        }
    }

    fn persistent(&self) -> bool {
        !self.in_memory
    }
}

/// The database a `sqlite:` URL names, and how to open it.
struct SqliteUrl {
    path: PathBuf,
    in_memory: bool,
    create: bool,
    read_only: bool,
    shared_cache: bool,
    immutable: bool,
    vfs: Option<String>,
}

/// Gives each `sqlite::memory:` store a database of its own.
static MEMORY_DATABASES: AtomicU64 = AtomicU64::new(0);

impl SqliteUrl {
    /// `sqlite::memory:`, or `sqlite:///absolute/path` with the options.
    fn read(url: &StoreUrl) -> Result<Self, UrlError> {
        let memory = !url.has_authority() && url.path() == ":memory:";
        let path = match memory {
            true => {
                let n = MEMORY_DATABASES.fetch_add(1, Ordering::Relaxed);
                PathBuf::from(format!("file:fleche-in-memory-{}-{n}", std::process::id()))
            }
            false => url.local_path()?,
        };
        let mut target = Self {
            path,
            in_memory: memory,
            create: !memory,
            read_only: false,
            shared_cache: memory,
            immutable: url.flag(IMMUTABLE.name)?.unwrap_or(false),
            vfs: url.text(VFS.name)?.map(str::to_owned),
        };
        // SQLite's `mode=memory` is not offered: with a path, sqlx would open
        // a database that each connection of the pool sees empty, and
        // `sqlite::memory:` is the in-process database.
        let modes = "rwc, rw or ro (for an in-process database, write sqlite::memory:)";
        match url.typed(MODE.name, modes, Some)? {
            None | Some("rwc") => {}
            Some("rw") => target.create = false,
            Some("ro") => (target.create, target.read_only) = (false, true),
            Some(other) => return Err(UrlError::bad_value(MODE.name, modes, other)),
        }
        match url.typed(CACHE.name, "shared or private", Some)? {
            None => {}
            Some("shared") => target.shared_cache = true,
            Some("private") if target.in_memory => {
                return Err(UrlError::malformed(
                    "cache=private cannot serve an in-memory database: each of the pool's \
                     connections would see an empty database of its own",
                ));
            }
            Some("private") => target.shared_cache = false,
            Some(other) => return Err(UrlError::bad_value(CACHE.name, "shared or private", other)),
        }
        Ok(target)
    }

    /// sqlx's options for the file, before the store's own settings.
    fn connect_options(&self) -> SqliteConnectOptions {
        let mut connect = SqliteConnectOptions::new()
            .filename(&self.path)
            .in_memory(self.in_memory)
            .read_only(self.read_only)
            .shared_cache(self.shared_cache)
            .immutable(self.immutable);
        if let Some(vfs) = &self.vfs {
            connect = connect.vfs(vfs.clone());
        }
        connect
    }

    /// The read connections of the hit path, for a file that can have
    /// them: not an in-process database, nor an immutable file (which
    /// only a URI filename could open as such).
    fn direct_reads(&self) -> Option<DirectReads> {
        (!self.in_memory && !self.immutable)
            .then(|| DirectReads::new(self.path.clone(), self.read_only, self.vfs.clone()))
    }
}

/// Makes the directory of a new database target.
fn make_parent_dir(path: &Path) -> Result<(), StoreError> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => std::fs::create_dir_all(dir).map_err(|e| {
            let message = format!("cannot create directory {}", dir.display());
            StoreError::new(ErrorKind::Backend, Sqlite::BACKEND, message).with_source(e)
        }),
        _ => Ok(()),
    }
}

/// A [`StoreError`] for a failed read on a direct connection.
fn rusqlite_error(e: rusqlite::Error) -> StoreError {
    let kind = match &e {
        rusqlite::Error::SqliteFailure(failure, _) => {
            Sqlite::error_kind(&failure.extended_code.to_string())
        }
        rusqlite::Error::FromSqlConversionFailure(..) | rusqlite::Error::InvalidColumnType(..) => {
            ErrorKind::Corrupt
        }
        _ => ErrorKind::Backend,
    };
    StoreError::new(kind, Sqlite::BACKEND, "cannot read the call's result").with_source(e)
}
