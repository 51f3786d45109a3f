//! Redis runs the whole conformance suite, cross-process cases included,
//! against the server named by `FLECHE_TEST_REDIS_URL`
//! (`eval "$(scripts/services up)"`): each case in a namespace of its own,
//! whose keys are deleted afterwards.

use fleche_conformance::{Factory, Location, Stores};
use fleche_core::{ErrorKind, OpenError, StoreError, async_trait};
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
        let store = open(at).await?;
        Ok(Stores::both(std::sync::Arc::new(store)))
    }

    async fn destroy(&self, at: &Location) -> Result<(), StoreError> {
        open(at).await?.destroy().await
    }
}

/// The store at `at`; a URL the store refuses is a (permanent) store error
/// here, as the suite takes them.
async fn open(at: &Location) -> Result<RedisStore, StoreError> {
    RedisStore::open(&at.0).await.map_err(|e| match e {
        OpenError::Store(e) => e,
        other => {
            StoreError::new(ErrorKind::Backend, RedisStore::BACKEND, "bad URL").with_source(other)
        }
    })
}

fleche_conformance::suite!(
    factory: RedisFactory,
    claims: true,
    persistent: true,
    processes: true,
    server: "FLECHE_TEST_REDIS_URL",
);
