//! What the server promises: the conditional writes that claims rest on,
//! tried on a scratch object when a store opens.

use fleche_core::{ErrorKind, StoreError};
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};

use crate::error::{self, store_error};
use crate::layout::Layout;
use crate::{S3Store, claims};

/// Whether the store keeps the two promises claims rest on, tried on a
/// scratch object: a second create is refused, and an update on a stale
/// ETag is refused while one on the current ETag succeeds. `Ok(false)` if
/// a promise is missing; an error if the store cannot be reached.
pub(crate) async fn conditional_writes(
    store: &dyn ObjectStore,
    layout: &Layout,
    name: &str,
) -> Result<bool, StoreError> {
    use object_store::Error as E;
    let path = layout.probe(&claims::nonce());
    let put = |body: &'static [u8], mode: PutMode| {
        store.put_opts(&path, PutPayload::from_static(body), PutOptions::from(mode))
    };
    let fail = |e: object_store::Error| store_error(&format!("open {name}"), None, e);
    let verdict = async {
        let first = match put(b"probe 1", PutMode::Create).await {
            Ok(r) => r,
            Err(E::NotImplemented { .. } | E::NotSupported { .. }) => return Ok(false),
            Err(e @ E::NotFound { .. }) => {
                return Err(StoreError::new(
                    ErrorKind::Backend,
                    S3Store::BACKEND,
                    format!(
                        "cannot open {name}: the bucket does not exist (or the endpoint is not an S3 server)"
                    ),
                )
                .with_cause(e));
            }
            Err(e) => return Err(fail(e)),
        };
        match put(b"probe 2", PutMode::Create).await {
            Err(E::AlreadyExists { .. }) => {}
            Ok(_) | Err(E::NotImplemented { .. } | E::NotSupported { .. }) => return Ok(false),
            Err(e) => return Err(fail(e)),
        }
        if first.e_tag.is_none() {
            return Ok(false);
        }
        let stale = UpdateVersion {
            e_tag: first.e_tag.clone(),
            version: first.version.clone(),
        };
        // The object now holds "probe 1" still (the second create was
        // refused): update it on its ETag, then again on the old one.
        match put(b"probe 3", PutMode::Update(stale.clone())).await {
            Ok(_) => {}
            Err(E::NotImplemented { .. } | E::NotSupported { .. } | E::Precondition { .. }) => {
                return Ok(false);
            }
            Err(e) => return Err(fail(e)),
        }
        match put(b"probe 4", PutMode::Update(stale)).await {
            Err(E::Precondition { .. }) => Ok(true),
            Ok(_) | Err(E::NotImplemented { .. } | E::NotSupported { .. }) => Ok(false),
            Err(e) => Err(fail(e)),
        }
    }
    .await;
    if let Err(e) = store.delete(&path).await
        && !error::is_not_found(&e)
    {
        tracing::debug!(error = %e, "fleche-s3: could not delete the probe object");
    }
    verdict
}
