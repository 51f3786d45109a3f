//! The value store half.

use fleche_core::{Bytes, Digest, StoreError, ValueStore, async_trait};
use futures::stream::{self, BoxStream, StreamExt};

use crate::MemoryStore;
use crate::store::{read, write};

#[async_trait]
impl ValueStore for MemoryStore {
    async fn put(&self, key: Digest, bytes: Bytes) -> Result<(), StoreError> {
        write(&self.values).insert(key, bytes);
        Ok(())
    }

    async fn get(&self, key: Digest) -> Result<Option<Bytes>, StoreError> {
        Ok(read(&self.values).get(&key).cloned())
    }

    async fn contains(&self, key: Digest) -> Result<bool, StoreError> {
        Ok(read(&self.values).contains_key(&key))
    }

    async fn delete(&self, key: Digest) -> Result<bool, StoreError> {
        Ok(write(&self.values).remove(&key).is_some())
    }

    fn list(&self, prefix: &str) -> BoxStream<'_, Result<Digest, StoreError>> {
        let keys: Vec<_> = read(&self.values)
            .keys()
            .filter(|k| k.has_prefix(prefix))
            .copied()
            .map(Ok)
            .collect();
        stream::iter(keys).boxed()
    }
}
