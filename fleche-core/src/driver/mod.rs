//! Drivers: how a store is named by a URL and opened.
//!
//! A store is named by a URL (`file:///data/cache`, `postgres://db/x`,
//! `dir:///srv/cache` for a store of your own). The URL is parsed once,
//! into a [`StoreUrl`]; the cache takes its own options out
//! ([`CACHE_OPTIONS`]); every other option must be
//! one the scheme's [`Driver`] lists, else the error names it and the
//! known ones. The driver then opens the [`Stores`].
//!
//! Each backend crate exports its driver; the `fleche` facade registers
//! the ones its features enable, and you register your own with
//! [`register`]. A store opened by URL has a [`CacheConfig`] that another
//! process turns back into the same store — as long as that process has
//! registered the same driver.
//!
//! ```
//! use std::sync::Arc;
//! use fleche_core::driver::{self, Driver, OpenError, StoreUrl, Stores, UrlOption};
//! use fleche_core::async_trait;
//!
//! /// `scratch://NAME`: a process-wide memory store.
//! #[derive(Debug)]
//! struct Scratch;
//!
//! #[async_trait]
//! impl Driver for Scratch {
//!     fn schemes(&self) -> &[&str] {
//!         &["scratch"]
//!     }
//!     fn help(&self) -> &str {
//!         "scratch://NAME: a process-wide memory store"
//!     }
//!     async fn open(&self, url: &StoreUrl) -> Result<Stores, OpenError> {
//!         let name = url.host().unwrap_or_default();
//!         Ok(Stores::both(fleche_memory::MemoryStore::named(&name)))
//!     }
//! }
//!
//! driver::register(Scratch);
//! # fleche_core::bridge::block_on(async {
//! let cache = driver::open("scratch://docs?strict=true").await.unwrap();
//! assert!(cache.options().strict);
//! assert_eq!(cache.config().unwrap().url, "scratch://docs?strict=true");
//! let err = driver::open("scratch://docs?colour=blue").await.unwrap_err();
//! assert!(fleche_core::ErrorChain(&err).to_string().contains("unknown option `colour`"));
//! # });
//! ```

mod lazy;
mod url;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;

use crate::bridge::on_fleche_runtime;
use crate::cache::CACHE_OPTIONS;
use crate::{Cache, CacheConfig, CallStore, Error, StoreError, ValueStore};

pub use self::url::{StoreUrl, UrlError, UrlOption, redact_url};

/// The two halves of a store — often one object that is both.
#[derive(Clone, Debug)]
pub struct Stores {
    /// The value store.
    pub values: Arc<dyn ValueStore>,
    /// The call store.
    pub calls: Arc<dyn CallStore>,
}

impl Stores {
    /// Both halves from one object that implements both traits.
    pub fn both<S: ValueStore + CallStore + 'static>(store: Arc<S>) -> Self {
        Self {
            values: store.clone(),
            calls: store,
        }
    }

    /// Two halves of different stores.
    pub fn new(values: Arc<dyn ValueStore>, calls: Arc<dyn CallStore>) -> Self {
        Self { values, calls }
    }
}

