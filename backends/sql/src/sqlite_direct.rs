//! SQLite point reads on the calling thread, through rusqlite.
//!
//! sqlx runs each SQLite connection on a thread of its own, so every
//! statement costs two hand-offs between threads: on a virtual machine
//! those wake-ups are most of a hit's time (about 45 µs of 50). A hit is
//! one read by primary key, and in WAL mode a reader never waits for a
//! writer, so it runs here instead, on the caller's thread, on read
//! connections of its own: a few microseconds, no hand-off.
//!
//! A read never waits here (busy timeout zero). In the rare moments when
//! SQLite asks a reader to wait (a checkpoint that resets the WAL, the
//! recovery after a crash) the read is reported as busy and the store
//! repeats it through sqlx, whose connection thread waits its turn.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

/// Read connections kept between reads; more readers at once open more,
/// and close the extra ones afterwards.
const MAX_IDLE: usize = 8;

/// Read connections to one database file.
#[derive(Debug)]
pub(crate) struct DirectReads {
    path: PathBuf,
    /// Opened read-only, as the store's own connections are.
    read_only: bool,
    /// The VFS the store's connections use: another one could lock the
    /// file differently, and two ways of locking one file corrupt it.
    vfs: Option<String>,
    idle: Mutex<Vec<Connection>>,
}

impl DirectReads {
    /// Reads from the database at `path`, which the store has set up.
    pub(crate) fn new(path: PathBuf, read_only: bool, vfs: Option<String>) -> Self {
        Self {
            path,
            read_only,
            vfs,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Runs `read` on an idle connection, or a new one. `Ok(None)`: the
    /// database asked the reader to wait; read through sqlx instead.
    pub(crate) fn read<R>(
        &self,
        read: impl FnOnce(&Connection) -> rusqlite::Result<R>,
    ) -> rusqlite::Result<Option<R>> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => self.open()?,
        };
        match read(&conn) {
            Ok(out) => {
                self.put_back(conn);
                Ok(Some(out))
            }
            // A busy database says nothing about the connection: keep it.
            Err(e) if is_busy(&e) => {
                self.put_back(conn);
                Ok(None)
            }
            // Anything else may have left the connection in a bad state.
            Err(e) => Err(e),
        }
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        // Without CREATE: the store made the file; a read of a file that
        // was since removed is an error, not a new empty database.
        let flags = OpenFlags::SQLITE_OPEN_NO_MUTEX
            | match self.read_only {
                true => OpenFlags::SQLITE_OPEN_READ_ONLY,
                false => OpenFlags::SQLITE_OPEN_READ_WRITE,
            };
        let conn = match &self.vfs {
            Some(vfs) => Connection::open_with_flags_and_vfs(&self.path, flags, vfs.as_str())?,
            None => Connection::open_with_flags(&self.path, flags)?,
        };
        conn.busy_timeout(Duration::ZERO)?;
        Ok(conn)
    }

    fn put_back(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
    }
}

/// SQLITE_BUSY or SQLITE_LOCKED: the database asked to wait.
fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_on_the_calling_thread_and_reports_busy() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let writer = Connection::open(&path).unwrap();
        writer
            .execute_batch(
                "PRAGMA journal_mode = DELETE; CREATE TABLE t (x); INSERT INTO t VALUES (7);",
            )
            .unwrap();
        let reads = DirectReads::new(path, false, None);
        let x: Option<i64> = reads
            .read(|c| c.query_row("SELECT x FROM t", [], |r| r.get(0)))
            .unwrap();
        assert_eq!(x, Some(7));
        // A rollback-journal writer holding the exclusive lock makes a
        // reader wait: reported as busy, not as an error.
        writer
            .execute_batch("BEGIN EXCLUSIVE; INSERT INTO t VALUES (8);")
            .unwrap();
        let busy: Option<i64> = reads
            .read(|c| c.query_row("SELECT count(*) FROM t", [], |r| r.get(0)))
            .unwrap();
        assert_eq!(busy, None);
        writer.execute_batch("COMMIT").unwrap();
        let n: Option<i64> = reads
            .read(|c| c.query_row("SELECT count(*) FROM t", [], |r| r.get(0)))
            .unwrap();
        assert_eq!(n, Some(2));
    }

    #[test]
    fn a_removed_file_is_an_error_not_a_new_database() {
        let dir = tempfile::tempdir().unwrap();
        let reads = DirectReads::new(dir.path().join("gone"), false, None);
        assert!(
            reads
                .read(|c| c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0)))
                .is_err()
        );
        assert!(!dir.path().join("gone").exists());
    }
}
