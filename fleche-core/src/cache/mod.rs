//! The [`Cache`]: a value store and a call store, and what to do on a hit or
//! a miss.

mod claims;
mod compute;
mod engine;
mod options;
mod stats;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use serde::de::DeserializeOwned;

use crate::bridge::on_fleche_runtime;
use crate::flight::Flights;
use crate::{
    CallRecord, CallStore, Digest, Error, ErrorChain, ErrorKind, Query, ValueStore, codec, notice,
    redact_url,
};

pub use compute::{Always, OkOnly, Strategy};
pub use options::{CACHE_OPTIONS, CacheConfig, CacheOptions, ClaimPolicy};
pub use stats::CacheStats;

/// A persistent, content-addressed cache of function results: one
/// [`ValueStore`], one [`CallStore`] (possibly of different backends) and
/// [`CacheOptions`]. Cheap to clone; clones share stores and in-flight calls.
///
/// Its async methods poll the stores' futures with fleche's runtime as the
/// current Tokio context ([`on_fleche_runtime`]), so the sockets and tasks
/// a store makes belong to that runtime, whatever runtime (or none) the
/// caller is on; a store does not need to care. (Sync code reaches the
/// stores through [`bridge::block_on`](crate::bridge::block_on), which
/// does the same.)
///
/// ```
/// use std::sync::Arc;
/// use fleche_core::{Cache, FnSpec, codec};
/// use fleche_memory::MemoryStore;
///
/// # tokio_test();
/// # fn tokio_test() { tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let store = Arc::new(MemoryStore::new());
/// let cache = Cache::new(store.clone(), store);
/// static SQUARE: FnSpec = FnSpec::new("doc::square");
/// let args = [("x", codec::digest(&12u64).unwrap())];
/// let v: u64 = cache.get_or_compute(&SQUARE, &args, async { 144u64 }).await.unwrap();
/// assert_eq!(v, 144);
/// assert_eq!(cache.get::<u64>(SQUARE.key(&args)).await.unwrap(), Some(144));
/// # }) }
/// ```
#[derive(Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

struct Inner {
    values: Arc<dyn ValueStore>,
    calls: Arc<dyn CallStore>,
    options: CacheOptions,
    url: Option<String>,
    flights: Arc<Flights>,
    /// A store outage was reported and no store call has succeeded since:
    /// further failures of the outage are logged at debug level only.
    outage: AtomicBool,
    counters: stats::Counters,
}

