//! # fleche-s3
//!
//! A [`ValueStore`](fleche_core::ValueStore) and
//! [`CallStore`](fleche_core::CallStore) in object storage, through
//! [`object_store`]: Amazon S3 and S3-compatible servers (MinIO, Ceph, R2,
//! moto, …) from an `s3://bucket/prefix` URL, and any other
//! `Arc<dyn ObjectStore>` (GCS, Azure, `InMemory`) given directly. The
//! cold, cheap, durable tier that a whole cluster shares.
//!
//! ## Layout
//!
//! ```text
//! PREFIX/values/ab/<hex>           a value's bytes, under their digest
//! PREFIX/calls/ab/<hex>            a call record (deterministic CBOR)
//! PREFIX/functions/<fn>/<hex>      empty index entry: record <hex> was
//!                                  written for the function whose name's
//!                                  BLAKE3 digest is <fn>
//! PREFIX/claims/ab/<hex>           a claim: JSON {owner, expires_at_ms,
//!                                  ttl_ms, nonce, released}
//! ```
//!
//! `ab` is the first two hex digits of the key: a listing by key prefix
//! reads one shard, and the server spreads the load over key ranges.
//!
//! ## What it promises, and how
//!
//! - **Whole objects, last writer wins.** Every value, record and claim is
//!   one object written by one `PUT`, which S3 applies atomically: a reader
//!   sees the old object or the new one, never a part. Records are plain
//!   overwrites, so the write that the server finishes last stays.
//! - **A hit is one request.** A `GET` of the record, which holds results
//!   up to the cache's inline limit; larger results cost a second `GET`.
//! - **Verified reads.** A value whose BLAKE3 digest is not its key, or a
//!   record that does not decode or names another key, is
//!   [`ErrorKind::Corrupt`]; the cache
//!   treats it as a miss and its recomputation overwrites it.
//! - **Queries** by function read the function's index entries
//!   (`functions/<fn>/`); other queries read every record. Either way
//!   the listing streams page by page and records are fetched
//!   [`S3Options::concurrency`] at a time; queries in `Order::Any` stream
//!   their results (and stop at the limit), ordered queries collect the
//!   matches first. The index entry is written *before* the record, so a
//!   completed `put` is always found; entries of records since deleted or
//!   rewritten for another function are skipped when read, and left in
//!   place (a deleted record's entry costs a listing entry and one missed
//!   `GET` per query by that function).
//! - **Claims by conditional writes.** A claim is created with
//!   `If-None-Match: *` ([`PutMode::Create`](object_store::PutMode)), so of
//!   many claimers exactly one wins. An expired or released claim is
//!   replaced with `If-Match: <ETag>` (`PutMode::Update`), so exactly one
//!   of many takes it over; renew and release are conditional on the ETag
//!   of the claim the owner wrote last (one request while nobody else
//!   touched it) or, failing that, read, so a stale owner changes nothing. Every
//!   claim body carries a fresh nonce, so two claims never share an ETag.
//!   A release overwrites the claim with a released marker (a delete could
//!   not be made conditional); the next claimer replaces it.
//! - **Honest capabilities.** When the store opens it probes, on a scratch
//!   object, that the server refuses a second create and a write on a
//!   stale ETag. A server (or `ObjectStore`) that ignores or lacks
//!   conditional writes reports `Capabilities::claims = false`, and the
//!   cache falls back to single-flight within each process.
//! - **Typed failures.** A server that cannot be reached, times out or
//!   answers 5xx is retried by the client (with backoff, bounded by
//!   [`S3Options::max_retries`] and [`S3Options::retry_timeout`]), then
//!   reported as [`ErrorKind::Unavailable`].
//!   URLs are shown with every credential replaced by `***`.
//!
//! ## Clocks
//!
//! A lease ends at `expires_at_ms`, which the claimer computes on its own
//! wall clock; others compare it with theirs. So the machines sharing
//! claims need clocks that agree to well within the lease (NTP does; the
//! cache's default lease is 30 s and is renewed while the body runs). As
//! a guard against a claimer whose clock runs far ahead, a lease also ends
//! at the latest one second (the resolution of `Last-Modified`) plus its
//! TTL after the server's `Last-Modified` of the claim object, measured
//! on the reader's clock. Skew never returns wrong data: at worst two
//! machines compute the same result, and the last record written stays.
//!
//! ## Opening
//!
//! ```no_run
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! // Credentials and region from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
//! // AWS_REGION (and AWS_ENDPOINT, AWS_ALLOW_HTTP for other servers), or
//! // from the URL's options.
//! let store = fleche_s3::S3Store::connect(
//!     "s3://my-bucket/team/cache?endpoint=http://127.0.0.1:5055&allow_http=true",
//! )
//! .await
//! .unwrap();
//! # });
//! ```
//!
//! Any `ObjectStore` works, here the in-memory one:
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::sync::Arc;
//! use fleche_core::{Bytes, CallStore, Digest, ValueStore};
//! use fleche_s3::{S3Options, S3Store};
//!
//! let memory = Arc::new(object_store::memory::InMemory::new());
//! let store = S3Store::with_options(memory, "cache", S3Options::in_process()).await.unwrap();
//! assert!(store.capabilities().claims); // InMemory has conditional writes
//! let bytes = Bytes::from_static(b"hello");
//! ValueStore::put(&store, Digest::of(&bytes), bytes.clone()).await.unwrap();
//! assert_eq!(ValueStore::get(&store, Digest::of(&bytes)).await.unwrap(), Some(bytes));
//! # });
//! ```

