//! The schema: versioned sqlx migrations, applied when a store opens.

use std::time::Duration;

use fleche_core::{ErrorKind, StoreError};
use sqlx::migrate::{MigrateError, Migrator};

use crate::database::Database;
use crate::error::{migrate_error, store_error};
use crate::exec::Exec;
use crate::rows::SchemaVersion;
use crate::statements::Statements;

/// Applies the migrations the database lacks, refusing a schema set up by
/// a newer fleche-sql, whose tables this one could misread. A database at
/// the newest version costs two reads and no lock.
pub(crate) async fn migrate<D: Database>(db: &D, sql: &Statements) -> Result<(), StoreError> {
    let found = version(db, sql)
        .await
        .map_err(|e| store_error::<D>("cannot read the schema version", e))?;
    let latest = latest(D::migrator());
    match found {
        Some(found) if found > latest => Err(StoreError::new(
            ErrorKind::Backend,
            D::BACKEND,
            format!(
                "the database has fleche-sql schema version {found}, newer than the {latest} this build knows; upgrade fleche-sql (or point it at another database or schema)"
            ),
        )),
        Some(found) if found == latest => Ok(()),
        _ => with_retries::<D, _, _>(|| db.run_migrations()).await,
    }
}

/// The newest migration applied, `None` on a fresh database.
async fn version<D: Database>(db: &D, sql: &Statements) -> Result<Option<i64>, sqlx::Error> {
    let pool = db.pool();
    if pool
        .fetch_optional::<()>(&sql.has_migrations, vec![])
        .await?
        .is_none()
    {
        return Ok(None);
    }
    let version = pool
        .fetch_optional::<SchemaVersion>(&sql.schema_version, vec![])
        .await?;
    Ok(version.and_then(|v| v.0))
}

/// The newest schema version this crate knows.
fn latest(migrator: &Migrator) -> i64 {
    migrator.iter().map(|m| m.version).max().unwrap_or(0)
}

/// Runs `migrate` until it succeeds, a few times. Several processes that
/// open a fresh database at once race to set it up; the losers fail (a
/// table or a migration row that already exists) and, run again, find the
/// schema in place.
async fn with_retries<D, F, Fut>(mut migrate: F) -> Result<(), StoreError>
where
    D: Database,
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
            Err(e) => return Err(migrate_error::<D>(e)),
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
