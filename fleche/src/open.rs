//! Opening a cache from a URL.

use std::sync::Arc;

#[cfg(any(
    feature = "sqlite",
    feature = "postgres",
    feature = "redis",
    feature = "s3"
))]
use fleche_core::bridge::block_on;
use fleche_core::{Cache, CacheConfig, CacheOptions, ClaimPolicy, Error, redact_url};

/// The environment variable that names the default cache's URL.
pub const CACHE_ENV: &str = "FLECHE_CACHE";

/// Opens the cache at `url`.
///
/// | URL | store |
/// |---|---|
/// | `memory://` | a new, empty in-process store |
/// | `memory://NAME` | the process-wide in-process store called NAME |
/// | `file:///path/to/dir` | the file store in that directory (`%20` for a space) |
/// | `sqlite:///path/to/cache.db`, `sqlite::memory:` | a SQLite database (feature `sqlite`) |
/// | `postgres://user@host:port/db?schema=NAME` | a PostgreSQL schema (feature `postgres`) |
/// | `redis://[user:password@]host:port/db?namespace=NAME` | a Redis namespace (feature `redis`; `rediss://` with `redis-tls`) |
/// | `s3://bucket/prefix` | objects under that prefix of an S3 bucket (feature `s3`) |
///
/// Options go in the query string: for the cache `strict=true`,
/// `inline_limit=BYTES`, `claims=auto|always|never`, `claim_ttl_ms=N`,
/// `claim_wait_ms=N`; for the file store `fsync=false`, `lock_timeout_ms=N`;
/// for the SQL stores those of `fleche_sql::SqlOptions` (`schema`,
/// `max_connections`, `acquire_timeout_ms`, `busy_timeout_ms`) and the
/// driver's (`sslmode`, …); for Redis those of `fleche_redis::RedisOptions`
/// (`namespace`, `ttl_ms`, `connect_timeout_ms`, `response_timeout_ms`,
/// `reconnect_retries`); for S3 `endpoint`, `region`, `allow_http`,
/// `access_key_id`, `secret_access_key`, `session_token`, … and those of
/// `fleche_s3::S3Options` (`timeout_ms`, `max_retries`, …), with the
/// `AWS_…` environment variables as defaults. An unknown option is an
/// error.
///
/// ```
/// let cache = fleche::open("memory://docs?strict=true").unwrap();
/// assert!(cache.options().strict);
/// assert!(fleche::open("nosuch://x").unwrap_err().to_string().contains("unknown scheme"));
/// ```
pub fn open(url: &str) -> Result<Cache, Error> {
    let mut config = CacheConfig::new(url);
    config.options = parse_options(url, &query_pairs(url))?;
    open_config(&config)
}

/// The `key=value` pairs of the URL's query string.
fn query_pairs(url: &str) -> Vec<(String, String)> {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_owned(), percent_decode(v))
        })
        .collect()
}

/// Opens a cache from its configuration, as [`Cache::config`] gives it
/// (for instance in a worker process).
// `rest` is read by the in-process stores only.
#[cfg_attr(
    not(any(feature = "memory", feature = "file")),
    allow(unused_variables)
)]
pub fn open_config(config: &CacheConfig) -> Result<Cache, Error> {
    let url = config.url.as_str();
    let base = url.split_once('?').map_or(url, |(b, _)| b);
    // `scheme://rest`, or `scheme:rest` (`sqlite::memory:`).
    let Some((scheme, rest)) = base.split_once("://").or_else(|| {
        base.split_once(':')
            .filter(|(s, _)| s.starts_with("sqlite"))
    }) else {
        return Err(open_error(
            url,
            "expected a URL such as memory:// (no `://` found)",
        ));
    };
    let (values, calls) = match scheme {
        #[cfg(feature = "memory")]
        "memory" => memory(url, rest, &store_options(url))?,
        #[cfg(feature = "file")]
        "file" => file(url, rest, &store_options(url))?,
        #[cfg(feature = "sqlite")]
        "sqlite" => connected_store(url, |u| block_on(fleche_sql::SqliteStore::connect(u)))?,
        #[cfg(feature = "postgres")]
        "postgres" | "postgresql" => {
            connected_store(url, |u| block_on(fleche_sql::PgStore::connect(u)))?
        }
        #[cfg(feature = "redis")]
        "redis" | "rediss" => {
            connected_store(url, |u| block_on(fleche_redis::RedisStore::connect(u)))?
        }
        #[cfg(feature = "s3")]
        "s3" => connected_store(url, |u| block_on(fleche_s3::S3Store::connect(u)))?,
        other => {
            return Err(open_error(
                url,
                &format!(
                    "unknown scheme `{other}`; this build of fleche supports: {}",
                    SCHEMES.join(", ")
                ),
            ));
        }
    };
    Ok(Cache::builder(values, calls)
        .options(config.options.clone())
        .url(url)
        .build())
}

