//! The call store half: records, the function index, queries.

use std::time::Duration;

use fleche_core::{
    Bytes, CallRecord, CallStore, Capabilities, Claim, Digest, ErrorKind, Order, Owner, Query,
    RecordHead, StoreError, ValueRef, async_trait,
};
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};

use crate::error::{corrupt, store_error};
use crate::{S3Store, claims, layout};

fn decode_record(key: Digest, bytes: &[u8]) -> Result<CallRecord, StoreError> {
    let record = CallRecord::from_bytes(bytes)
        .map_err(|e| corrupt(key, format!("the record object does not decode: {e}")))?;
    if record.key != key {
        return Err(corrupt(
            key,
            format!("the record object holds the record of {}", record.key),
        ));
    }
    Ok(record)
}

impl S3Store {
    async fn read_record(&self, key: Digest) -> Result<Option<CallRecord>, StoreError> {
        match self
            .read(&self.layout().call(key), key, "read the record")
            .await?
        {
            Some((bytes, _)) => decode_record(key, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// The records whose keys `keys` lists, fetched `concurrency` at a
    /// time, those that match `query` only. Records deleted meanwhile are
    /// skipped; damaged ones are reported and the others still returned.
    fn fetch_matching<'a>(
        &'a self,
        keys: BoxStream<'a, Result<Digest, StoreError>>,
        query: &'a Query,
    ) -> BoxStream<'a, Result<CallRecord, StoreError>> {
        keys.map(move |key| async move {
            match key {
                Ok(key) => self.read_record(key).await,
                Err(e) => Err(e),
            }
        })
        .buffer_unordered(self.options().concurrency)
        .try_filter_map(move |record| async move { Ok(record.filter(|r| query.matches(r))) })
        .boxed()
    }

    /// The keys of the records a query must read: the function's index
    /// entries, or every record.
    fn candidate_keys<'a>(&'a self, query: &'a Query) -> BoxStream<'a, Result<Digest, StoreError>> {
        let dir = match &query.function {
            Some(function) => self.layout().function_dir(function),
            None => self.layout().dir("calls", None),
        };
        self.store()
            .list(Some(&dir))
            .map_err(|e| store_error("list the records", None, e))
            .try_filter_map(|meta| async move { Ok(layout::key_of(&meta.location)) })
            .boxed()
    }
}

#[async_trait]
impl CallStore for S3Store {
    async fn put(&self, record: CallRecord) -> Result<(), StoreError> {
        let key = record.key;
        let bytes = record.to_bytes().map_err(|e| {
            StoreError::new(
                ErrorKind::Backend,
                S3Store::BACKEND,
                "cannot encode the record",
            )
            .with_key(key)
            .with_source(e)
        })?;
        // The index entry first: a record that is there is always found by
        // a query on its function.
        self.write(
            &self.layout().function_entry(&record.function, key),
            Bytes::new(),
            key,
            "write the index entry",
        )
        .await?;
        self.write(
            &self.layout().call(key),
            Bytes::from(bytes),
            key,
            "write the record",
        )
        .await
    }

    async fn get(&self, key: Digest) -> Result<Option<CallRecord>, StoreError> {
        self.read_record(key).await
    }

    async fn get_result(&self, key: Digest) -> Result<Option<ValueRef>, StoreError> {
        let Some((bytes, _)) = self
            .read(&self.layout().call(key), key, "read the record")
            .await?
        else {
            return Ok(None);
        };
        let head = RecordHead::from_bytes(&bytes)
            .map_err(|e| corrupt(key, format!("the record object does not decode: {e}")))?;
        if head.key != key {
            return Err(corrupt(
                key,
                format!("the record object holds the record of {}", head.key),
            ));
        }
        Ok(Some(head.result))
    }

    async fn delete(&self, key: Digest) -> Result<bool, StoreError> {
        // The index entry stays: queries skip entries without a record.
        self.remove(&self.layout().call(key), key, "delete the record")
            .await
    }

    fn query<'a>(&'a self, query: &'a Query) -> BoxStream<'a, Result<CallRecord, StoreError>> {
        let matching = self.fetch_matching(self.candidate_keys(query), query);
        if query.order == Order::Any {
            return match query.limit {
                Some(n) => matching.take(n).boxed(),
                None => matching,
            };
        }
        // Ordered: every match first, then sort and cut.
        stream::once(async move {
            let all: Vec<Result<CallRecord, StoreError>> = matching.collect().await;
            let (records, damaged): (Vec<_>, Vec<_>) = all.into_iter().partition(Result::is_ok);
            let records = query.apply(records.into_iter().filter_map(Result::ok));
            stream::iter(damaged.into_iter().chain(records.into_iter().map(Ok)))
        })
        .flatten()
        .boxed()
    }

    fn capabilities(&self) -> Capabilities {
        let mut caps = Capabilities::default();
        caps.claims = self.claims_supported();
        caps.persistent = self.options().persistent;
        caps.shared = self.options().shared;
        caps
    }

    async fn claim(&self, key: Digest, owner: &Owner, ttl: Duration) -> Result<Claim, StoreError> {
        self.require_claims(key, "claim")?;
        claims::claim(self, key, owner, ttl).await
    }

    async fn renew(&self, key: Digest, owner: &Owner, ttl: Duration) -> Result<bool, StoreError> {
        self.require_claims(key, "renew")?;
        claims::renew(self, key, owner, ttl).await
    }

    async fn release(&self, key: Digest, owner: &Owner) -> Result<bool, StoreError> {
        self.require_claims(key, "release")?;
        claims::release(self, key, owner).await
    }

    fn backend_name(&self) -> &'static str {
        S3Store::BACKEND
    }
}

impl S3Store {
    fn require_claims(&self, key: Digest, operation: &str) -> Result<(), StoreError> {
        if self.claims_supported() {
            Ok(())
        } else {
            Err(StoreError::unsupported(
                S3Store::BACKEND,
                &format!("{operation} (the object store lacks conditional writes)"),
            )
            .with_key(key))
        }
    }
}
