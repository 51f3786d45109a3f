//! Turning driver errors into [`StoreError`]s of the right kind.

use fleche_core::{ErrorKind, StoreError};

/// The kind of a driver error: whether a retry later can help.
fn kind_of(e: &sqlx::Error) -> ErrorKind {
    match e {
        // The server or the connection is gone or busy: later may work.
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => ErrorKind::Unavailable,
        sqlx::Error::Database(db) => database_kind(db.code().as_deref()),
        // What the database holds does not read as what we wrote.
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => ErrorKind::Corrupt,
        _ => ErrorKind::Backend,
    }
}

/// The kind of an error the database itself reported, by its code: a
/// PostgreSQL SQLSTATE (five characters) or a SQLite result code (a number).
fn database_kind(code: Option<&str>) -> ErrorKind {
    let Some(code) = code else {
        return ErrorKind::Backend;
    };
    if let Ok(sqlite) = code.parse::<i32>() {
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
    StoreError::new(kind_of(&e), backend, e.to_string()).with_source(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_codes_map_to_kinds() {
        assert_eq!(database_kind(Some("5")), ErrorKind::Unavailable);
        assert_eq!(database_kind(Some("517")), ErrorKind::Unavailable); // BUSY_SNAPSHOT
        assert_eq!(database_kind(Some("11")), ErrorKind::Corrupt);
        assert_eq!(database_kind(Some("19")), ErrorKind::Backend); // constraint
        assert_eq!(database_kind(Some("57P01")), ErrorKind::Unavailable); // admin shutdown
        assert_eq!(database_kind(Some("08006")), ErrorKind::Unavailable);
        assert_eq!(database_kind(Some("42P01")), ErrorKind::Backend); // no such table
        assert_eq!(database_kind(None), ErrorKind::Backend);
        assert_eq!(kind_of(&sqlx::Error::PoolTimedOut), ErrorKind::Unavailable);
    }
}
