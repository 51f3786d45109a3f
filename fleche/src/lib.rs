//! # fleche
//!
//! Persistent, content-addressed caching of function results — an
//! `lru_cache` that survives restarts and is shared by every thread,
//! process and machine pointing at the same store.
//!
//! ```
//! use fleche::fleche;
//!
//! #[fleche]
//! fn square(x: u64) -> u64 {
//!     x * x // imagine this took an hour
//! }
//!
//! let cache = fleche::open("memory://").unwrap();
//! fleche::with_cache(cache, || {
//!     assert_eq!(square(12), 144); // computed and stored
//!     assert_eq!(square(12), 144); // read back
//!     assert!(square::contains(&12).unwrap());
//! });
//! ```
//!
//! The [`fleche`](macro@fleche) attribute works on `fn` and `async fn`. A
//! function is keyed by its name, its `version`, optionally the digest of its
//! code, and the digests of its arguments (deterministic CBOR, BLAKE3).
//! Results that are `Err` are returned but never stored.
//!
//! ## The attribute
//!
//! | option | meaning |
//! |---|---|
//! | `version = N` | part of the key: bump it to invalidate old results |
//! | `name = "..."` | the name in the key (default: module path and function name), so renaming or moving keeps results |
//! | `ignore(a, b)` | these arguments are left out of the key (a logger, a verbosity flag) |
//! | `hash_code` | the digest of the function's tokens is part of the key: editing the body invalidates its results |
//! | `isolate` | each run gets a fresh scratch directory, see [`isolate::scratch_dir`] |
//! | `isolate = "chdir"` | as `isolate`, and the working directory is changed to it; such runs are serialized in the process |
//! | `crate = "path"` | where the `fleche` crate is, if renamed |
//!
//! Next to `fn square` the attribute makes an empty `enum square {}` whose
//! associated functions are helpers that do not run the body:
//! `square::digest(&x)` (the call key), `square::contains(&x)`,
//! `square::load(&x)`, `square::query()`, `square::spec()`, and
//! `square::rerun(x)`, which runs the body even on a hit. For an `async fn`
//! the helpers that touch the store are `async` too. For a generic function
//! the type goes on the helper: `parse::load::<u16>(&text)`.
//!
//! Functions returning `Result<T, E>` cache only `Ok(T)`. The type and const
//! parameters of a generic function are part of its key (as pseudo-arguments
//! `<T>` holding `std::any::type_name::<T>()`), so `parse::<u8>` and
//! `parse::<u16>` never share results. Methods (`self`) are not supported.
//!
//! ## Which cache
//!
//! The cache comes from the innermost scope ([`with_cache`], [`Scope::run`]
//! for sync code, [`Scope::run_async`] for tasks), else the default:
//! `$FLECHE_CACHE` (a URL, see [`open`]), else the file store in `fleche`
//! under the user's cache directory ([`default_url`]), which every process
//! of the user shares. If the default cache's store cannot be opened (a
//! server down), calls run uncached with one warning until fleche has
//! opened it in the background ([`open_lazy`]).
//!
//! ## Stores and drivers
//!
//! Every store is named by a URL whose scheme picks a [`Driver`]: the
//! built-in ones of the features this build has ([`schemes`]), and yours,
//! after [`register_driver`]. See [`open`] for the URLs and options.
//! [`bind`] carries the current scope into threads, rayon and spawned tasks.
//!
//! ## Errors
//!
//! A store failure never breaks your program by default: the function runs
//! uncached and a `tracing` warning is logged. With `strict=true` a store
//! failure is an error: the explicit API returns it, and a `#[fleche]`
//! function panics with it.

#![forbid(unsafe_code)]

extern crate self as fleche;

mod open;

// The API users need; the plumbing of the attribute is in `__private`.
pub use fleche_core::context::set_default_cache;
pub use fleche_core::{
    ArgDigest, Bound, Bytes, CallRecord, CallStore, Callable, Capabilities, Claim, ClaimPolicy,
    CodecError, Digest, Driver, Entry, Error, ErrorChain, ErrorKind, FnSpec, MIN_PREFIX_LEN,
    Metadata, OpenError, Order, Owner, PrefixError, Query, RECORD_FORMAT, SCOPE_ENV, Scope,
    ScopeConfig, StoreError, StoreUrl, Stores, Timestamp, UrlError, UrlOption, ValueRef,
    ValueStore, arg_digest, async_trait, redact_url,
};
pub use fleche_core::{Cache, CacheBuilder, CacheConfig, CacheOptions, CacheStats};
pub use fleche_core::{
    Join, Submitted, Task, bridge, codec, driver, isolate, metadata, submit, task,
};
pub use fleche_macros::{fleche, register};
#[cfg(feature = "memory")]
pub use fleche_memory as memory;
/// The process pool (feature `pool`): see the `fleche-pool` crate.
#[cfg(feature = "pool")]
pub use fleche_pool as pool;
pub use open::{
    CACHE_ENV, default_url, install_default_drivers, open, open_async, open_config, open_default,
    open_lazy, register_driver, schemes,
};

