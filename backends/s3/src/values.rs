//! The value store half.

use fleche_core::{Bytes, Digest, StoreError, ValueStore, async_trait};
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};

use crate::error::{corrupt, store_error};
use crate::{S3Store, layout};

#[async_trait]
impl ValueStore for S3Store {
    async fn put(&self, key: Digest, bytes: Bytes) -> Result<(), StoreError> {
        // A plain overwrite: putting a value again repairs a damaged one.
        self.write(&self.layout().value(key), bytes, key, "write the value")
            .await
    }

    async fn get(&self, key: Digest) -> Result<Option<Bytes>, StoreError> {
        let Some((bytes, _)) = self
            .read(&self.layout().value(key), key, "read the value")
            .await?
        else {
            return Ok(None);
        };
        let found = Digest::of(&bytes);
        if found != key {
            return Err(corrupt(
                key,
                format!(
                    "the value object holds {} bytes whose digest is {found}",
                    bytes.len()
                ),
            ));
        }
        Ok(Some(bytes))
    }

    async fn contains(&self, key: Digest) -> Result<bool, StoreError> {
        self.exists(&self.layout().value(key), key, "check for the value")
            .await
    }

    async fn delete(&self, key: Digest) -> Result<bool, StoreError> {
        self.remove(&self.layout().value(key), key, "delete the value")
            .await
    }

    fn list(&self, prefix: &str) -> BoxStream<'_, Result<Digest, StoreError>> {
        let prefix = prefix.to_ascii_lowercase();
        if !prefix.chars().all(|c| c.is_ascii_hexdigit()) || prefix.len() > 64 {
            return stream::empty().boxed();
        }
        // Two or more digits name one shard; fewer list them all.
        let shard = prefix.get(..2);
        let dir = self.layout().dir("values", shard);
        self.store()
            .list(Some(&dir))
            .map_err(|e| store_error("list the values", None, e))
            .try_filter_map(move |meta| {
                let key = layout::key_of(&meta.location).filter(|k| k.has_prefix(&prefix));
                async move { Ok(key) }
            })
            .boxed()
    }

    async fn put_many(&self, items: Vec<(Digest, Bytes)>) -> Result<(), StoreError> {
        stream::iter(items)
            .map(|(key, bytes)| ValueStore::put(self, key, bytes))
            .buffer_unordered(self.options().concurrency)
            .try_collect()
            .await
    }

    async fn get_many(&self, keys: &[Digest]) -> Result<Vec<Option<Bytes>>, StoreError> {
        stream::iter(keys.to_vec())
            .map(|key| ValueStore::get(self, key))
            .buffered(self.options().concurrency)
            .try_collect()
            .await
    }
}