#![forbid(unsafe_code)]

mod calls;
mod claims;
mod error;
mod layout;
mod options;
mod url;
mod values;

use std::fmt;
use std::sync::Arc;

use fleche_core::bridge::on_fleche_runtime;
use fleche_core::{Bytes, Digest, ErrorKind, StoreError};
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};

/// The `object_store` this crate is built on, for building stores to pass
/// to [`S3Store::new`].
pub use object_store;
pub use options::S3Options;
pub use url::redact as redact_s3_url;

use crate::error::store_error;
use crate::layout::Layout;

/// The backend name in errors.
pub const BACKEND: &str = "s3";

/// A value store and call store in object storage. Cheap to clone.
///
/// Its `Debug` shows the URL without credentials, the prefix and whether
/// claims work; never the client's configuration.
#[derive(Clone)]
pub struct S3Store {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn ObjectStore>,
    layout: Layout,
    /// What errors and `Debug` show: the redacted URL, or the store's name.
    shown: String,
    prefix: String,
    options: S3Options,
    claims: bool,
    /// The version of each claim this handle wrote last, by key and owner:
    /// renew and release try it first and skip reading the claim.
    written: claims::Written,
}

impl fmt::Debug for S3Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Store")
            .field("at", &self.inner.shown)
            .field("prefix", &self.inner.prefix)
            .field("claims", &self.inner.claims)
            .finish_non_exhaustive()
    }
}

/// A malformed URL or option.
fn bad_url(shown: &str, why: String) -> StoreError {
    StoreError::new(
        ErrorKind::Backend,
        BACKEND,
        format!("bad URL {shown}: {why}"),
    )
}