/// The user guide's "Getting started" chapter; its examples run as tests.
#[doc = include_str!("../../book/src/getting-started.md")]
pub mod getting_started {}

/// The user guide's "Stores" chapter.
#[doc = include_str!("../../book/src/stores.md")]
pub mod stores {}

/// The user guide's "Parallel execution" chapter; its examples run as tests.
#[doc = include_str!("../../book/src/parallel.md")]
pub mod parallel {}

/// The user guide's "Write your own store" chapter; its self-contained
/// examples run as tests, the excerpts of `examples/custom_store.rs` are
/// compiled there.
#[doc = include_str!("../../book/src/write-your-own-store.md")]
pub mod write_your_own_store {}

/// Installs the built-in drivers, and [`open_default`] as the opener of
/// the default cache.
fn install() {
    install_default_drivers();
    fleche_core::context::set_default_opener(open::open_default_scope);
}

/// Captures the current scope — its cache (the default one if none is
/// entered) and metadata — into a callable for other threads and tasks.
/// See [`fleche_core::bind`].
///
/// ```
/// #[fleche::fleche]
/// fn cube(x: u64) -> u64 { x * x * x }
///
/// let cache = fleche::open("memory://").unwrap();
/// let bound = fleche::with_cache(cache.clone(), || fleche::bind(cube));
/// let handles: Vec<_> = (0..4u64).map(|i| {
///     let bound = bound.clone();
///     std::thread::spawn(move || bound.call((i,)))
/// }).collect();
/// let results: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
/// assert_eq!(results, [0, 1, 8, 27]);
/// fleche::with_cache(cache, || assert!(cube::contains(&3).unwrap()));
/// ```
pub fn bind<F>(f: F) -> Bound<F> {
    install();
    fleche_core::bind(f)
}

/// A call of `f` that travels to another process of this program: `f`'s
/// registered name and the current scope's configuration (its cache —
/// the default one if none is entered — and tags), as a [`Task`] that
/// serializes with serde. `f` is a `#[fleche]` function (not a generic
/// one) or a [`register`]ed one; `A` is its arguments tuple.
///
/// ```
/// #[fleche::fleche]
/// fn cube(x: u64) -> u64 { x * x * x }
///
/// let cache = fleche::open("memory://task-doc").unwrap();
/// let task: fleche::Task<(u64,), u64> =
///     fleche::with_cache(cache, || fleche::task(cube)).unwrap();
/// let json = serde_json::to_string(&task).unwrap();
/// // ... in a worker process of the same program:
/// let task: fleche::Task<(u64,), u64> = serde_json::from_str(&json).unwrap();
/// assert_eq!(task.call((3,)), 27);
/// assert_eq!(task.lookup(&(3,)).unwrap(), Some(27)); // stored, in the same cache
/// ```
pub fn task<F, A, R>(f: F) -> Result<Task<A, R>, Error>
where
    F: Callable<A, Output = R> + 'static,
    A: 'static,
    R: 'static,
{
    bind(f).task()
}

/// Runs `f` with `cache` as the active cache on this thread.
pub fn with_cache<R>(cache: Cache, f: impl FnOnce() -> R) -> R {
    Scope::current().with_cache(cache).run(f)
}

/// The current scope with these tags added; `.run(|| …)` or
/// `.run_async(fut)` applies them to the calls made inside.
///
/// ```
/// fleche::tags([("project", "demo")]).run(|| {
///     assert_eq!(fleche::Scope::current().tags()["project"], "demo");
/// });
/// ```
pub fn tags<K: Into<String>, V: Into<String>>(tags: impl IntoIterator<Item = (K, V)>) -> Scope {
    Scope::current().with_tags(tags)
}

/// The active cache: the innermost scope's, else the default one.
pub fn current_cache() -> Result<Cache, Error> {
    install();
    Scope::current().cache_or_default()
}

/// The current scope as the value of [`SCOPE_ENV`] (`FLECHE_SCOPE`): a
/// process started with it uses this scope — its cache and tags — as its
/// default, with no code of its own. See [`Scope::to_env`], and
/// [`Scope::pass_to`] to set it on a `std::process::Command`.
///
/// ```no_run
/// let cache = fleche::open("file:///data/cache").unwrap();
/// let value = fleche::with_cache(cache, fleche::scope_env).unwrap();
/// std::process::Command::new("./worker")
///     .env(fleche::SCOPE_ENV, value)
///     .status()
///     .unwrap();
/// ```
pub fn scope_env() -> Result<String, Error> {
    install();
    Scope::current().to_env()
}

/// Rebuilds a scope sent from another process (see [`Scope::to_config`]),
/// reopening its cache through the registered drivers: register your own
/// drivers before calling it. A store that does not open at once is
/// opened in the background, and calls run uncached meanwhile.
pub fn reopen(config: &ScopeConfig) -> Result<Scope, Error> {
    install_default_drivers();
    Scope::from_config(config)
}

#[doc(hidden)]
pub mod __private {
    pub use fleche_core::rt::*;

    /// Installs the default cache opener before a cached call.
    #[inline]
    pub fn prepare() {
        super::install();
    }
}
