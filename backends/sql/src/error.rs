//! Turning driver errors into [`StoreError`]s of the right kind.

use fleche_core::{ErrorKind, StoreError};

/// The kind of a driver error: whether a retry later can help.
fn kind_of(backend: &str, e: &sqlx::Error) -> ErrorKind {
    match e {
        // The server or the connection is gone or busy: later may work.
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => ErrorKind::Unavailable,
        sqlx::Error::Database(db) => database_kind(backend, db.code().as_deref()),
        // What the database holds does not read as what we wrote.
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => ErrorKind::Corrupt,
        _ => ErrorKind::Backend,
    }
}

/// The kind of an error the database itself reported, by its code: a
/// SQLite result code (a number) or a PostgreSQL SQLSTATE (five characters,
/// often all digits too).
fn database_kind(backend: &str, code: Option<&str>) -> ErrorKind {
    let Some(code) = code else {
        return ErrorKind::Backend;
    };
    if backend == "sqlite" {
        let Ok(sqlite) = code.parse::<i32>() else {
            return ErrorKind::Backend;
        };
        // The primary code is the low byte of an extended code.
        return match sqlite & 0xff {
            5 | 6 => ErrorKind::Unavailable, // SQLITE_BUSY, SQLITE_LOCKED: timed out waiting
            11 | 26 => ErrorKind::Corrupt,   // SQLITE_CORRUPT, SQLITE_NOTADB
            _ => ErrorKind::Backend,
        };
    }
    match code {
        // Connection exceptions, server shutting down or starting up, too
        // many connections, out of resources.
        c if c.starts_with("08") || c.starts_with("53") || c.starts_with("57P") => {
            ErrorKind::Unavailable
        }
        // Serialization failure, deadlock: the transaction can be retried.
        "40001" | "40P01" => ErrorKind::Unavailable,
        _ => ErrorKind::Backend,
    }
}

/// A [`StoreError`] from `backend` for a failed driver call. The message is
/// the driver's, which never contains the connection URL.
pub(crate) fn store_error(backend: &'static str, e: sqlx::Error) -> StoreError {
    StoreError::new(kind_of(backend, &e), backend, e.to_string()).with_source(e)
}

/// A [`StoreError`] for a failed read on a direct SQLite connection.
#[cfg(feature = "sqlite")]
pub(crate) fn rusqlite_error(e: rusqlite::Error) -> StoreError {
    let kind = match &e {
        rusqlite::Error::SqliteFailure(failure, _) => {
            database_kind(crate::SQLITE, Some(&failure.extended_code.to_string()))
        }
        rusqlite::Error::FromSqlConversionFailure(..) | rusqlite::Error::InvalidColumnType(..) => {
            ErrorKind::Corrupt
        }
        _ => ErrorKind::Backend,
    };
    StoreError::new(kind, crate::SQLITE, e.to_string()).with_source(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_codes_map_to_kinds() {
        const SQLITE: &str = "sqlite";
        const POSTGRES: &str = "postgres";
        assert_eq!(database_kind(SQLITE, Some("5")), ErrorKind::Unavailable);
        assert_eq!(database_kind(SQLITE, Some("517")), ErrorKind::Unavailable); // BUSY_SNAPSHOT
        assert_eq!(database_kind(SQLITE, Some("11")), ErrorKind::Corrupt);
        assert_eq!(database_kind(SQLITE, Some("19")), ErrorKind::Backend); // constraint
        assert_eq!(
            database_kind(POSTGRES, Some("57P01")),
            ErrorKind::Unavailable
        ); // admin shutdown
        // All digits, but a SQLSTATE: connection failure, serialization failure.
        assert_eq!(
            database_kind(POSTGRES, Some("08006")),
            ErrorKind::Unavailable
        );
        assert_eq!(
            database_kind(POSTGRES, Some("40001")),
            ErrorKind::Unavailable
        );
        assert_eq!(
            database_kind(POSTGRES, Some("53300")),
            ErrorKind::Unavailable
        ); // too many connections
        assert_eq!(database_kind(POSTGRES, Some("23505")), ErrorKind::Backend); // unique violation
        assert_eq!(database_kind(POSTGRES, Some("42P01")), ErrorKind::Backend); // no such table
        assert_eq!(database_kind(POSTGRES, None), ErrorKind::Backend);
        assert_eq!(
            kind_of(POSTGRES, &sqlx::Error::PoolTimedOut),
            ErrorKind::Unavailable
        );
    }
}
