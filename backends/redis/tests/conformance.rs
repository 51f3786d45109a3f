//! Redis runs the whole conformance suite, cross-process cases included,
//! against the server named by `FLECHE_TEST_REDIS_URL`
//! (`eval "$(scripts/services up)"`): each case in a namespace of its own,
//! whose keys are deleted afterwards.

use fleche_conformance::{Factory, Location, Stores};
use fleche_core::{StoreError, async_trait};
use fleche_redis::RedisStore;

const SERVER: &str = "FLECHE_TEST_REDIS_URL";

/// A fresh namespace per case; the URL naming it is the location.
struct RedisFactory;

#[async_trait]
impl Factory for RedisFactory {
    async fn create(&self) -> Result<Location, StoreError> {
        let base = std::env::var(SERVER).expect("the suite checks the server first");
        let namespace = fleche_conformance::unique_name("fleche_test");
        let sep = if base.contains('?') { '&' } else { '?' };
        Ok(Location(format!("{base}{sep}namespace={namespace}")))
    }

    async fn open(&self, at: &Location) -> Result<Stores, StoreError> {
        let store = RedisStore::connect(&at.0).await?;
        Ok(Stores::both(std::sync::Arc::new(store)))
    }

    async fn destroy(&self, at: &Location) -> Result<(), StoreError> {
        RedisStore::connect(&at.0).await?.delete_namespace().await?;
        Ok(())
    }
}

fleche_conformance::suite!(
    factory: RedisFactory,
    claims: true,
    persistent: true,
    processes: true,
    server: "FLECHE_TEST_REDIS_URL",
);
