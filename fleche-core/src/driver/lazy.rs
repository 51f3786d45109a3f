//! A store that did not open yet: every operation fails at once as
//! unavailable (so cached calls run uncached, without waiting for a
//! connection timeout each time) while a background task opens it again
//! with backoff; from then on every operation goes to the opened store.

use std::fmt;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;

use super::{Driver, OpenError, StoreUrl, Stores};
use crate::claim::{Claim, Owner};
use crate::{
    CallRecord, CallStore, Capabilities, Digest, ErrorKind, Query, StoreError, ValueRef,
    ValueStore, bridge,
};

/// The first wait before trying again; it doubles up to [`LONGEST_WAIT`].
const FIRST_WAIT: Duration = Duration::from_millis(100);
/// The longest wait between two tries: a store that comes back is used
/// within about this long.
const LONGEST_WAIT: Duration = Duration::from_secs(4);

/// The stores of a URL, opened in the background.
pub(crate) struct Reopening {
    shared: Arc<Shared>,
}

struct Shared {
    /// The URL without secrets, for messages.
    shown: String,
    state: Mutex<State>,
}

enum State {
    /// Not open; the last attempt failed so.
    Waiting(Arc<StoreError>),
    Open(Stores),
}

impl fmt::Debug for Reopening {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let open = matches!(*self.shared.lock(), State::Open(_));
        f.debug_struct("Reopening")
            .field("url", &self.shared.shown)
            .field("open", &open)
            .finish()
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Reopening {
    /// Stores for `url`, whose first opening failed with `error`; a task on
    /// fleche's runtime tries again until it succeeds or these are dropped.
    pub(crate) fn start(url: StoreUrl, driver: Arc<dyn Driver>, error: StoreError) -> Arc<Self> {
        let shared = Arc::new(Shared {
            shown: url.redacted(),
            state: Mutex::new(State::Waiting(Arc::new(error))),
        });
        bridge::spawn(retry(Arc::downgrade(&shared), url, driver));
        Arc::new(Self { shared })
    }

    /// The opened stores, or an unavailable error saying why they are not.
    fn stores(&self) -> Result<Stores, StoreError> {
        match &*self.shared.lock() {
            State::Open(stores) => Ok(stores.clone()),
            State::Waiting(error) => Err(StoreError::new(
                ErrorKind::Unavailable,
                error.backend().to_owned(),
                format!(
                    "the store at {} is not open; fleche tries again in the background",
                    self.shared.shown
                ),
            )
            .with_source(Cause(Arc::clone(error)))),
        }
    }

    fn opened(&self) -> Option<Stores> {
        match &*self.shared.lock() {
            State::Open(stores) => Some(stores.clone()),
            State::Waiting(_) => None,
        }
    }
}

async fn retry(shared: Weak<Shared>, url: StoreUrl, driver: Arc<dyn Driver>) {
    let mut wait = FIRST_WAIT;
    loop {
        tokio::time::sleep(wait).await;
        if shared.strong_count() == 0 {
            return;
        }
        let outcome = driver.open(&url).await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        match outcome {
            Ok(stores) => {
                *shared.lock() = State::Open(stores);
                tracing::info!(url = %shared.shown, "fleche: the store opened; caching resumes");
                return;
            }
            Err(OpenError::Store(e)) => {
                tracing::debug!(url = %shared.shown, error = %crate::ErrorChain(&e), "fleche: the store still does not open");
                *shared.lock() = State::Waiting(Arc::new(e));
            }
            Err(e) => {
                // The URL was checked before the first attempt; a driver
                // that refuses it now will refuse it forever.
                crate::notice::warning!(url = %shared.shown, error = %crate::ErrorChain(&e), "fleche: the store cannot be opened; giving up");
                return;
            }
        }
        wait = (wait * 2).min(LONGEST_WAIT);
    }
}

/// The error of the last attempt, shared by the errors of every call.
#[derive(Debug)]
struct Cause(Arc<StoreError>);

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Cause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&*self.0)
    }
}

#[async_trait]
impl ValueStore for Reopening {
    async fn put(&self, key: Digest, bytes: Bytes) -> Result<(), StoreError> {
        self.stores()?.values.put(key, bytes).await
    }

    async fn get(&self, key: Digest) -> Result<Option<Bytes>, StoreError> {
        self.stores()?.values.get(key).await
    }

    async fn contains(&self, key: Digest) -> Result<bool, StoreError> {
        self.stores()?.values.contains(key).await
    }

    async fn delete(&self, key: Digest) -> Result<bool, StoreError> {
        self.stores()?.values.delete(key).await
    }

    fn list(&self, prefix: &str) -> BoxStream<'_, Result<Digest, StoreError>> {
        let prefix = prefix.to_owned();
        async_stream::try_stream! {
            let stores = self.stores()?;
            let mut keys = stores.values.list(&prefix);
            while let Some(key) = keys.next().await {
                yield key?;
            }
        }
        .boxed()
    }

    async fn put_many(&self, items: Vec<(Digest, Bytes)>) -> Result<(), StoreError> {
        self.stores()?.values.put_many(items).await
    }

    async fn get_many(&self, keys: &[Digest]) -> Result<Vec<Option<Bytes>>, StoreError> {
        self.stores()?.values.get_many(keys).await
    }
}

#[async_trait]
impl CallStore for Reopening {
    async fn put(&self, record: CallRecord) -> Result<(), StoreError> {
        self.stores()?.calls.put(record).await
    }

    async fn get(&self, key: Digest) -> Result<Option<CallRecord>, StoreError> {
        self.stores()?.calls.get(key).await
    }

    async fn delete(&self, key: Digest) -> Result<bool, StoreError> {
        self.stores()?.calls.delete(key).await
    }

    fn query<'a>(&'a self, query: &'a Query) -> BoxStream<'a, Result<CallRecord, StoreError>> {
        async_stream::try_stream! {
            let stores = self.stores()?;
            let mut records = stores.calls.query(query);
            while let Some(record) = records.next().await {
                yield record?;
            }
        }
        .boxed()
    }

    /// Nothing until the store is open (so no claims are asked of it);
    /// then the store's.
    fn capabilities(&self) -> Capabilities {
        self.opened()
            .map_or_else(Capabilities::default, |s| s.calls.capabilities())
    }

    async fn get_result(&self, key: Digest) -> Result<Option<ValueRef>, StoreError> {
        self.stores()?.calls.get_result(key).await
    }

    async fn claim(&self, key: Digest, owner: &Owner, ttl: Duration) -> Result<Claim, StoreError> {
        self.stores()?.calls.claim(key, owner, ttl).await
    }

    async fn renew(&self, key: Digest, owner: &Owner, ttl: Duration) -> Result<bool, StoreError> {
        self.stores()?.calls.renew(key, owner, ttl).await
    }

    async fn release(&self, key: Digest, owner: &Owner) -> Result<bool, StoreError> {
        self.stores()?.calls.release(key, owner).await
    }

    fn backend_name(&self) -> &'static str {
        self.opened()
            .map_or("unopened store", |s| s.calls.backend_name())
    }
}