impl S3Store {
    /// Opens the store at `s3://bucket/prefix`, with credentials, region
    /// and endpoint from the `AWS_…` environment variables, overridden by
    /// the URL's options: `endpoint`, `region`, `allow_http`,
    /// `access_key_id`, `secret_access_key`, `session_token`,
    /// `virtual_hosted_style_request`, `skip_signature`, and those of
    /// [`S3Options`] (`timeout_ms`, `connect_timeout_ms`, `max_retries`,
    /// `retry_timeout_ms`, `concurrency`). An unknown option is an error.
    ///
    /// Opening probes the server's conditional writes (see the crate
    /// docs), so a server that cannot be reached fails here, as
    /// [`ErrorKind::Unavailable`], after the configured retries.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, S3Options::default()).await
    }

    /// Like [`S3Store::connect`], starting from `options`.
    pub async fn connect_with(url: &str, mut options: S3Options) -> Result<Self, StoreError> {
        let shown = url::redact(url);
        let parsed = url::parse(url, &mut options).map_err(|why| bad_url(&shown, why))?;
        let client = url::builder(&parsed, &options)
            .map_err(|why| bad_url(&shown, why))?
            .build()
            .map_err(|e| {
                // The builder's messages name settings, never their values.
                StoreError::new(
                    ErrorKind::Backend,
                    BACKEND,
                    format!("cannot set up the client for {shown}: {e}"),
                )
            })?;
        Self::open_inner(Arc::new(client), &parsed.prefix, options, shown).await
    }

    /// A store on `store` under `prefix` (`""` for its root), with default
    /// options: persistent and shared, as every server is. For
    /// `object_store::memory::InMemory` use [`S3Store::with_options`] with
    /// [`S3Options::in_process`].
    pub async fn new(store: Arc<dyn ObjectStore>, prefix: &str) -> Result<Self, StoreError> {
        Self::with_options(store, prefix, S3Options::default()).await
    }

    /// A store on `store` under `prefix`, with `options` (of which only
    /// `concurrency` and the capability flags apply: the client's timeouts
    /// and retries are the ones `store` was built with).
    pub async fn with_options(
        store: Arc<dyn ObjectStore>,
        prefix: &str,
        options: S3Options,
    ) -> Result<Self, StoreError> {
        let shown = store.to_string();
        Self::open_inner(store, prefix.trim_matches('/'), options, shown).await
    }

    async fn open_inner(
        store: Arc<dyn ObjectStore>,
        prefix: &str,
        options: S3Options,
        shown: String,
    ) -> Result<Self, StoreError> {
        let layout = Layout::new(prefix).map_err(|e| {
            bad_url(
                &shown,
                format!("prefix `{prefix}` is not a valid object key prefix: {e}"),
            )
        })?;
        let mut inner = Inner {
            store,
            layout,
            shown,
            prefix: prefix.to_owned(),
            options,
            claims: false,
            written: claims::Written::default(),
        };
        inner.claims = on_fleche_runtime(probe_conditional_writes(&inner))
            .await
            .map_err(|e| {
                StoreError::new(
                    e.kind(),
                    BACKEND,
                    format!("cannot open {}: {e}", inner.shown),
                )
                .with_source(e)
            })?;
        if !inner.claims {
            tracing::info!(
                store = %inner.shown,
                "the object store lacks conditional writes; claims are off"
            );
        }
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// The object store underneath.
    pub fn object_store(&self) -> &Arc<dyn ObjectStore> {
        &self.inner.store
    }

    /// The key prefix everything lives under (`""` for the bucket's root).
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// The options.
    pub fn options(&self) -> &S3Options {
        &self.inner.options
    }

    /// Whether claims work: the server passed the conditional-write probe.
    pub fn claims_supported(&self) -> bool {
        self.inner.claims
    }

    /// Deletes every object under the store's prefix — values, records,
    /// index entries and claims — and says how many there were. For tests
    /// and for dropping a cache; the bucket itself stays. Other handles on
    /// the same prefix see an empty store afterwards.
    pub async fn destroy(&self) -> Result<usize, StoreError> {
        use futures::{StreamExt, TryStreamExt};
        let store = self.inner.store.clone();
        let root = self.inner.layout.root().clone();
        on_fleche_runtime(async move {
            let locations = store.list(Some(&root)).map_ok(|meta| meta.location).boxed();
            store
                .delete_stream(locations)
                .try_fold(0usize, |n, _| async move { Ok(n + 1) })
                .await
        })
        .await
        .map_err(|e| store_error("delete the store's objects", None, e))
    }

    pub(crate) fn written(&self) -> &claims::Written {
        &self.inner.written
    }

    pub(crate) fn layout(&self) -> &Layout {
        &self.inner.layout
    }

    pub(crate) fn store(&self) -> &dyn ObjectStore {
        &*self.inner.store
    }

    /// The object at `path` and its metadata, or `None`.
    pub(crate) async fn read(
        &self,
        path: &object_store::path::Path,
        key: Digest,
        what: &str,
    ) -> Result<Option<(Bytes, object_store::ObjectMeta)>, StoreError> {
        let got = on_fleche_runtime(async {
            let result = self.store().get(path).await?;
            let meta = result.meta.clone();
            Ok::<_, object_store::Error>((result.bytes().await?, meta))
        })
        .await;
        match got {
            Ok(found) => Ok(Some(found)),
            Err(e) if error::is_not_found(&e) => Ok(None),
            Err(e) => Err(store_error(what, Some(key), e)),
        }
    }

    /// Writes `bytes` at `path`, replacing what is there.
    pub(crate) async fn write(
        &self,
        path: &object_store::path::Path,
        bytes: Bytes,
        key: Digest,
        what: &str,
    ) -> Result<(), StoreError> {
        on_fleche_runtime(self.store().put(path, PutPayload::from(bytes)))
            .await
            .map(|_| ())
            .map_err(|e| store_error(what, Some(key), e))
    }

    /// Whether an object is at `path`.
    pub(crate) async fn exists(
        &self,
        path: &object_store::path::Path,
        key: Digest,
        what: &str,
    ) -> Result<bool, StoreError> {
        match on_fleche_runtime(self.store().head(path)).await {
            Ok(_) => Ok(true),
            Err(e) if error::is_not_found(&e) => Ok(false),
            Err(e) => Err(store_error(what, Some(key), e)),
        }
    }

    /// Deletes the object at `path`; `true` if it was there. (S3 does not
    /// say whether a delete removed anything, so this asks first: two
    /// concurrent deletes may both say `true`.)
    pub(crate) async fn remove(
        &self,
        path: &object_store::path::Path,
        key: Digest,
        what: &str,
    ) -> Result<bool, StoreError> {
        if !self.exists(path, key, what).await? {
            return Ok(false);
        }
        match on_fleche_runtime(self.store().delete(path)).await {
            Ok(()) => Ok(true),
            Err(e) if error::is_not_found(&e) => Ok(false),
            Err(e) => Err(store_error(what, Some(key), e)),
        }
    }
}

/// Whether the store keeps the two promises claims rest on, tried on a
/// scratch object: a second create is refused, and an update on a stale
/// ETag is refused while one on the current ETag succeeds. `Ok(false)` if
/// a promise is missing; an error if the store cannot be reached.
async fn probe_conditional_writes(inner: &Inner) -> Result<bool, StoreError> {
    use object_store::Error as E;
    let path = inner.layout.probe(&claims::nonce());
    let store = &*inner.store;
    let put = |body: &'static [u8], mode: PutMode| {
        store.put_opts(&path, PutPayload::from_static(body), PutOptions::from(mode))
    };
    let fail = |e: object_store::Error| store_error("probe conditional writes", None, e);
    let verdict = async {
        let first = match put(b"probe 1", PutMode::Create).await {
            Ok(r) => r,
            Err(E::NotImplemented { .. } | E::NotSupported { .. }) => return Ok(false),
            Err(e @ E::NotFound { .. }) => {
                return Err(StoreError::new(
                    ErrorKind::Backend,
                    BACKEND,
                    "the bucket does not exist (or the endpoint is not an S3 server)",
                )
                .with_source(e));
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
        tracing::debug!(error = %e, "could not delete the probe object");
    }
    verdict
}
