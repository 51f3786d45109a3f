//! Helpers shared by the integration tests.

#![allow(dead_code)] // each test binary uses its own part

use fleche::{ErrorKind, OpenError, StoreError, bridge};
use sqlx::Connection;

/// The store error of a store that did not open, for code that reports
/// `StoreError`s (the conformance factories); a URL error, which these
/// tests never expect, as a backend error with it as the source.
pub(crate) fn store_error(e: OpenError) -> StoreError {
    match e {
        OpenError::Store(e) => e,
        other => StoreError::new(ErrorKind::Backend, "sql", "the URL is wrong").with_source(other),
    }
}

/// A PostgreSQL schema of one test's own on the server named by
/// `FLECHE_TEST_POSTGRES_URL`, dropped when this goes out of scope, even
/// when the test fails. `None` (with a loud SKIPPED line) if the variable
/// is unset; a panic instead under `FLECHE_TEST_REQUIRE_ALL=1`.
pub(crate) struct PgSchema {
    base: String,
    name: String,
}

impl PgSchema {
    pub(crate) fn new(what: &str) -> Option<Self> {
        let base = fleche_conformance::server_url("FLECHE_TEST_POSTGRES_URL")?;
        let name = fleche_conformance::unique_name(&format!("fleche_{what}"));
        Some(Self { base, name })
    }

    /// The server's URL with this schema and `options` (`k=v&…`) added.
    pub(crate) fn url(&self, options: &str) -> String {
        let sep = if self.base.contains('?') { '&' } else { '?' };
        let mut url = format!("{}{sep}schema={}", self.base, self.name);
        if !options.is_empty() {
            url = format!("{url}&{options}");
        }
        url
    }

    /// The schema's name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        // A plain connection, not a store: a store would refuse to open a
        // schema a test left in a state it does not accept (a newer one).
        let drop_schema = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name);
        let dropped = bridge::block_on(bridge::on_fleche_runtime(async {
            let mut conn = sqlx::PgConnection::connect(&self.base).await?;
            sqlx::query(sqlx::AssertSqlSafe(drop_schema))
                .execute(&mut conn)
                .await
        }));
        if let Err(e) = dropped {
            eprintln!("could not drop test schema {}: {e}", self.name);
        }
    }
}
