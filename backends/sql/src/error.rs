//! Driver errors as [`StoreError`]s: the kind says whether a retry can
//! help, the message says what the store was doing, the source is the
//! driver's cause.

use fleche_core::{ErrorKind, StoreError};
use sqlx::migrate::MigrateError;

use crate::database::Database;

/// The error of a statement that failed while the store was `doing`
/// something ("cannot read the call record").
pub(crate) fn store_error<D: Database>(doing: &str, e: sqlx::Error) -> StoreError {
    StoreError::new(kind_of::<D>(&e), D::BACKEND, doing).with_source(cause(e))
}

/// The kind of a driver error: whether a retry later can help.
pub(crate) fn kind_of<D: Database>(e: &sqlx::Error) -> ErrorKind {
    match e {
        // The server or the connection is gone or busy: later may work.
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => ErrorKind::Unavailable,
        sqlx::Error::Database(db) => db.code().map_or(ErrorKind::Backend, |c| D::error_kind(&c)),
        // What the database holds does not read as what we wrote.
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => ErrorKind::Corrupt,
        _ => ErrorKind::Backend,
    }
}

/// The cause to attach as a source. Many of sqlx's errors write their own
/// cause into their message ("error communicating with database:
/// Connection refused") *and* return it as their source, so a report of
/// the chain would show it twice: the store's error takes the inner cause
/// itself.
fn cause(e: sqlx::Error) -> Box<dyn std::error::Error + Send + Sync> {
    match e {
        sqlx::Error::Io(e) => Box::new(e),
        sqlx::Error::Database(e) => e.into_error(),
        sqlx::Error::Configuration(e)
        | sqlx::Error::Tls(e)
        | sqlx::Error::Encode(e)
        | sqlx::Error::Decode(e)
        | sqlx::Error::ColumnDecode { source: e, .. } => e,
        other => Box::new(other),
    }
}

/// The error of a migration that failed: the schema could not be set up.
pub(crate) fn migrate_error<D: Database>(e: MigrateError) -> StoreError {
    const DOING: &str = "cannot set up the schema";
    match e {
        MigrateError::Execute(e) | MigrateError::ExecuteMigration(e, _) => {
            store_error::<D>(DOING, e)
        }
        other => StoreError::new(ErrorKind::Backend, D::BACKEND, DOING).with_source(other),
    }
}

#[cfg(all(test, feature = "sqlite", feature = "postgres"))]
mod tests {
    use super::*;
    use crate::{Postgres, Sqlite};

    #[test]
    fn database_codes_map_to_kinds() {
        let sqlite = Sqlite::error_kind;
        assert_eq!(sqlite("5"), ErrorKind::Unavailable);
        assert_eq!(sqlite("517"), ErrorKind::Unavailable); // BUSY_SNAPSHOT
        assert_eq!(sqlite("11"), ErrorKind::Corrupt);
        assert_eq!(sqlite("19"), ErrorKind::Backend); // constraint
        let pg = Postgres::error_kind;
        assert_eq!(pg("57P01"), ErrorKind::Unavailable); // admin shutdown
        // All digits, but a SQLSTATE: connection failure, serialization failure.
        assert_eq!(pg("08006"), ErrorKind::Unavailable);
        assert_eq!(pg("40001"), ErrorKind::Unavailable);
        assert_eq!(pg("53300"), ErrorKind::Unavailable); // too many connections
        assert_eq!(pg("23505"), ErrorKind::Backend); // unique violation
        assert_eq!(pg("42P01"), ErrorKind::Backend); // no such table
        assert_eq!(
            kind_of::<Postgres>(&sqlx::Error::PoolTimedOut),
            ErrorKind::Unavailable
        );
    }

    #[test]
    fn the_cause_is_in_the_chain_once() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let e = store_error::<Postgres>("cannot connect", sqlx::Error::Io(refused));
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        let chain = fleche_core::ErrorChain(&e).to_string();
        assert_eq!(
            chain.matches("refused").count(),
            1,
            "the cause shows once: {chain}"
        );
    }
}
