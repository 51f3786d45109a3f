//! The whole conformance suite against a real S3 server — the moto server
//! named by `FLECHE_TEST_S3_URL` (`eval "$(scripts/services up)"`) — each
//! case under a prefix of its own in the test bucket, deleted afterwards.
//! The cross-process cases open the same prefix from child processes.

mod support;

use std::sync::Arc;

use fleche_conformance::{Factory, Location, Stores};
use fleche_core::{StoreError, async_trait};
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
        Ok(Stores::both(Arc::new(S3Store::connect(&at.0).await?)))
    }

    async fn destroy(&self, at: &Location) -> Result<(), StoreError> {
        S3Store::connect(&at.0).await?.destroy().await.map(|_| ())
    }
}

fleche_conformance::suite!(
    factory: MotoFactory,
    claims: true,
    persistent: true,
    processes: true,
    server: "FLECHE_TEST_S3_URL",
);
