//! Redis runs the whole conformance suite, cross-process cases included,
//! against the server named by `FLECHE_TEST_REDIS_URL`
//! (`eval "$(scripts/services up)"`): each case in a namespace of its own,
//! whose keys are deleted afterwards.

use fleche_conformance::{Factory, Location, Stores};
use fleche_core::{Digest, ErrorKind, OpenError, StoreError, async_trait};
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

    /// Overwrites the record's key, `{NAMESPACE}:c:<hex>` (a hash), with a
    /// string of garbage bytes, through a connection of its own: what
    /// another program sharing the server could do.
    async fn damage_record(&self, at: &Location, key: Digest) -> Result<bool, StoreError> {
        let failed = |e: redis::RedisError| {
            StoreError::new(
                ErrorKind::Backend,
                RedisStore::BACKEND,
                "cannot damage the record",
            )
            .with_key(key)
            .with_source(e)
        };
        // The location is the server's URL and `namespace=`, which is the
        // store's option, not the client's.
        let (server, query) = at.0.split_once('?').expect("the factory names a namespace");
        let namespace = query
            .split('&')
            .find_map(|p| p.strip_prefix("namespace="))
            .expect("the factory names a namespace");
        let mut conn = redis::Client::open(server)
            .map_err(failed)?
            .get_multiplexed_async_connection()
            .await
            .map_err(failed)?;
        let record = format!("{{{namespace}}}:c:{}", key.to_hex());
        let existed: bool = redis::cmd("EXISTS")
            .arg(&record)
            .query_async(&mut conn)
            .await
            .map_err(failed)?;
        if !existed {
            return Err(StoreError::new(
                ErrorKind::Backend,
                RedisStore::BACKEND,
                "no record to damage",
            )
            .with_key(key));
        }
        redis::cmd("SET")
            .arg(&record)
            .arg(&b"\xffdamaged by the conformance suite"[..])
            .query_async::<()>(&mut conn)
            .await
            .map_err(failed)?;
        Ok(true)
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
    damage: true,
    server: "FLECHE_TEST_REDIS_URL",
);
