//! The whole conformance suite against a real S3 server — the moto server
//! named by `FLECHE_TEST_S3_URL` (`eval "$(scripts/services up)"`) — each
//! case under a prefix of its own in the test bucket, deleted afterwards.
//! The cross-process cases open the same prefix from child processes.

mod support;

use std::sync::Arc;

use fleche_conformance::{Factory, Location, Stores};
use fleche_core::{Digest, ErrorKind, OpenError, StoreError, async_trait};
use fleche_s3::S3Store;
use fleche_s3::object_store::{ObjectStoreExt, PutPayload, path::Path};

/// A fresh prefix per case; the URL naming it is the location.
struct MotoFactory;

/// The secret access key every location carries (moto accepts any), so
/// that the suite checks that no error or `Debug` output shows it.
const SECRET_KEY: &str = "conformance-s3-secret-5c1e";

#[async_trait]
impl Factory for MotoFactory {
    async fn create(&self) -> Result<Location, StoreError> {
        let endpoint = std::env::var(support::SERVER).expect("the suite checks the server first");
        let secret = format!("&secret_access_key={SECRET_KEY}");
        Ok(Location(support::fresh_url(
            &endpoint,
            "conformance",
            &secret,
        )))
    }

    async fn open(&self, at: &Location) -> Result<Stores, StoreError> {
        Ok(Stores::both(Arc::new(open(at).await?)))
    }

    async fn destroy(&self, at: &Location) -> Result<(), StoreError> {
        open(at).await?.destroy().await
    }

    /// Overwrites the record's object, `PREFIX/calls/ab/<hex>`, with bytes
    /// that are not a record, through a client of its own.
    async fn damage_record(&self, at: &Location, key: Digest) -> Result<bool, StoreError> {
        let store = open(at).await?;
        let hex = key.to_hex();
        let path = Path::from(format!("{}/calls/{}/{hex}", store.prefix(), &hex[..2]));
        let failed = |e: fleche_s3::object_store::Error| {
            StoreError::new(
                ErrorKind::Backend,
                S3Store::BACKEND,
                "cannot damage the record",
            )
            .with_key(key)
            .with_source(e)
        };
        let objects = store.object_store();
        objects.head(&path).await.map_err(failed)?;
        objects
            .put(
                &path,
                PutPayload::from_static(b"\xffdamaged by the conformance suite"),
            )
            .await
            .map_err(failed)?;
        Ok(true)
    }

    /// The secret access key in the location's options.
    fn secret(&self, at: &Location) -> Option<String> {
        let (_, query) = at.0.split_once('?')?;
        query
            .split('&')
            .find_map(|p| p.strip_prefix("secret_access_key="))
            .map(str::to_owned)
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
    damage: true,
    server: "FLECHE_TEST_S3_URL",
);