/// Why a store could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The URL is malformed, names an unknown scheme or option, or gives
    /// an option a value it does not take. Trying again cannot help.
    #[error(transparent)]
    Url(#[from] UrlError),
    /// The store failed to open (a server down, a directory not writable,
    /// damaged data); its [`kind`](StoreError::kind) says whether trying
    /// again may help.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Opens the stores of one kind of URL: what a backend crate exports (or
/// you write) so that its stores open by URL, travel to worker processes
/// in a [`ScopeConfig`](crate::ScopeConfig), and reopen there.
///
/// The registry checks a URL's options before [`Driver::open`] sees it:
/// every option is the cache's or one of [`Driver::options`]. Drivers
/// read them with [`StoreUrl`]'s typed accessors, and report a URL of the
/// wrong form as [`UrlError::Malformed`].
#[async_trait]
pub trait Driver: Send + Sync + fmt::Debug {
    /// The URL schemes it serves, in lower case: `["postgres",
    /// "postgresql"]`.
    fn schemes(&self) -> &[&str];

    /// One line of help: the URL's form and what it opens.
    fn help(&self) -> &str;

    /// The options its URLs may carry (beside the cache's).
    fn options(&self) -> &[UrlOption] {
        &[]
    }

    /// Opens the stores that `url` names. It runs with fleche's runtime as
    /// the current Tokio context, so sockets and tasks it makes outlive
    /// the caller's runtime.
    async fn open(&self, url: &StoreUrl) -> Result<Stores, OpenError>;
}

/// The drivers, by scheme.
static REGISTRY: RwLock<BTreeMap<String, Arc<dyn Driver>>> = RwLock::new(BTreeMap::new());

/// Registers `driver` for its schemes, replacing any driver that served
/// them before: your driver for `s3` wins over the built-in one, whichever
/// was registered first (see [`register_default`]).
pub fn register(driver: impl Driver + 'static) {
    insert(Arc::new(driver), true);
}

/// Registers `driver` for those of its schemes that no driver serves yet:
/// how the `fleche` facade installs its built-in drivers, so that a
/// driver a program registered itself is never replaced.
pub fn register_default(driver: impl Driver + 'static) {
    insert(Arc::new(driver), false);
}

fn insert(driver: Arc<dyn Driver>, replace: bool) {
    let mut registry = REGISTRY.write().unwrap_or_else(|e| e.into_inner());
    for scheme in driver.schemes() {
        let scheme = scheme.to_ascii_lowercase();
        if replace || !registry.contains_key(&scheme) {
            registry.insert(scheme, Arc::clone(&driver));
        }
    }
}

/// The driver registered for `scheme`.
pub fn driver(scheme: &str) -> Option<Arc<dyn Driver>> {
    let registry = REGISTRY.read().unwrap_or_else(|e| e.into_inner());
    registry.get(&scheme.to_ascii_lowercase()).cloned()
}

/// Every registered scheme, sorted.
pub fn schemes() -> Vec<String> {
    let registry = REGISTRY.read().unwrap_or_else(|e| e.into_inner());
    registry.keys().cloned().collect()
}

/// Every registered driver, once each, in the order of their first scheme.
pub fn drivers() -> Vec<Arc<dyn Driver>> {
    let registry = REGISTRY.read().unwrap_or_else(|e| e.into_inner());
    let mut out: Vec<Arc<dyn Driver>> = Vec::new();
    for driver in registry.values() {
        if !out.iter().any(|d| Arc::ptr_eq(d, driver)) {
            out.push(Arc::clone(driver));
        }
    }
    out
}

/// The driver for `url`, once its options are checked: each is the
/// cache's or the driver's.
pub fn driver_for(url: &StoreUrl) -> Result<Arc<dyn Driver>, UrlError> {
    let driver = driver(url.scheme()).ok_or_else(|| UrlError::UnknownScheme {
        scheme: url.scheme().to_owned(),
        known: schemes(),
    })?;
    let known: Vec<UrlOption> = CACHE_OPTIONS
        .iter()
        .chain(driver.options())
        .copied()
        .collect();
    url.check_options(&known)?;
    Ok(driver)
}

/// Opens the stores `url` names, through its driver, on fleche's runtime.
/// The cache's own options in `url` are ignored here.
pub async fn open_stores(url: &StoreUrl) -> Result<Stores, OpenError> {
    let driver = driver_for(url)?;
    on_fleche_runtime(driver.open(url)).await
}

/// Opens the cache at `url`: its driver opens the stores, and the cache
/// takes its options from the query string. A store that cannot be
/// reached is an error (see [`open_lazy`] for a cache that waits for it).
pub async fn open(url: &str) -> Result<Cache, Error> {
    open_config(&CacheConfig::parse(url)?).await
}

/// Opens a cache from its configuration, as [`Cache::config`] gives it.
pub async fn open_config(config: &CacheConfig) -> Result<Cache, Error> {
    let (url, driver) = resolve(config)?;
    let stores = on_fleche_runtime(driver.open(&url))
        .await
        .map_err(|e| config.open_error(e))?;
    Ok(build(stores, config))
}

/// Opens a cache from its configuration, and if its store fails to open,
/// returns a cache anyway: its calls run uncached (the first one logs a
/// warning, or fails in strict mode) while fleche tries to open the store
/// again in the background, with backoff up to every few seconds, and
/// cache again from the moment it succeeds. A URL that is wrong (malformed,
/// an unknown scheme or option) is still an error: waiting cannot fix it.
///
/// The default cache and caches reopened from a scope's configuration in
/// worker processes are opened this way.
pub async fn open_lazy(config: &CacheConfig) -> Result<Cache, Error> {
    let (url, driver) = resolve(config)?;
    match on_fleche_runtime(driver.open(&url)).await {
        Ok(stores) => Ok(build(stores, config)),
        Err(OpenError::Store(e)) => {
            tracing::debug!(url = %url, error = %crate::ErrorChain(&e), "fleche: the store did not open; retrying in the background");
            let lazy = lazy::Reopening::start(url, driver, e);
            Ok(build(Stores::both(lazy), config))
        }
        Err(e) => Err(config.open_error(e)),
    }
}

fn resolve(config: &CacheConfig) -> Result<(StoreUrl, Arc<dyn Driver>), Error> {
    let url = StoreUrl::parse(&config.url).map_err(|e| config.open_error(e))?;
    let driver = driver_for(&url).map_err(|e| config.open_error(e))?;
    Ok((url, driver))
}

fn build(stores: Stores, config: &CacheConfig) -> Cache {
    Cache::builder(stores.values, stores.calls)
        .options(config.options.clone())
        .url(config.url.clone())
        .build()
}
