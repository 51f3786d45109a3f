//! The value store half.

use fleche_core::{Bytes, Digest, StoreError, ValueStore, async_trait};
use futures::stream::{self, BoxStream, StreamExt};

use crate::error::corrupt;
use crate::{FileStore, fsio, layout};

#[async_trait]
impl ValueStore for FileStore {
    async fn put(&self, key: Digest, bytes: Bytes) -> Result<(), StoreError> {
        // Content-addressed: every writer of a key writes the same bytes, so
        // no lock is needed; the rename makes each write whole.
        let path = layout::value_path(self.root(), key);
        fsio::write_atomic(&path, &bytes, self.options().fsync, key)
    }

    async fn get(&self, key: Digest) -> Result<Option<Bytes>, StoreError> {
        let path = layout::value_path(self.root(), key);
        let Some(bytes) = fsio::read(&path, key)? else {
            return Ok(None);
        };
        if Digest::of(&bytes) != key {
            return Err(corrupt(
                key,
                format!(
                    "{} does not match its digest ({} bytes; truncated or altered)",
                    path.display(),
                    bytes.len()
                ),
            ));
        }
        Ok(Some(Bytes::from(bytes)))
    }

    async fn contains(&self, key: Digest) -> Result<bool, StoreError> {
        Ok(layout::value_path(self.root(), key).is_file())
    }

    async fn delete(&self, key: Digest) -> Result<bool, StoreError> {
        fsio::remove(&layout::value_path(self.root(), key), key)
    }

    fn list(&self, prefix: &str) -> BoxStream<'_, Result<Digest, StoreError>> {
        match layout::keys(self.root(), "values", prefix) {
            Ok(keys) => stream::iter(keys.into_iter().map(Ok)).boxed(),
            Err(e) => stream::iter([Err(e)]).boxed(),
        }
    }
}
