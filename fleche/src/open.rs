//! Opening caches by URL, through the registered drivers.

use std::sync::Once;

use fleche_core::bridge::block_on;
use fleche_core::driver::{self, Driver};
use fleche_core::{Cache, CacheConfig, Error, OpenError, SCOPE_ENV, Scope, ScopeConfig, UrlError};

/// The environment variable that names the default cache's URL.
pub const CACHE_ENV: &str = "FLECHE_CACHE";

/// Registers the drivers of the stores this build of fleche has (its
/// features), for the schemes no driver serves yet — so a driver you
/// registered yourself, before or after, is kept. Every function of this
/// crate that opens a cache calls it; call it yourself before using
/// [`fleche_core::driver`] directly.
///
/// | scheme | store | feature |
/// |---|---|---|
/// | `memory` | [`fleche_memory::MemoryStore`] | `memory` (default) |
/// | `file` | `fleche_file::FileStore` | `file` (default) |
/// | `sqlite` | `fleche_sql::SqliteStore` | `sqlite` |
/// | `postgres`, `postgresql` | `fleche_sql::PgStore` | `postgres` |
/// | `redis`, `rediss` | `fleche_redis::RedisStore` | `redis` (`rediss` with `redis-tls`) |
/// | `s3` | `fleche_s3::S3Store` | `s3` |
pub fn install_default_drivers() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        #[cfg(feature = "memory")]
        driver::register_default(fleche_memory::MemoryDriver);
        #[cfg(feature = "file")]
        driver::register_default(fleche_file::FileDriver);
        #[cfg(feature = "sqlite")]
        driver::register_default(fleche_sql::SqliteDriver);
        #[cfg(feature = "postgres")]
        driver::register_default(fleche_sql::PgDriver);
        #[cfg(feature = "redis")]
        driver::register_default(fleche_redis::RedisDriver);
        #[cfg(feature = "s3")]
        driver::register_default(fleche_s3::S3Driver);
    });
}

/// The built-in stores and the feature that adds each: an unknown scheme
/// that is one of them is explained by its missing feature.
const BUILT_IN: &[(&str, &str)] = &[
    ("memory", "memory"),
    ("file", "file"),
    ("sqlite", "sqlite"),
    ("postgres", "postgres"),
    ("postgresql", "postgres"),
    ("redis", "redis"),
    ("rediss", "redis-tls"),
    ("s3", "s3"),
];

/// `err`, or for an unknown scheme of a built-in store this build left
/// out, an error that names the feature to turn on.
fn explain_scheme(err: Error) -> Error {
    let Error::Open { url, origin, cause } = &err else {
        return err;
    };
    let OpenError::Url(UrlError::UnknownScheme { scheme, .. }) = &**cause else {
        return err;
    };
    let Some((_, feature)) = BUILT_IN.iter().find(|(s, _)| s == scheme) else {
        return err;
    };
    let problem = format!(
        "{scheme}:// URLs need the `{feature}` feature of fleche, which this program was \
         built without (fleche = {{ version = \"0.1\", features = [\"{feature}\"] }})"
    );
    Error::Open {
        url: url.clone(),
        origin: origin.clone(),
        cause: Box::new(UrlError::malformed(problem).into()),
    }
}

/// Registers `driver` for its URL schemes, replacing the driver that
/// served them before (a built-in one included). From then on
/// [`open`] opens its URLs, caches opened so have a [`Cache::config`],
/// and a scope's configuration reopens them in a worker process — which
/// must register the same driver first.
///
/// See the book's "Write your own store" chapter for a whole example.
pub fn register_driver(driver: impl Driver + 'static) {
    driver::register(driver);
}

/// The URL schemes this program can open: the built-in drivers of this
/// build and those registered.
///
/// ```
/// assert!(fleche::schemes().contains(&"file".to_owned()));
/// ```
pub fn schemes() -> Vec<String> {
    install_default_drivers();
    driver::schemes()
}

