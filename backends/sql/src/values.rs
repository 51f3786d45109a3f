//! The value store: bytes under their digest, one row each.

use fleche_core::{Bytes, Digest, StoreError, ValueStore, async_trait};
use futures::StreamExt;
use futures::stream::BoxStream;

use crate::database::Database;
use crate::exec::{Bind, Exec, Text};
use crate::rows::{self, Blob};
use crate::{SqlStore, filter};

#[async_trait]
impl<D: Database> ValueStore for SqlStore<D> {
    async fn put(&self, key: Digest, bytes: Bytes) -> Result<(), StoreError> {
        let binds = vec![Bind::digest(key), Bind::Blob(bytes.to_vec())];
        self.exec()
            .execute(&self.sql().put_value, binds)
            .await
            .map_err(|e| self.error("cannot store the value", Some(key), e))?;
        Ok(())
    }

    async fn get(&self, key: Digest) -> Result<Option<Bytes>, StoreError> {
        let row = self
            .exec()
            .fetch_optional::<Blob>(&self.sql().get_value, vec![Bind::digest(key)])
            .await
            .map_err(|e| self.error("cannot read the value", Some(key), e))?;
        Ok(row.map(|Blob(bytes)| Bytes::from(bytes)))
    }

    async fn contains(&self, key: Digest) -> Result<bool, StoreError> {
        let row = self
            .exec()
            .fetch_optional::<()>(&self.sql().has_value, vec![Bind::digest(key)])
            .await
            .map_err(|e| self.error("cannot look the value up", Some(key), e))?;
        Ok(row.is_some())
    }

    async fn delete(&self, key: Digest) -> Result<bool, StoreError> {
        let deleted = self
            .exec()
            .execute(&self.sql().delete_value, vec![Bind::digest(key)])
            .await
            .map_err(|e| self.error("cannot delete the value", Some(key), e))?;
        Ok(deleted > 0)
    }

    fn list(&self, prefix: &str) -> BoxStream<'_, Result<Digest, StoreError>> {
        let Some((low, high)) = filter::prefix_range(prefix) else {
            return futures::stream::empty().boxed();
        };
        let sql: &Text = &self.sql().list_values;
        self.exec()
            .fetch::<Blob>(sql, vec![Bind::Blob(low), Bind::Blob(high)])
            .map(|row| {
                let Blob(digest) =
                    row.map_err(|e| self.error("cannot list the values", None, e))?;
                rows::digest(&digest, D::BACKEND, "value digest")
            })
            .boxed()
    }
}
