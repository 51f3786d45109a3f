//! PostgreSQL runs the whole conformance suite against the server named by
//! `FLECHE_TEST_POSTGRES_URL` (`eval "$(scripts/services up)"`), each case
//! in a schema of its own that is dropped afterwards.

use std::sync::atomic::{AtomicU64, Ordering};

use fleche_conformance::{Factory, Location, Stores};
use fleche_core::{StoreError, async_trait};
use fleche_sql::{PgStore, SqlOptions};

const SERVER: &str = "FLECHE_TEST_POSTGRES_URL";

/// A fresh schema per case; the URL naming it is the location.
struct PgFactory;

#[async_trait]
impl Factory for PgFactory {
    async fn create(&self) -> Result<Location, StoreError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let base = std::env::var(SERVER).expect("the suite checks the server first");
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos();
        let schema = format!(
            "fleche_test_{}_{}_{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let sep = if base.contains('?') { '&' } else { '?' };
        Ok(Location(format!("{base}{sep}schema={schema}")))
    }

    async fn open(&self, at: &Location) -> Result<Stores, StoreError> {
        let store = PgStore::connect_with(&at.0, SqlOptions::default().max_connections(4)).await?;
        Ok(Stores::both(std::sync::Arc::new(store)))
    }

    async fn destroy(&self, at: &Location) -> Result<(), StoreError> {
        PgStore::connect(&at.0).await?.drop_schema().await
    }
}

fleche_conformance::suite!(
    factory: PgFactory,
    claims: true,
    persistent: true,
    processes: true,
    server: "FLECHE_TEST_POSTGRES_URL",
);