impl fmt::Debug for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("url", &self.inner.url.as_deref().map(redact_url))
            .field("values", &self.inner.values)
            .field("calls", &self.inner.calls)
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Cache`] with options.
#[derive(Debug)]
pub struct CacheBuilder {
    values: Arc<dyn ValueStore>,
    calls: Arc<dyn CallStore>,
    options: CacheOptions,
    url: Option<String>,
}

impl CacheBuilder {
    /// Replaces all options.
    pub fn options(mut self, options: CacheOptions) -> Self {
        self.options = options;
        self
    }

    /// Store errors become errors instead of warnings (see [`CacheOptions::strict`]).
    pub fn strict(mut self, strict: bool) -> Self {
        self.options.strict = strict;
        self
    }

    /// Sets [`CacheOptions::inline_limit`].
    pub fn inline_limit(mut self, bytes: usize) -> Self {
        self.options.inline_limit = bytes;
        self
    }

    /// Sets [`CacheOptions::claims`].
    pub fn claims(mut self, policy: ClaimPolicy) -> Self {
        self.options.claims = policy;
        self
    }

    /// Sets the claim lease and the longest wait for another worker's claim.
    pub fn claim_timing(mut self, ttl: std::time::Duration, wait: std::time::Duration) -> Self {
        self.options.claim_ttl = ttl;
        self.options.claim_wait = wait;
        self
    }

    /// Records the URL the stores were opened from, so the cache can be
    /// reopened in another process (see [`Cache::config`]).
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// The cache.
    pub fn build(self) -> Cache {
        Cache {
            inner: Arc::new(Inner {
                values: self.values,
                calls: self.calls,
                options: self.options,
                url: self.url,
                flights: Arc::default(),
                outage: AtomicBool::new(false),
                counters: stats::Counters::default(),
            }),
        }
    }
}

impl Cache {
    /// A cache over these stores with default options.
    pub fn new(values: Arc<dyn ValueStore>, calls: Arc<dyn CallStore>) -> Self {
        Self::builder(values, calls).build()
    }

    /// A builder over these stores.
    pub fn builder(values: Arc<dyn ValueStore>, calls: Arc<dyn CallStore>) -> CacheBuilder {
        CacheBuilder {
            values,
            calls,
            options: CacheOptions::default(),
            url: None,
        }
    }

    /// The value store.
    pub fn values(&self) -> &Arc<dyn ValueStore> {
        &self.inner.values
    }

    /// The call store.
    pub fn calls(&self) -> &Arc<dyn CallStore> {
        &self.inner.calls
    }

    /// The options.
    pub fn options(&self) -> &CacheOptions {
        &self.inner.options
    }

    /// What another process needs to reopen this cache, if it was opened
    /// from a URL.
    pub fn config(&self) -> Option<CacheConfig> {
        let url = self.inner.url.clone()?;
        Some(CacheConfig {
            url,
            options: self.inner.options.clone(),
        })
    }

    /// What happened to this cache's calls since it was opened: hits,
    /// computations, waits for other workers, takeovers, store errors.
    /// Clones of a cache share the counts.
    pub fn stats(&self) -> CacheStats {
        self.inner.counters.snapshot()
    }

    /// Whether two handles share the same stores and in-flight calls.
    pub fn same_as(&self, other: &Cache) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// The decoded result of the call with key `key`, verified against its
    /// digest; `None` if absent, damaged or of another type (damage is logged
    /// and the next call repairs it).
    pub async fn get<T: DeserializeOwned>(&self, key: Digest) -> Result<Option<T>, Error> {
        let Some(bytes) = on_fleche_runtime(self.fetch(key)).await? else {
            return Ok(None);
        };
        Ok(self.decode_or_warn(key, &bytes))
    }

    /// Whether a result is stored for `key` (without reading or verifying it).
    pub async fn contains(&self, key: Digest) -> Result<bool, Error> {
        Ok(on_fleche_runtime(self.inner.calls.get_result(key))
            .await?
            .is_some())
    }

    /// The call record under `key`.
    pub async fn record(&self, key: Digest) -> Result<Option<CallRecord>, Error> {
        Ok(on_fleche_runtime(self.inner.calls.get(key)).await?)
    }

    /// Forgets the call under `key`; `true` if it was there. Its result
    /// value stays in the value store, where other calls may share it.
    pub async fn delete(&self, key: Digest) -> Result<bool, Error> {
        Ok(on_fleche_runtime(self.inner.calls.delete(key)).await?)
    }

    /// The calls that match `query`; results are read only when asked for.
    pub fn query<'a>(&'a self, query: &'a Query) -> BoxStream<'a, Result<Entry, Error>> {
        on_fleche_runtime(self.inner.calls.query(query))
            .map(move |r| {
                r.map(|record| Entry {
                    record,
                    cache: self.clone(),
                })
                .map_err(Error::from)
            })
            .boxed()
    }

    /// The newest call that matches `query`.
    pub async fn latest(&self, query: &Query) -> Result<Option<Entry>, Error> {
        let q = query.clone().order(crate::Order::NewestFirst).limit(1);
        self.query(&q).try_next().await
    }

    /// The oldest call that matches `query`.
    pub async fn oldest(&self, query: &Query) -> Result<Option<Entry>, Error> {
        let q = query.clone().order(crate::Order::OldestFirst).limit(1);
        self.query(&q).try_next().await
    }

    /// How many calls match `query`.
    pub async fn count(&self, query: &Query) -> Result<usize, Error> {
        let mut n = 0;
        let mut stream = on_fleche_runtime(self.inner.calls.query(query));
        while let Some(r) = stream.next().await {
            r?;
            n += 1;
        }
        Ok(n)
    }

    /// The call key that starts with `prefix` (at least 4 hex digits), or a
    /// clear error if none or several do.
    pub async fn expand(&self, prefix: &str) -> Result<Digest, Error> {
        let all = Query::new();
        let keys: Vec<Digest> = on_fleche_runtime(self.inner.calls.query(&all))
            .map_ok(|r| r.key)
            .try_collect()
            .await?;
        Ok(Digest::expand(prefix, keys)?)
    }

    /// Logs `err` and carries on, or returns it in strict mode. A store
    /// that is unavailable is reported once per outage: until a store call
    /// succeeds again, further failures are logged at debug level only.
    pub(crate) fn fail_open(&self, err: Error) -> Result<(), Error> {
        if self.inner.options.strict {
            return Err(err);
        }
        self.inner.counters.store_error();
        let outage = err.store_kind() == Some(ErrorKind::Unavailable);
        if outage && self.inner.outage.swap(true, Ordering::Relaxed) {
            tracing::debug!(error = %ErrorChain(&err), "fleche: store still unavailable; running uncached");
        } else if outage {
            notice::warning!(error = %ErrorChain(&err), "fleche: store unavailable; running uncached until it is back (repeats are logged at debug level)");
        } else {
            notice::warning!(error = %ErrorChain(&err), "fleche: store failed; running uncached");
        }
        Ok(())
    }

    /// A store call succeeded: an outage, if one was reported, is over.
    pub(crate) fn store_answered(&self) {
        if self.inner.outage.load(Ordering::Relaxed)
            && self.inner.outage.swap(false, Ordering::Relaxed)
        {
            tracing::info!(url = ?self.inner.url.as_deref().map(redact_url), "fleche: the store answers again; caching resumes");
        }
    }

    fn decode_or_warn<T: DeserializeOwned>(&self, key: Digest, bytes: &Bytes) -> Option<T> {
        match codec::decode(bytes) {
            Ok(v) => Some(v),
            Err(e) => {
                notice::warning!(%key, error = %e, "fleche: stored result does not decode as the expected type; treating it as a miss");
                None
            }
        }
    }
}

/// One call found by a query. Its result is read and decoded only when
/// [`Entry::value`] is called.
#[derive(Clone, Debug)]
pub struct Entry {
    record: CallRecord,
    cache: Cache,
}

impl Entry {
    /// The call record.
    pub fn record(&self) -> &CallRecord {
        &self.record
    }

    /// The call key.
    pub fn key(&self) -> Digest {
        self.record.key
    }

    /// Reads, verifies and decodes the result. `None` if the value is gone
    /// or damaged.
    pub async fn value<T: DeserializeOwned>(&self) -> Result<Option<T>, Error> {
        let Some(bytes) = on_fleche_runtime(
            self.cache
                .resolve_value(self.record.key, &self.record.result),
        )
        .await?
        else {
            return Ok(None);
        };
        codec::decode(&bytes)
            .map(Some)
            .map_err(|e| Error::codec(format!("result of {}", self.record.key), e))
    }

    /// Takes the record out.
    pub fn into_record(self) -> CallRecord {
        self.record
    }
}
