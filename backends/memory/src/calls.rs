//! The call store half.

use std::time::Duration;

use fleche_core::{
    CallRecord, CallStore, Capabilities, Claim, Digest, Owner, Query, StoreError, ValueRef,
    async_trait,
};
use futures::stream::{self, BoxStream, StreamExt};

use crate::MemoryStore;
use crate::store::{read, write};

#[async_trait]
impl CallStore for MemoryStore {
    async fn put(&self, record: CallRecord) -> Result<(), StoreError> {
        write(&self.calls).insert(record.key, record);
        Ok(())
    }

    async fn get(&self, key: Digest) -> Result<Option<CallRecord>, StoreError> {
        Ok(read(&self.calls).get(&key).cloned())
    }

    async fn get_result(&self, key: Digest) -> Result<Option<ValueRef>, StoreError> {
        Ok(read(&self.calls).get(&key).map(|r| r.result.clone()))
    }

    async fn delete(&self, key: Digest) -> Result<bool, StoreError> {
        Ok(write(&self.calls).remove(&key).is_some())
    }

    fn query<'a>(&'a self, query: &'a Query) -> BoxStream<'a, Result<CallRecord, StoreError>> {
        let records: Vec<CallRecord> = read(&self.calls)
            .values()
            .filter(|r| query.matches(r))
            .cloned()
            .collect();
        stream::iter(query.apply(records).into_iter().map(Ok)).boxed()
    }

    fn capabilities(&self) -> Capabilities {
        let mut caps = Capabilities::default();
        caps.claims = true;
        caps
    }

    async fn claim(&self, key: Digest, owner: &Owner, ttl: Duration) -> Result<Claim, StoreError> {
        Ok(self.claims.claim(key, owner, ttl))
    }

    async fn renew(&self, key: Digest, owner: &Owner, ttl: Duration) -> Result<bool, StoreError> {
        Ok(self.claims.renew(key, owner, ttl))
    }

    async fn release(&self, key: Digest, owner: &Owner) -> Result<bool, StoreError> {
        Ok(self.claims.release(key, owner))
    }

    fn backend_name(&self) -> &'static str {
        MemoryStore::BACKEND
    }
}
