//! The store: an object store, the layout under its prefix, and whether
//! its conditional writes make claims work.

use std::fmt;
use std::sync::Arc;

use fleche_core::bridge::on_fleche_runtime;
use fleche_core::driver::{OpenError, StoreUrl};
use fleche_core::{ErrorKind, StoreError};
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStore;

use crate::error::store_error;
use crate::layout::Layout;
use crate::{S3Options, claims, client, probe};

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
    /// What `Debug` shows: the redacted URL, or the store's name.
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

impl S3Store {
    /// The backend name in errors.
    pub const BACKEND: &'static str = "s3";

    /// Opens the store at `s3://bucket/prefix`, with credentials, region
    /// and endpoint from the `AWS_…` environment variables, overridden by
    /// the URL's options ([`S3Options::URL_OPTIONS`]: `endpoint`,
    /// `region`, `allow_http`, `access_key_id`, `secret_access_key`,
    /// `session_token`, `virtual_hosted_style_request`, `skip_signature`,
    /// and `timeout_ms`, `connect_timeout_ms`, `max_retries`,
    /// `retry_timeout_ms`, `concurrency`). Any other option is an error (the
    /// cache's own options are for `fleche::open`, through
    /// [`S3Driver`](crate::S3Driver)).
    ///
    /// Opening probes the server's conditional writes (see the crate
    /// docs), so a server that cannot be reached fails here, as
    /// [`ErrorKind::Unavailable`], after the configured retries.
    pub async fn open(url: &str) -> Result<Self, OpenError> {
        Self::open_with(url, S3Options::default()).await
    }

    /// Like [`S3Store::open`], starting from `options` (the URL's options
    /// override them).
    pub async fn open_with(url: &str, options: S3Options) -> Result<Self, OpenError> {
        // The client's connections belong to fleche's runtime, which
        // outlives the caller's.
        on_fleche_runtime(async {
            let url = StoreUrl::parse(url)?;
            url.check_options(S3Options::URL_OPTIONS)?;
            let options = options.with_url(&url)?;
            Self::open_url(&url, options).await
        })
        .await
    }

    /// Opens the store `url` names, with `options` (the URL's applied
    /// already): what [`S3Store::open_with`] and the driver share.
    pub(crate) async fn open_url(url: &StoreUrl, options: S3Options) -> Result<Self, OpenError> {
        let at = client::location(url)?;
        let client = client::build(url, &at.bucket, &options)?;
        let name = format!("s3://{}/{}", at.bucket, at.prefix);
        let shown = url.redacted();
        let store = Self::start(
            Arc::new(client),
            at.layout,
            at.prefix,
            options,
            shown,
            &name,
        );
        Ok(store.await?)
    }

    /// A store on `store` under `prefix` (`""` for its root), with default
    /// options: persistent and shared, as every server is. For
    /// `object_store::memory::InMemory` use
    /// [`S3Store::from_object_store_with`] with [`S3Options::in_process`].
    pub async fn from_object_store(
        store: Arc<dyn ObjectStore>,
        prefix: &str,
    ) -> Result<Self, StoreError> {
        Self::from_object_store_with(store, prefix, S3Options::default()).await
    }

    /// A store on `store` under `prefix`, with `options` (of which only
    /// `concurrency` and the capability flags apply: the client's timeouts
    /// and retries are the ones `store` was built with).
    pub async fn from_object_store_with(
        store: Arc<dyn ObjectStore>,
        prefix: &str,
        options: S3Options,
    ) -> Result<Self, StoreError> {
        on_fleche_runtime(async {
            let prefix = prefix.trim_matches('/');
            let name = format!("{store} under `{prefix}`");
            let layout = Layout::new(prefix).map_err(|e| {
                StoreError::new(
                    ErrorKind::Backend,
                    Self::BACKEND,
                    format!("prefix `{prefix}` is not a valid object key prefix"),
                )
                .with_source(e)
            })?;
            let shown = store.to_string();
            Self::start(store, layout, prefix.to_owned(), options, shown, &name).await
        })
        .await
    }

    /// The store on `store`, once its conditional writes are probed;
    /// `name` says which store in errors.
    async fn start(
        store: Arc<dyn ObjectStore>,
        layout: Layout,
        prefix: String,
        options: S3Options,
        shown: String,
        name: &str,
    ) -> Result<Self, StoreError> {
        let claims = probe::conditional_writes(&*store, &layout, name).await?;
        if !claims {
            tracing::info!(
                store = %shown,
                "the object store lacks conditional writes; claims are off"
            );
        }
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                layout,
                shown,
                prefix,
                options,
                claims,
                written: claims::Written::default(),
            }),
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

    /// Removes everything the store holds: every object under its prefix —
    /// values, records, index entries and claims. The bucket itself stays.
    /// Other handles on the same prefix see an empty store afterwards, and
    /// can go on using it.
    pub async fn destroy(&self) -> Result<(), StoreError> {
        let store = self.store();
        let locations = store
            .list(Some(self.layout().root()))
            .map_ok(|meta| meta.location)
            .boxed();
        store
            .delete_stream(locations)
            .try_for_each(|_| async { Ok(()) })
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
}
