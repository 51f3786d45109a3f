//! The two storage traits every backend implements.
//!
//! A [`ValueStore`] is content-addressed: bytes under their BLAKE3 digest. A
//! [`CallStore`] maps a call key to the [`CallRecord`] of that call, and may
//! offer claims (stampede protection across processes). Both are async,
//! object-safe and `Send + Sync`, so a cache holds them as `Arc<dyn …>`.
//!
//! The promises a store keeps are checked by the `fleche-conformance` suite;
//! they are listed in the crate's design document and on each method.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;

use crate::claim::{Claim, Owner};
use crate::{CallRecord, Digest, Query, StoreError};

/// What a store offers beyond the required operations. Plain data, so a
/// caller can check before it asks (and a test suite can skip honestly).
///
/// ```
/// use fleche_core::Capabilities;
/// let mut caps = Capabilities::default();
/// caps.claims = true;
/// assert!(caps.claims && !caps.persistent);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// `claim`, `renew` and `release` work.
    pub claims: bool,
    /// `query` filters in the store rather than by scanning every record.
    pub query_pushdown: bool,
    /// Data survives the process (and reopening the store).
    pub persistent: bool,
    /// Several processes (or machines) can share the store.
    pub shared: bool,
    /// Entries can expire by themselves.
    pub ttl: bool,
}

/// A content-addressed store of encoded values.
///
/// Promises: a missing key is `Ok(None)`; bytes come back exactly as put;
/// `put` is idempotent and concurrent puts never expose a torn value;
/// `delete` is idempotent; `list` sees every completed put.
#[async_trait]
pub trait ValueStore: Send + Sync + fmt::Debug {
    /// Stores `bytes` under `key` (their digest). Putting the same key again
    /// is harmless.
    async fn put(&self, key: Digest, bytes: Bytes) -> Result<(), StoreError>;

    /// The bytes under `key`, or `None`.
    async fn get(&self, key: Digest) -> Result<Option<Bytes>, StoreError>;

    /// Whether `key` is stored.
    async fn contains(&self, key: Digest) -> Result<bool, StoreError> {
        Ok(self.get(key).await?.is_some())
    }

    /// Removes `key`; `true` if it was there.
    async fn delete(&self, key: Digest) -> Result<bool, StoreError>;

    /// Every stored key whose hex form starts with `prefix` (`""` for all).
    fn list(&self, prefix: &str) -> BoxStream<'_, Result<Digest, StoreError>>;

    /// Stores many values; backends override this to batch or pipeline.
    async fn put_many(&self, items: Vec<(Digest, Bytes)>) -> Result<(), StoreError> {
        for (key, bytes) in items {
            self.put(key, bytes).await?;
        }
        Ok(())
    }

    /// Reads many values, in order; backends override this to batch.
    async fn get_many(&self, keys: &[Digest]) -> Result<Vec<Option<Bytes>>, StoreError> {
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            out.push(self.get(*key).await?);
        }
        Ok(out)
    }
}

/// A store of call records, keyed by call key.
///
/// Promises: a missing key is `Ok(None)`; `put` is an upsert and the last
/// writer wins — after writes complete, `get` returns exactly one of the
/// records written, whole, the one whose write finished last; `delete` is
/// idempotent; `query` sees every completed write. Claims, where
/// [`Capabilities::claims`] says so: of concurrent claimers exactly one
/// wins, an expired claim is taken over exactly once, and a stale owner's
/// renew or release does nothing.
#[async_trait]
pub trait CallStore: Send + Sync + fmt::Debug {
    /// Stores `record` under `record.key`, replacing any record there.
    async fn put(&self, record: CallRecord) -> Result<(), StoreError>;

    /// The record under `key`, or `None`.
    async fn get(&self, key: Digest) -> Result<Option<CallRecord>, StoreError>;

    /// Removes the record under `key`; `true` if it was there.
    async fn delete(&self, key: Digest) -> Result<bool, StoreError>;

    /// The records that match `query`, in its order and up to its limit.
    fn query<'a>(&'a self, query: &'a Query) -> BoxStream<'a, Result<CallRecord, StoreError>>;

    /// What this store offers.
    fn capabilities(&self) -> Capabilities;

    /// The result of the record under `key`: the hit path. Backends override
    /// this to read less than the whole record; it must still be one round
    /// trip.
    async fn get_result(&self, key: Digest) -> Result<Option<crate::ValueRef>, StoreError> {
        Ok(self.get(key).await?.map(|r| r.result))
    }

    /// Tries to claim `key` for `owner` for `ttl`: the right to compute it
    /// while others wait. Succeeds if nobody holds the claim or the holder's
    /// lease has expired.
    async fn claim(&self, key: Digest, owner: &Owner, ttl: Duration) -> Result<Claim, StoreError> {
        let _ = (key, owner, ttl);
        Err(StoreError::unsupported(self.backend_name(), "claim").with_key(key))
    }

    /// Extends `owner`'s claim on `key` to `ttl` from now; `false` (and no
    /// change) if `owner` does not hold it.
    async fn renew(&self, key: Digest, owner: &Owner, ttl: Duration) -> Result<bool, StoreError> {
        let _ = (owner, ttl);
        Err(StoreError::unsupported(self.backend_name(), "renew").with_key(key))
    }

    /// Gives up `owner`'s claim on `key`; `false` (and no change) if `owner`
    /// does not hold it.
    async fn release(&self, key: Digest, owner: &Owner) -> Result<bool, StoreError> {
        let _ = owner;
        Err(StoreError::unsupported(self.backend_name(), "release").with_key(key))
    }

    /// The backend's name, for errors.
    fn backend_name(&self) -> &'static str {
        "call store"
    }
}
