//! The call store half: records as hashes, indexed by sorted sets.

use std::time::Duration;

use fleche_core::{
    Bytes, CallRecord, CallStore, Capabilities, Claim, Digest, ErrorKind, Owner, Query, RecordHead,
    StoreError, ValueRef, async_trait,
};
use futures::stream::BoxStream;
use redis::Value;

use crate::error::{corrupt, store_error};
use crate::{RedisStore, scripts};

/// Decodes a record's CBOR, checking that it is `key`'s.
pub(crate) fn decode_record(key: Digest, bytes: &[u8]) -> Result<CallRecord, StoreError> {
    let record = CallRecord::from_bytes(bytes)
        .map_err(|e| corrupt(key, format!("the record does not decode: {e}")))?;
    if record.key != key {
        return Err(corrupt(
            key,
            format!("the record under this key is the record of {}", record.key),
        ));
    }
    Ok(record)
}

/// The bytes of a bulk-string reply, without copying.
fn bulk(value: Value) -> Option<Vec<u8>> {
    match value {
        Value::BulkString(b) => Some(b),
        _ => None,
    }
}

#[async_trait]
impl CallStore for RedisStore {
    async fn put(&self, record: CallRecord) -> Result<(), StoreError> {
        let key = record.key;
        let bytes = record.to_bytes().map_err(|e| {
            StoreError::new(
                ErrorKind::Backend,
                RedisStore::BACKEND,
                "cannot encode the call record",
            )
            .with_key(key)
            .with_source(e)
        })?;
        let keys = &self.inner.keys;
        let apart = match record.result.inline {
            Some(_) => String::new(),
            None => record.result.digest.to_hex(),
        };
        let mut invocation = scripts::PUT.prepare_invoke();
        invocation
            .key(keys.record(key))
            .key(keys.all_index())
            .key(keys.function_index(&record.function))
            .arg(bytes)
            .arg(&record.function)
            .arg(key.to_hex())
            .arg(record.created_at.as_micros())
            .arg(apart)
            .arg(self.inner.ttl_ms)
            .arg(&self.inner.function_prefix)
            .arg(&self.inner.value_prefix);
        let mut conn = self.inner.conn.clone();
        invocation
            .invoke_async::<()>(&mut conn)
            .await
            .map_err(|e| store_error("write the call record", Some(key), e))
    }

    async fn get(&self, key: Digest) -> Result<Option<CallRecord>, StoreError> {
        let mut conn = self.inner.conn.clone();
        let bytes: Option<Vec<u8>> = redis::cmd("HGET")
            .arg(self.inner.keys.record(key))
            .arg("r")
            .query_async(&mut conn)
            .await
            .map_err(|e| store_error("read the call record", Some(key), e))?;
        bytes.map(|b| decode_record(key, &b)).transpose()
    }

    async fn get_result(&self, key: Digest) -> Result<Option<ValueRef>, StoreError> {
        let mut invocation = scripts::GET_RESULT.key(self.inner.keys.record(key));
        invocation.arg(&self.inner.value_prefix);
        let mut conn = self.inner.conn.clone();
        let reply: Value = invocation
            .invoke_async(&mut conn)
            .await
            .map_err(|e| store_error("read the call record", Some(key), e))?;
        let mut parts = match reply {
            Value::Nil => return Ok(None),
            Value::Array(parts) => parts.into_iter(),
            other => return Err(corrupt(key, format!("unexpected reply {other:?}"))),
        };
        let record = parts
            .next()
            .and_then(bulk)
            .ok_or_else(|| corrupt(key, "the record has no `r` field"))?;
        let head = RecordHead::from_bytes(&record)
            .map_err(|e| corrupt(key, format!("the record does not decode: {e}")))?;
        if head.key != key {
            return Err(corrupt(
                key,
                format!("the record under this key is the record of {}", head.key),
            ));
        }
        let mut result = head.result;
        if result.inline.is_none() {
            // The value, read in the same script; absent if it is gone.
            result.inline = parts.next().and_then(bulk).map(Bytes::from);
        }
        Ok(Some(result))
    }

    async fn delete(&self, key: Digest) -> Result<bool, StoreError> {
        let keys = &self.inner.keys;
        let mut invocation = scripts::DELETE.key(keys.record(key));
        invocation
            .key(keys.all_index())
            .arg(key.to_hex())
            .arg(&self.inner.function_prefix);
        let mut conn = self.inner.conn.clone();
        let n: u64 = invocation
            .invoke_async(&mut conn)
            .await
            .map_err(|e| store_error("delete the call record", Some(key), e))?;
        Ok(n > 0)
    }

    fn query<'a>(&'a self, query: &'a Query) -> BoxStream<'a, Result<CallRecord, StoreError>> {
        crate::query::run(self, query)
    }

    fn capabilities(&self) -> Capabilities {
        let mut caps = Capabilities::default();
        caps.claims = true;
        caps.query_pushdown = true;
        caps.persistent = true;
        caps.shared = true;
        caps.ttl = self.inner.options.ttl.is_some();
        caps
    }

    async fn claim(&self, key: Digest, owner: &Owner, ttl: Duration) -> Result<Claim, StoreError> {
        crate::claims::claim(self, key, owner, ttl).await
    }

    async fn renew(&self, key: Digest, owner: &Owner, ttl: Duration) -> Result<bool, StoreError> {
        crate::claims::renew(self, key, owner, ttl).await
    }

    async fn release(&self, key: Digest, owner: &Owner) -> Result<bool, StoreError> {
        crate::claims::release(self, key, owner).await
    }

    fn backend_name(&self) -> &'static str {
        RedisStore::BACKEND
    }
}
