//! The active cache and metadata: scopes, the default cache, and `bind`.
//!
//! Sync code sees the scope entered on its thread ([`Scope::run`]); async
//! code the scope of its task ([`Scope::run_async`]). When both are set the
//! one entered last wins, so nesting works either way. With no scope, the
//! default cache is used (see [`set_default_opener`]).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use serde::{Deserialize, Serialize};

use crate::metadata::{MetadataProvider, ScopeMetadata};
use crate::{Cache, CacheConfig, Error};

/// A cache and metadata to apply to the calls made inside it.
///
/// ```
/// use std::sync::Arc;
/// use fleche_core::{Cache, Scope};
/// use fleche_memory::MemoryStore;
///
/// let store = Arc::new(MemoryStore::new());
/// let cache = Cache::new(store.clone(), store);
/// let scope = Scope::current().with_cache(cache.clone()).with_tags([("project", "demo")]);
/// scope.run(|| {
///     assert!(Scope::current().cache().unwrap().same_as(&cache));
/// });
/// assert!(Scope::current().cache().is_none());
/// ```
#[derive(Clone, Debug, Default)]
pub struct Scope {
    cache: Option<Cache>,
    metadata: ScopeMetadata,
}

/// A scope and when it was entered (higher is later).
#[derive(Clone)]
struct Entered {
    scope: Scope,
    seq: u64,
}

static SEQ: AtomicU64 = AtomicU64::new(1);

thread_local! {
    static THREAD: RefCell<Option<Entered>> = const { RefCell::new(None) };
}

tokio::task_local! {
    static TASK: Entered;
}

impl Scope {
    /// The innermost active scope, or an empty one.
    pub fn current() -> Scope {
        let thread = THREAD.with(|t| t.borrow().clone());
        let task = TASK.try_with(Clone::clone).ok();
        match (thread, task) {
            (Some(a), Some(b)) => {
                if a.seq > b.seq {
                    a.scope
                } else {
                    b.scope
                }
            }
            (Some(e), None) | (None, Some(e)) => e.scope,
            (None, None) => Scope::default(),
        }
    }

    /// This scope with `cache` as the active cache.
    pub fn with_cache(mut self, cache: Cache) -> Self {
        self.cache = Some(cache);
        self
    }