/// Opens the cache at `url`.
///
/// | URL | store |
/// |---|---|
/// | `memory://` | a new, empty in-process store |
/// | `memory://NAME` | the process-wide in-process store called NAME |
/// | `file:///path/to/dir` | the file store in that directory (`%20` for a space) |
/// | `sqlite:///path/to/cache.db`, `sqlite::memory:` | a SQLite database (feature `sqlite`) |
/// | `postgres://user@host:port/db?schema=NAME` | a PostgreSQL schema (feature `postgres`; `postgresql://` too) |
/// | `redis://[user:password@]host:port/db?namespace=NAME` | a Redis namespace (feature `redis`; `rediss://` with `redis-tls`) |
/// | `s3://bucket/prefix` | objects under that prefix of an S3 bucket (feature `s3`) |
/// | your scheme | your store, once you [`register_driver`] |
///
/// Options go in the query string. The cache's own are `strict=true`,
/// `inline_limit=BYTES`, `claims=auto|always|never`, `claim_ttl_ms=N` and
/// `claim_wait_ms=N` ([`fleche_core::CACHE_OPTIONS`]); the rest are the
/// store's, listed by its driver (each backend crate documents them). An
/// option neither takes is an error that lists the known ones.
///
/// A store that cannot be reached is an error here; [`open_lazy`] gives
/// a cache that waits for it instead.
///
/// ```
/// let cache = fleche::open("memory://docs?strict=true").unwrap();
/// assert!(cache.options().strict);
/// let err = fleche::open("nosuch://x").unwrap_err();
/// assert!(fleche::ErrorChain(&err).to_string().contains("unknown scheme `nosuch`"));
/// ```
pub fn open(url: &str) -> Result<Cache, Error> {
    install_default_drivers();
    block_on(driver::open(url)).map_err(explain_scheme)
}

/// [`open`] for async code: the same, without blocking the task's thread
/// while a server answers.
pub async fn open_async(url: &str) -> Result<Cache, Error> {
    install_default_drivers();
    driver::open(url).await.map_err(explain_scheme)
}

/// Opens a cache from its configuration, as [`Cache::config`] gives it.
pub fn open_config(config: &CacheConfig) -> Result<Cache, Error> {
    install_default_drivers();
    block_on(driver::open_config(config)).map_err(explain_scheme)
}

/// Opens the cache at `url`, or, if its store does not open (a server
/// down), a cache whose calls run uncached — logging one warning — while
/// fleche opens the store in the background; caching starts by itself as
/// soon as it is there. A URL that is wrong is still an error. See
/// [`fleche_core::driver::open_lazy`].
///
/// ```
/// #[fleche::fleche]
/// fn double(x: u64) -> u64 { x * 2 }
///
/// // A directory that cannot be made: the cache opens all the same, and
/// // runs calls uncached.
/// let cache = fleche::open_lazy("file:///proc/no-such-cache").unwrap();
/// assert_eq!(fleche::with_cache(cache, || double(21)), 42);
/// // A wrong URL is an error at once.
/// assert!(fleche::open_lazy("file:///tmp/x?colour=blue").is_err());
/// ```
pub fn open_lazy(url: &str) -> Result<Cache, Error> {
    install_default_drivers();
    let config = CacheConfig::parse(url)?;
    block_on(driver::open_lazy(&config)).map_err(explain_scheme)
}

/// The default cache's URL: the file store in `fleche` under the user's
/// cache directory (`$XDG_CACHE_HOME`, else `~/.cache` on Linux,
/// `~/Library/Caches` on macOS, `%LOCALAPPDATA%` on Windows).
#[cfg(feature = "file")]
pub fn default_url() -> String {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(dirs::cache_dir)
        .unwrap_or_else(std::env::temp_dir);
    let dir = base.join("fleche");
    // A proper file URL: spaces and other characters escaped.
    url::Url::from_directory_path(&dir)
        .map(|u| u.as_str().trim_end_matches('/').to_owned())
        .unwrap_or_else(|()| format!("file://{}", dir.display()))
}

/// The default cache's URL: an in-process memory store (this build has no
/// file store).
#[cfg(not(feature = "file"))]
pub fn default_url() -> String {
    "memory://default".to_owned()
}

/// Opens the default cache: the cache of the scope in `$FLECHE_SCOPE` if
/// set (a parent process handed it over, see [`Scope::to_env`]), else
/// `$FLECHE_CACHE` if set, else [`default_url`]. A store that does not
/// open gives a cache that runs calls uncached until it does
/// ([`open_lazy`]); a malformed variable is an error that names it.
pub fn open_default() -> Result<Cache, Error> {
    let scope = open_default_scope()?;
    scope.cache().cloned().ok_or(Error::NoCache)
}

