//! The whole conformance suite against a real S3 server — the moto server
//! named by `FLECHE_TEST_S3_URL` (`eval "$(scripts/services up)"`) — each
//! case under a prefix of its own in the test bucket, deleted afterwards.
//! The cross-process cases open the same prefix from child processes.

mod support;

use std::sync::Arc;

use fleche_conformance::{Factory, Location, Stores};
use fleche_core::{ErrorKind, OpenError, StoreError, async_trait};
use fleche_s3::S3Store;

/// A fresh prefix per case; the URL naming it is the location.
struct MotoFactory;

#[async_trait]
impl Factory for MotoFactory {
    async fn create(&self) -> Result<Location, StoreError> {
        let endpoint = std::env::var(support::SERVER).expect("the suite checks the server first");
        Ok(Location(support::fresh_url(&endpoint, "conformance", "")))
    }

    async fn open(&self, at: &Location) -> Result<Stores, StoreError> {
        Ok(Stores::both(Arc::new(open(at).await?)))
    }

    async fn destroy(&self, at: &Location) -> Result<(), StoreError> {
        open(at).await?.destroy().await
    }
}

/// The store at `at`; a URL the store refuses is a (permanent) store error
/// here, as the suite takes them.
async fn open(at: &Location) -> Result<S3Store, StoreError> {
    S3Store::open(&at.0).await.map_err(|e| match e {
        OpenError::Store(e) => e,
        other => {
            StoreError::new(ErrorKind::Backend, S3Store::BACKEND, "bad URL").with_source(other)
        }
    })
}

fleche_conformance::suite!(
    factory: MotoFactory,
    claims: true,
    persistent: true,
    processes: true,
    server: "FLECHE_TEST_S3_URL",
);
