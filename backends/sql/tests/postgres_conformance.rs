//! PostgreSQL runs the whole conformance suite against the server named by
//! `FLECHE_TEST_POSTGRES_URL` (`eval "$(scripts/services up)"`), each case
//! in a schema of its own that is dropped afterwards.

use fleche_conformance::{Factory, Location, Stores};
use fleche_core::{StoreError, async_trait};
use fleche_sql::{PgStore, SqlOptions};

mod common;
use common::store_error;

const SERVER: &str = "FLECHE_TEST_POSTGRES_URL";

/// A fresh schema per case; the URL naming it is the location.
struct PgFactory;

#[async_trait]
impl Factory for PgFactory {
    async fn create(&self) -> Result<Location, StoreError> {
        let base = std::env::var(SERVER).expect("the suite checks the server first");
        let schema = fleche_conformance::unique_name("fleche_test");
        let sep = if base.contains('?') { '&' } else { '?' };
        Ok(Location(format!("{base}{sep}schema={schema}")))
    }

    async fn open(&self, at: &Location) -> Result<Stores, StoreError> {
        let options = SqlOptions::default().max_connections(4);
        let store = PgStore::open_with(&at.0, options)
            .await
            .map_err(store_error)?;
        Ok(Stores::both(std::sync::Arc::new(store)))
    }

    async fn destroy(&self, at: &Location) -> Result<(), StoreError> {
        PgStore::open(&at.0)
            .await
            .map_err(store_error)?
            .destroy()
            .await
    }
}

fleche_conformance::suite!(
    factory: PgFactory,
    claims: true,
    persistent: true,
    processes: true,
    server: "FLECHE_TEST_POSTGRES_URL",
);
