//! Helpers shared by the integration tests.

#![allow(dead_code)] // each test binary uses its own part

use fleche::bridge;
use fleche_sql::PgStore;

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
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos();
        let name = format!("fleche_{what}_{}_{nanos}", std::process::id());
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
        let url = self.url("");
        let dropped = bridge::block_on(async { PgStore::connect(&url).await?.drop_schema().await });
        if let Err(e) = dropped {
            eprintln!("could not drop test schema {}: {e}", self.name);
        }
    }
}