/// The default scope: the one in `$FLECHE_SCOPE` (its cache and tags), else
/// the default cache of [`open_default`] without tags.
pub(crate) fn open_default_scope() -> Result<Scope, Error> {
    install_default_drivers();
    if let Some(value) = non_empty_var(SCOPE_ENV) {
        let origin = format!("from ${SCOPE_ENV}");
        let config = ScopeConfig::from_env(&value)?;
        return Scope::from_config(&config).map_err(|e| explain_scheme(e).with_origin(origin));
    }
    Ok(Scope::default().with_cache(open_cache_env()?))
}

fn non_empty_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// `$FLECHE_CACHE` if set, else [`default_url`], opened lazily.
fn open_cache_env() -> Result<Cache, Error> {
    let (url, origin) = match std::env::var(CACHE_ENV) {
        Ok(url) if !url.trim().is_empty() => (url, Some(format!("from ${CACHE_ENV}"))),
        _ => (default_url(), None),
    };
    let opened = CacheConfig::parse(&url)
        .and_then(|config| block_on(driver::open_lazy(&config)))
        .map_err(explain_scheme);
    match origin {
        Some(origin) => opened.map_err(|e| e.with_origin(origin)),
        None => opened,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleche_core::{ClaimPolicy, ErrorChain};

    fn error(url: &str) -> String {
        ErrorChain(&open(url).unwrap_err()).to_string()
    }

    #[test]
    fn file_urls() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a dir ü");
        let url = format!("file://{}?fsync=false&strict=true", path.display()).replace(' ', "%20");
        let c = open(&url).unwrap();
        assert!(c.options().strict);
        assert!(path.join("FLECHE-STORE").exists());
        let e = error(&format!("file://{}?fsync=maybe", path.display()));
        assert!(e.contains("takes true or false"), "{e}");
        let e = error(&format!("file://{}?colour=blue", path.display()));
        assert!(
            e.contains("unknown option `colour`") && e.contains("fsync") && e.contains("strict"),
            "{e}"
        );
        let e = error("file://");
        assert!(e.contains("names no path"), "{e}");
        let file = dir.path().join("plain file");
        std::fs::write(&file, b"x").unwrap();
        let e = error(&format!("file://{}", file.display()));
        assert!(e.contains("is a file, not a directory"), "{e}");
    }

    #[test]
    fn memory_urls() {
        let a = open("memory://shared-test").unwrap();
        let b = open("memory://shared-test").unwrap();
        assert_eq!(format!("{:?}", a.values()), format!("{:?}", b.values()));
        assert_eq!(a.config().unwrap().url, "memory://shared-test");
        assert!(open("memory://").is_ok());
    }

    #[test]
    fn bad_urls_get_clear_errors() {
        let e = error("no-scheme");
        assert!(e.contains("no scheme"), "{e}");
        let e = error("memory://x/y");
        assert!(e.contains("no path"), "{e}");
        let e = error("memory://x?fsync=false");
        assert!(e.contains("unknown option `fsync`"), "{e}");
        let e = error("memory://x?strict=maybe");
        assert!(e.contains("takes true or false"), "{e}");
        let e = error("nosuch://user:hunter2@host/0");
        assert!(
            e.contains("unknown scheme `nosuch`") && e.contains("memory") && !e.contains("hunter2"),
            "{e}"
        );
    }

    #[cfg(not(feature = "redis"))]
    #[test]
    fn a_store_left_out_of_the_build_names_its_feature() {
        let e = error("redis://127.0.0.1/0");
        assert!(e.contains("need the `redis` feature of fleche"), "{e}");
    }

    #[test]
    fn options_from_the_query() {
        let c = open("memory://?inline_limit=10&claims=never&claim_ttl_ms=500").unwrap();
        assert_eq!(c.options().inline_limit, 10);
        assert_eq!(c.options().claims, ClaimPolicy::Never);
        assert_eq!(c.options().claim_ttl, std::time::Duration::from_millis(500));
    }

    #[cfg(feature = "file")]
    #[test]
    fn the_default_url_is_a_file_url_that_opens() {
        let url = default_url();
        assert!(
            url.starts_with("file:///") && url.ends_with("/fleche"),
            "{url}"
        );
        let parsed = fleche_core::StoreUrl::parse(&url).unwrap();
        assert!(parsed.local_path().unwrap().ends_with("fleche"));
    }
}