/// The URL schemes this build understands.
pub const SCHEMES: &[&str] = &[
    #[cfg(feature = "memory")]
    "memory",
    #[cfg(feature = "file")]
    "file",
    #[cfg(feature = "sqlite")]
    "sqlite",
    #[cfg(feature = "postgres")]
    "postgres",
    #[cfg(feature = "redis")]
    "redis",
    #[cfg(feature = "redis")]
    "rediss",
    #[cfg(feature = "s3")]
    "s3",
];

type Stores = (
    Arc<dyn fleche_core::ValueStore>,
    Arc<dyn fleche_core::CallStore>,
);

/// The options of `url` that are the in-process store's: the cache's own
/// were read by `open`. (Server-backed stores parse their URLs themselves.)
#[cfg(any(feature = "memory", feature = "file"))]
fn store_options(url: &str) -> Vec<(String, String)> {
    let mut options = query_pairs(url);
    options.retain(|(k, _)| !CACHE_OPTIONS.contains(&k.as_str()));
    options
}

/// Fails on an option the backend does not know.
#[cfg(any(feature = "memory", feature = "file"))]
fn reject_unknown(url: &str, options: &[(String, String)], known: &[&str]) -> Result<(), Error> {
    match options.iter().find(|(k, _)| !known.contains(&k.as_str())) {
        Some((k, _)) => Err(open_error(
            url,
            &format!(
                "unknown option `{k}`; the cache takes {}{}{}",
                CACHE_OPTIONS.join(", "),
                if known.is_empty() {
                    ""
                } else {
                    "; this store also takes "
                },
                known.join(", ")
            ),
        )),
        None => Ok(()),
    }
}

#[cfg(feature = "memory")]
fn memory(url: &str, rest: &str, options: &[(String, String)]) -> Result<Stores, Error> {
    use fleche_memory::MemoryStore;
    reject_unknown(url, options, &[])?;
    if rest.contains('/') {
        return Err(open_error(
            url,
            "a memory URL is memory:// or memory://NAME, with no path",
        ));
    }
    let store = if rest.is_empty() {
        Arc::new(MemoryStore::new())
    } else {
        MemoryStore::named(rest)
    };
    Ok((store.clone(), store))
}

#[cfg(feature = "file")]
fn file(url: &str, rest: &str, options: &[(String, String)]) -> Result<Stores, Error> {
    use fleche_file::{FileOptions, FileStore};
    reject_unknown(url, options, &["fsync", "lock_timeout_ms"])?;
    let path = percent_decode(rest.split_once('?').map_or(rest, |(p, _)| p));
    if path.is_empty() {
        return Err(open_error(
            url,
            "a file URL needs a directory: file:///path/to/dir",
        ));
    }
    let mut file_options = FileOptions::default();
    for (key, value) in options {
        let bad = |what: &str| open_error(url, &format!("option `{key}` {what}, not `{value}`"));
        match key.as_str() {
            "fsync" => {
                file_options =
                    file_options.fsync(value.parse().map_err(|_| bad("takes true or false"))?)
            }
            "lock_timeout_ms" => {
                file_options = file_options
                    .lock_timeout(millis(value).ok_or_else(|| bad("takes milliseconds"))?)
            }
            _ => {}
        }
    }
    let store = Arc::new(FileStore::open_with(&path, file_options)?);
    Ok((store.clone(), store))
}

/// The stores of a server-backed store (SQL, Redis, S3): `connect` gets
/// the URL without the cache's own options.
#[cfg(any(
    feature = "sqlite",
    feature = "postgres",
    feature = "redis",
    feature = "s3"
))]
fn connected_store<S>(
    url: &str,
    connect: impl FnOnce(&str) -> Result<S, fleche_core::StoreError>,
) -> Result<Stores, Error>
where
    S: fleche_core::ValueStore + fleche_core::CallStore + 'static,
{
    let connected = connect(&without_cache_options(url));
    let store = Arc::new(connected.map_err(|e| open_error(url, &e.to_string()))?);
    Ok((store.clone(), store))
}

/// `url` without the query options the cache reads.
#[cfg(any(
    feature = "sqlite",
    feature = "postgres",
    feature = "redis",
    feature = "s3"
))]
fn without_cache_options(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_owned();
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .filter(|p| !CACHE_OPTIONS.contains(&p.split_once('=').map_or(*p, |(k, _)| k)))
        .collect();
    if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    }
}

/// Decodes `%XX` escapes (a path with spaces arrives as `%20`).
fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// The options the cache itself takes; every other option is the backend's.
const CACHE_OPTIONS: &[&str] = &[
    "strict",
    "inline_limit",
    "claims",
    "claim_ttl_ms",
    "claim_wait_ms",
];

