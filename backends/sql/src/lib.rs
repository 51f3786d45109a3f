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
//! What both promise, beyond the traits' contract:
//!
//! - **The schema is versioned** by sqlx migrations and set up when a store
//!   opens; a database set up by a newer fleche-sql is refused with a clear
//!   error instead of being misread.
//! - **Last writer wins by upsert** (`INSERT … ON CONFLICT … DO UPDATE`): a
//!   record is replaced in one statement, never deleted and re-inserted, so
//!   concurrent writers of one key never fail and a reader never misses it.
//! - **A hit is one statement**: the record's inline result, or its value
//!   joined in.
//! - **Queries run in the database**: by function, argument, metadata and
//!   time range, on indexes (PostgreSQL keeps arguments and metadata as
//!   JSONB with GIN indexes).
//! - **Claims are rows** with an owner token and a lease measured on the
//!   database's clock, so the clocks of the machines do not matter; an
//!   expired claim is taken over in one atomic upsert.
//! - **Failures are typed**: a server that is down, restarting or refusing
//!   connections is [`ErrorKind::Unavailable`]; the pool reconnects by itself
//!   when it is back. URLs and errors never show a password.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use fleche_core::{CallStore, Digest};
//! let store = fleche_sql::SqliteStore::connect("sqlite::memory:").await.unwrap();
//! assert_eq!(CallStore::get(&store, Digest::of(b"nothing")).await.unwrap(), None);
//! # });
//! ```

#![forbid(unsafe_code)]

mod columns;
mod error;
mod filter;
mod options;
#[cfg(feature = "postgres")]
mod postgres;
mod schema;
#[cfg(feature = "sqlite")]
mod sqlite;
#[cfg(feature = "sqlite")]
mod sqlite_direct;

use std::time::Duration;

use fleche_core::{Claim, ErrorKind, Owner, StoreError};

pub use options::{DEFAULT_SCHEMA, SqlOptions};
#[cfg(feature = "postgres")]
pub use postgres::{POSTGRES, PgStore};
#[cfg(feature = "sqlite")]
pub use sqlite::{SQLITE, SqliteStore};

/// A malformed URL or option.
fn bad_url(backend: &'static str, shown_url: &str, why: String) -> StoreError {
    StoreError::new(
        ErrorKind::Backend,
        backend,
        format!("bad URL {shown_url}: {why}"),
    )
}

/// A store that could not be opened: the cause, with the URL (without its
/// password) in front.
fn open_error(backend: &'static str, shown_url: &str, cause: StoreError) -> StoreError {
    StoreError::new(
        cause.kind(),
        backend,
        format!("cannot open {shown_url}: {cause}"),
    )
    .with_source(cause)
}

/// A duration in whole milliseconds, as the databases take it.
fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The claim `owner` won; `previous` is the owner of the row it replaced.
fn acquired(previous: Option<String>, owner: &Owner) -> Claim {
    Claim::Acquired {
        took_over: previous.is_some_and(|p| p != owner.as_str()),
    }
}

/// The claim someone else holds for `remaining_ms` more.
fn held(holder: String, remaining_ms: i64) -> Claim {
    Claim::Held {
        holder: Owner::from_string(holder),
        remaining: Duration::from_millis(u64::try_from(remaining_ms).unwrap_or(0)),
    }
}

/// Runs a claim attempt until it decides. An attempt is an upsert that
/// wins, or a read of the holder that lost to it; between the two the
/// holder may release, leaving nobody to report, and then it runs again.
async fn claim_until_decided<F, Fut>(mut attempt: F) -> Result<Claim, sqlx::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<Claim>, sqlx::Error>>,
{
    for _ in 0..100 {
        if let Some(claim) = attempt().await? {
            return Ok(claim);
        }
    }
    // Claimed and released 100 times between two statements: report it as
    // held, briefly, and let the caller's backoff try again.
    Ok(held(String::from("(changing too fast)"), 0))
}