    /// This scope with these tags added (recorded under `"tags"`).
    pub fn with_tags<K: Into<String>, V: Into<String>>(
        mut self,
        tags: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.metadata
            .tags
            .extend(tags.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// This scope with a custom metadata provider added.
    pub fn with_metadata(mut self, provider: impl MetadataProvider + 'static) -> Self {
        self.metadata.providers.push(Arc::new(provider));
        self
    }

    /// The scope's cache, if it has one.
    pub fn cache(&self) -> Option<&Cache> {
        self.cache.as_ref()
    }

    /// The scope's tags.
    pub fn tags(&self) -> &BTreeMap<String, String> {
        &self.metadata.tags
    }

    pub(crate) fn metadata(&self) -> &ScopeMetadata {
        &self.metadata
    }

    /// The scope's cache, or the default cache.
    pub fn cache_or_default(&self) -> Result<Cache, Error> {
        match &self.cache {
            Some(c) => Ok(c.clone()),
            None => default_cache(),
        }
    }

    /// This scope, or — if it names no cache — the default scope (its
    /// cache, and the tags a parent process handed over in
    /// [`SCOPE_ENV`]) with this scope's tags and metadata providers added.
    pub fn or_default(self) -> Result<Scope, Error> {
        if self.cache.is_some() {
            return Ok(self);
        }
        let mut scope = default_scope()?;
        scope.metadata.tags.extend(self.metadata.tags);
        scope.metadata.providers.extend(self.metadata.providers);
        Ok(scope)
    }

    /// Binds `f` to this scope (see [`bind`]), resolving the default cache
    /// now if the scope has none.
    pub fn bind<F>(&self, f: F) -> Bound<F> {
        self.run(|| bind(f))
    }

    /// Runs `f` on this thread with this scope active; the previous scope
    /// comes back afterwards, even if `f` panics.
    pub fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        let entered = Entered {
            scope: self.clone(),
            seq: SEQ.fetch_add(1, Ordering::Relaxed),
        };
        let previous = THREAD.with(|t| t.replace(Some(entered)));
        let _restore = Restore(previous);
        f()
    }

    /// Runs `fut` with this scope active for it (wherever it is polled).
    pub fn run_async<F: Future>(&self, fut: F) -> impl Future<Output = F::Output> + use<F> {
        let entered = Entered {
            scope: self.clone(),
            seq: SEQ.fetch_add(1, Ordering::Relaxed),
        };
        TASK.scope(entered, fut)
    }

    /// What another process needs to rebuild this scope: the cache's
    /// configuration and the tags. Custom metadata providers are code and
    /// do not travel; add them again in the worker.
    pub fn to_config(&self) -> Result<ScopeConfig, Error> {
        let scope = self.clone().or_default()?;
        let cache = scope.cache.as_ref().ok_or(Error::NoCache)?;
        Ok(ScopeConfig {
            cache: cache.config().ok_or(Error::NotReopenable)?,
            tags: scope.metadata.tags,
        })
    }

    /// This scope as the value of [`SCOPE_ENV`], for a process started
    /// with it: such a process uses this scope as its default, with no code
    /// of its own — whatever starts it (`std::process::Command`, a pool,
    /// `mpirun`, a SLURM job array, GNU parallel, a Kubernetes job) as long
    /// as it passes the environment on. The value holds the store's URL,
    /// credentials included, like `FLECHE_CACHE` would.
    ///
    /// ```
    /// use fleche_core::{CacheConfig, Scope, ScopeConfig, SCOPE_ENV};
    /// let config = ScopeConfig::new(CacheConfig::new("memory://env-doc"));
    /// let value = config.to_env();
    /// assert_eq!(ScopeConfig::from_env(&value).unwrap(), config);
    /// let mut worker = std::process::Command::new("worker");
    /// worker.env(SCOPE_ENV, value);
    /// ```
    pub fn to_env(&self) -> Result<String, Error> {
        Ok(self.to_config()?.to_env())
    }

    /// Sets [`SCOPE_ENV`] on `command` to this scope ([`Scope::to_env`]),
    /// so the process it starts — and the processes that one starts —
    /// share this scope's cache and tags.
    pub fn pass_to(&self, command: &mut std::process::Command) -> Result<(), Error> {
        command.env(SCOPE_ENV, self.to_env()?);
        Ok(())
    }

    /// Rebuilds a scope from its configuration, reopening the cache
    /// through the registered drivers (see [`crate::driver`]). A store that
    /// does not open at once is opened in the background, and calls run
    /// uncached meanwhile ([`driver::open_lazy`](crate::driver::open_lazy));
    /// a URL whose scheme no driver serves is an error.
    pub fn from_config(config: &ScopeConfig) -> Result<Scope, Error> {
        let cache = crate::bridge::block_on(crate::driver::open_lazy(&config.cache))?;
        Ok(Scope::default()
            .with_cache(cache)
            .with_tags(config.tags.clone()))
    }
}

struct Restore(Option<Entered>);

impl Drop for Restore {
    fn drop(&mut self) {
        THREAD.with(|t| *t.borrow_mut() = self.0.take());
    }
}

/// A scope in serializable form, for worker processes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ScopeConfig {
    /// How to reopen the cache.
    pub cache: CacheConfig,
    /// The tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// The environment variable that hands a scope to a child process (see
/// [`Scope::to_env`]). When it is set, the default cache and tags are the
/// ones it names (before `FLECHE_CACHE`).
pub const SCOPE_ENV: &str = "FLECHE_SCOPE";

impl ScopeConfig {
    /// A scope of this cache, without tags.
    pub fn new(cache: CacheConfig) -> Self {
        Self {
            cache,
            tags: BTreeMap::new(),
        }
    }

    /// The value of [`SCOPE_ENV`] that names this scope: one line of JSON.
    pub fn to_env(&self) -> String {
        serde_json::to_string(self).expect("a scope configuration is JSON")
    }

