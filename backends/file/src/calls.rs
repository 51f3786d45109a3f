//! The call store half.

use std::time::Duration;

use fleche_core::{
    CallRecord, CallStore, Capabilities, Claim, CodecError, Digest, ErrorKind, Owner, Query,
    RecordHead, StoreError, ValueRef, async_trait,
};
use futures::stream::{self, BoxStream, StreamExt};

use crate::error::corrupt;
use crate::{FileStore, claims, fsio, layout};

/// Reads the record file of `key`, decodes it with `decode`, and checks
/// that it is `key`'s record.
fn read_as<T>(
    store: &FileStore,
    key: Digest,
    decode: impl FnOnce(&[u8]) -> Result<T, CodecError>,
    key_of: impl FnOnce(&T) -> Digest,
) -> Result<Option<T>, StoreError> {
    let path = layout::call_path(store.root(), key);
    let Some(bytes) = fsio::read(&path, key)? else {
        return Ok(None);
    };
    let decoded = decode(&bytes)
        .map_err(|e| corrupt(key, format!("{} does not decode: {e}", path.display())))?;
    let found = key_of(&decoded);
    if found != key {
        return Err(corrupt(
            key,
            format!(
                "{} holds the record of another key, {found}",
                path.display()
            ),
        ));
    }
    Ok(Some(decoded))
}

/// Reads and decodes the record of `key`.
fn read_record(store: &FileStore, key: Digest) -> Result<Option<CallRecord>, StoreError> {
    read_as(store, key, CallRecord::from_bytes, |r| r.key)
}

#[async_trait]
impl CallStore for FileStore {
    async fn put(&self, record: CallRecord) -> Result<(), StoreError> {
        let key = record.key;
        let bytes = record.to_bytes().map_err(|e| {
            StoreError::new(
                ErrorKind::Backend,
                FileStore::BACKEND,
                "cannot encode the record",
            )
            .with_key(key)
            .with_source(e)
        })?;
        // Writers of one record take turns, so the one that finishes last
        // is the one that stays.
        let _lock = fsio::lock(
            &layout::lock_path(self.root(), key),
            self.options().lock_timeout,
            key,
        )
        .await?;
        fsio::write_atomic(
            &layout::call_path(self.root(), key),
            &bytes,
            self.options().fsync,
            key,
        )
    }

    async fn get(&self, key: Digest) -> Result<Option<CallRecord>, StoreError> {
        read_record(self, key)
    }

    async fn get_result(&self, key: Digest) -> Result<Option<ValueRef>, StoreError> {
        let head = read_as(self, key, RecordHead::from_bytes, |h| h.key)?;
        Ok(head.map(|h| h.result))
    }

    async fn delete(&self, key: Digest) -> Result<bool, StoreError> {
        let _lock = fsio::lock(
            &layout::lock_path(self.root(), key),
            self.options().lock_timeout,
            key,
        )
        .await?;
        fsio::remove(&layout::call_path(self.root(), key), key)
    }

    fn query<'a>(&'a self, query: &'a Query) -> BoxStream<'a, Result<CallRecord, StoreError>> {
        // Records are small: scan them all and filter here. Damaged records
        // are reported, and the others still returned.
        let keys = match layout::keys(self.root(), "calls", "") {
            Ok(k) => k,
            Err(e) => return stream::iter([Err(e)]).boxed(),
        };
        let mut damaged = Vec::new();
        let mut records = Vec::new();
        for key in keys {
            match read_record(self, key) {
                Ok(Some(r)) => records.push(r),
                Ok(None) => {} // deleted meanwhile
                Err(e) => damaged.push(Err(e)),
            }
        }
        let found = query.apply(records).into_iter().map(Ok);
        stream::iter(damaged.into_iter().chain(found)).boxed()
    }

    fn capabilities(&self) -> Capabilities {
        let mut caps = Capabilities::default();
        caps.claims = true;
        caps.persistent = true;
        caps.shared = true;
        caps
    }

    async fn claim(&self, key: Digest, owner: &Owner, ttl: Duration) -> Result<Claim, StoreError> {
        claims::claim(self, key, owner, ttl).await
    }

    async fn renew(&self, key: Digest, owner: &Owner, ttl: Duration) -> Result<bool, StoreError> {
        claims::renew(self, key, owner, ttl).await
    }

    async fn release(&self, key: Digest, owner: &Owner) -> Result<bool, StoreError> {
        claims::release(self, key, owner).await
    }

    fn backend_name(&self) -> &'static str {
        FileStore::BACKEND
    }
}