/// Reads the cache's own options out of `pairs`; the backend reads the rest.
fn parse_options(url: &str, pairs: &[(String, String)]) -> Result<CacheOptions, Error> {
    let mut options = CacheOptions::default();
    for (key, value) in pairs {
        let bad = |what: &str| open_error(url, &format!("option `{key}` {what}, not `{value}`"));
        match key.as_str() {
            "strict" => options.strict = value.parse().map_err(|_| bad("takes true or false"))?,
            "inline_limit" => {
                options.inline_limit = value.parse().map_err(|_| bad("takes a number of bytes"))?
            }
            "claims" => {
                options.claims = match value.as_str() {
                    "auto" => ClaimPolicy::Auto,
                    "always" => ClaimPolicy::Always,
                    "never" => ClaimPolicy::Never,
                    _ => return Err(bad("takes auto, always or never")),
                }
            }
            "claim_ttl_ms" => {
                options.claim_ttl = millis(value).ok_or_else(|| bad("takes milliseconds"))?
            }
            "claim_wait_ms" => {
                options.claim_wait = millis(value).ok_or_else(|| bad("takes milliseconds"))?
            }
            _ => {}
        }
    }
    Ok(options)
}

fn millis(s: &str) -> Option<std::time::Duration> {
    s.parse().ok().map(std::time::Duration::from_millis)
}

fn open_error(url: &str, message: &str) -> Error {
    Error::Open {
        url: redact_url(url),
        message: message.to_owned(),
    }
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
    format!("file://{}", base.join("fleche").display())
}

/// The default cache's URL: an in-process memory store (this build has no
/// file store).
#[cfg(not(feature = "file"))]
pub fn default_url() -> String {
    "memory://default".to_owned()
}

/// Opens the default cache: `$FLECHE_CACHE` if set, else [`default_url`].
pub fn open_default() -> Result<Cache, Error> {
    match std::env::var(CACHE_ENV) {
        Ok(url) if !url.trim().is_empty() => open(url.trim()).map_err(|e| match e {
            Error::Open { url, message } => Error::Open {
                url,
                message: format!("{message} (from ${CACHE_ENV})"),
            },
            other => other,
        }),
        _ => open(&default_url()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_urls() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a dir ü");
        let url = format!("file://{}?fsync=false&strict=true", path.display()).replace(' ', "%20");
        let c = open(&url).unwrap();
        assert!(c.options().strict);
        assert!(path.join("FLECHE-STORE").exists());
        let e = open(&format!("file://{}?fsync=maybe", path.display()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("takes true or false"), "{e}");
        let e = open(&format!("file://{}?colour=blue", path.display()))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("unknown option `colour`") && e.contains("fsync"),
            "{e}"
        );
        let e = open("file://").unwrap_err().to_string();
        assert!(e.contains("needs a directory"), "{e}");
        let file = dir.path().join("plain file");
        std::fs::write(&file, b"x").unwrap();
        let e = open(&format!("file://{}", file.display()))
            .unwrap_err()
            .to_string();
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
        let e = open("no-scheme").unwrap_err().to_string();
        assert!(e.contains("no `://`"), "{e}");
        let e = open("memory://x/y").unwrap_err().to_string();
        assert!(e.contains("no path"), "{e}");
        let e = open("memory://x?fsync=false").unwrap_err().to_string();
        assert!(e.contains("unknown option `fsync`"), "{e}");
        let e = open("memory://x?strict=maybe").unwrap_err().to_string();
        assert!(e.contains("takes true or false"), "{e}");
        let e = open("nosuch://user:hunter2@host/0")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("unknown scheme `nosuch`") && !e.contains("hunter2"),
            "{e}"
        );
    }

    #[cfg(feature = "redis")]
    #[test]
    fn redis_urls_are_checked_and_never_show_the_password() {
        // Nothing listens on port 1: refused at once, reported as unavailable.
        let start = std::time::Instant::now();
        let e = open("redis://user:hunter2@127.0.0.1:1/0?strict=true")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("unavailable") && e.contains("user:***@") && !e.contains("hunter2"),
            "{e}"
        );
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
        let e = open("redis://127.0.0.1:1/0?colour=blue")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown option `colour`"), "{e}");
    }

    #[test]
    fn options_from_the_query() {
        let c = open("memory://?inline_limit=10&claims=never&claim_ttl_ms=500").unwrap();
        assert_eq!(c.options().inline_limit, 10);
        assert_eq!(c.options().claims, ClaimPolicy::Never);
        assert_eq!(c.options().claim_ttl, std::time::Duration::from_millis(500));
    }
}
