//! The schema: versioned sqlx migrations, applied when a store opens.

use std::time::Duration;

use fleche_core::{ErrorKind, StoreError};
use sqlx::migrate::{MigrateError, Migrator};

/// The newest schema version this crate knows.
pub(crate) fn latest(migrator: &Migrator) -> i64 {
    migrator.iter().map(|m| m.version).max().unwrap_or(0)
}

/// Fails clearly if the database was set up by a newer fleche-sql, whose
/// tables this one could misread.
pub(crate) fn refuse_newer(
    backend: &'static str,
    found: Option<i64>,
    migrator: &Migrator,
) -> Result<(), StoreError> {
    match found {
        Some(found) if found > latest(migrator) => Err(StoreError::new(
            ErrorKind::Backend,
            backend,
            format!(
                "the database has fleche-sql schema version {found}, newer than the {} this build knows; upgrade fleche-sql (or point it at another database or schema)",
                latest(migrator)
            ),
        )),
        _ => Ok(()),
    }
}

/// Runs `migrate` until it succeeds, a few times. Several processes that
/// open a fresh database at once race to set it up; the losers fail (a
/// table or a migration row that already exists) and, run again, find the
/// schema in place.
pub(crate) async fn with_retries<F, Fut>(
    backend: &'static str,
    mut migrate: F,
) -> Result<(), StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), MigrateError>>,
{
    let mut attempt = 0;
    loop {
        match migrate().await {
            Ok(()) => return Ok(()),
            Err(e) if attempt < 5 && is_race(&e) => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(20 << attempt)).await;
            }
            Err(e) => {
                return Err(StoreError::new(
                    migrate_kind(&e),
                    backend,
                    format!("cannot set up the schema: {e}"),
                )
                .with_source(e));
            }
        }
    }
}

/// Whether a migration error may come from another process migrating at
/// the same moment.
fn is_race(e: &MigrateError) -> bool {
    matches!(
        e,
        MigrateError::Execute(_) | MigrateError::ExecuteMigration(..)
    )
}

fn migrate_kind(e: &MigrateError) -> ErrorKind {
    match e {
        MigrateError::Execute(sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut) => {
            ErrorKind::Unavailable
        }
        _ => ErrorKind::Backend,
    }
}