    /// The scope a [`SCOPE_ENV`] value names.
    pub fn from_env(value: &str) -> Result<Self, Error> {
        serde_json::from_str(value).map_err(|source| Error::BadScope {
            var: SCOPE_ENV,
            source,
        })
    }
}

/// Opens the default scope — its cache, and tags — when no scope names a
/// cache.
pub type DefaultOpener = fn() -> Result<Scope, Error>;

static DEFAULT_OPENER: OnceLock<DefaultOpener> = OnceLock::new();
static DEFAULT: Mutex<Option<Scope>> = Mutex::new(None);

/// Sets how the default scope is opened, the first time it is needed. Only
/// the first call has an effect; the `fleche` facade calls this.
pub fn set_default_opener(open: DefaultOpener) {
    let _ = DEFAULT_OPENER.set(open);
}

/// Makes `cache` the default cache of every thread and task of the
/// process that enters no scope of its own, replacing any earlier one.
/// The simple way to give all threads — including ones spawned without
/// [`bind`] — the same cache.
pub fn set_default_cache(cache: Cache) {
    *DEFAULT.lock().unwrap_or_else(|e| e.into_inner()) = Some(Scope::default().with_cache(cache));
}

/// The default cache, opened on first use.
pub fn default_cache() -> Result<Cache, Error> {
    let scope = default_scope()?;
    scope.cache.ok_or(Error::NoCache)
}

/// The default scope (a cache, and the tags handed over in
/// [`SCOPE_ENV`]), opened on first use.
pub fn default_scope() -> Result<Scope, Error> {
    let mut slot = DEFAULT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(s) = &*slot {
        return Ok(s.clone());
    }
    let open = DEFAULT_OPENER.get().ok_or(Error::NoCache)?;
    let scope = open()?;
    *slot = Some(scope.clone());
    Ok(scope)
}

/// Captures the current scope (resolving the default cache now) into a
/// callable that re-enters it on every call, on any thread or task.
///
/// ```
/// use std::sync::Arc;
/// use fleche_core::{Cache, Scope, bind};
/// use fleche_memory::MemoryStore;
///
/// let store = Arc::new(MemoryStore::new());
/// let cache = Cache::new(store.clone(), store);
/// let expected = cache.clone();
/// let bound = Scope::current().with_cache(cache).bind(move |x: u32| {
///     Scope::current().cache().unwrap().same_as(&expected) && x == 1
/// });
/// let ok = std::thread::spawn(move || bound.call((1,))).join().unwrap();
/// assert!(ok);
/// ```
pub fn bind<F>(f: F) -> Bound<F> {
    let current = Scope::current();
    let scope = current.clone().or_default().unwrap_or(current);
    Bound { scope, f }
}

/// A function together with the scope it was bound in. `Clone + Send +
/// Sync` when the function is.
#[derive(Clone, Debug)]
pub struct Bound<F> {
    scope: Scope,
    f: F,
}

impl<F> Bound<F> {
    /// Binds `f` to an explicit scope.
    pub fn new(scope: Scope, f: F) -> Self {
        Self { scope, f }
    }

    /// Calls the function with `args` (a tuple: `()`, `(a,)`, `(a, b)`, …)
    /// inside the captured scope.
    pub fn call<A>(&self, args: A) -> F::Output
    where
        F: Callable<A>,
    {
        self.scope.run(|| self.f.call_with(args))
    }

    /// Calls an async function with `args` and runs its future inside the
    /// captured scope; the future can be spawned on any runtime.
    pub fn call_async<A>(
        &self,
        args: A,
    ) -> impl Future<Output = <F::Output as Future>::Output> + use<F, A>
    where
        F: Callable<A>,
        F::Output: Future,
    {
        self.scope.run_async(self.f.call_with(args))
    }

    /// The captured scope.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// The function.
    pub fn inner(&self) -> &F {
        &self.f
    }
}

/// A function callable with a tuple of arguments; implemented for every
/// `Fn` of up to eight arguments.
pub trait Callable<Args> {
    /// What the function returns.
    type Output;
    /// Calls the function.
    fn call_with(&self, args: Args) -> Self::Output;
}

macro_rules! callable {
    ($($a:ident),*) => {
        impl<Func, Out, $($a),*> Callable<($($a,)*)> for Func
        where
            Func: Fn($($a),*) -> Out,
        {
            type Output = Out;
            #[allow(non_snake_case)]
            fn call_with(&self, ($($a,)*): ($($a,)*)) -> Out {
                (self)($($a),*)
            }
        }
    };
}
callable!();
callable!(A1);
callable!(A1, A2);
callable!(A1, A2, A3);
callable!(A1, A2, A3, A4);
callable!(A1, A2, A3, A4, A5);
callable!(A1, A2, A3, A4, A5, A6);
callable!(A1, A2, A3, A4, A5, A6, A7);
callable!(A1, A2, A3, A4, A5, A6, A7, A8);
