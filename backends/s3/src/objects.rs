//! Reading and writing single objects: what the value, call and claim
//! halves share. `doing` says, for errors, what the operation was
//! ("read the record").

use fleche_core::{Bytes, Digest, StoreError};
use object_store::{ObjectStoreExt, PutPayload};

use crate::S3Store;
use crate::error::{self, store_error};

impl S3Store {
    /// The object at `path` and its metadata, or `None`.
    pub(crate) async fn read(
        &self,
        path: &object_store::path::Path,
        key: Digest,
        doing: &str,
    ) -> Result<Option<(Bytes, object_store::ObjectMeta)>, StoreError> {
        let got = async {
            let result = self.store().get(path).await?;
            let meta = result.meta.clone();
            Ok::<_, object_store::Error>((result.bytes().await?, meta))
        }
        .await;
        match got {
            Ok(found) => Ok(Some(found)),
            Err(e) if error::is_not_found(&e) => Ok(None),
            Err(e) => Err(store_error(doing, Some(key), e)),
        }
    }

    /// Writes `bytes` at `path`, replacing what is there.
    pub(crate) async fn write(
        &self,
        path: &object_store::path::Path,
        bytes: Bytes,
        key: Digest,
        doing: &str,
    ) -> Result<(), StoreError> {
        self.store()
            .put(path, PutPayload::from(bytes))
            .await
            .map(|_| ())
            .map_err(|e| store_error(doing, Some(key), e))
    }

    /// Whether an object is at `path`.
    pub(crate) async fn exists(
        &self,
        path: &object_store::path::Path,
        key: Digest,
        doing: &str,
    ) -> Result<bool, StoreError> {
        match self.store().head(path).await {
            Ok(_) => Ok(true),
            Err(e) if error::is_not_found(&e) => Ok(false),
            Err(e) => Err(store_error(doing, Some(key), e)),
        }
    }

    /// Deletes the object at `path`; `true` if it was there. (S3 does not
    /// say whether a delete removed anything, so this asks first: two
    /// concurrent deletes may both say `true`.)
    pub(crate) async fn remove(
        &self,
        path: &object_store::path::Path,
        key: Digest,
        doing: &str,
    ) -> Result<bool, StoreError> {
        if !self.exists(path, key, doing).await? {
            return Ok(false);
        }
        match self.store().delete(path).await {
            Ok(()) => Ok(true),
            Err(e) if error::is_not_found(&e) => Ok(false),
            Err(e) => Err(store_error(doing, Some(key), e)),
        }
    }
}
