//! Opening a cache from a URL.

use std::sync::Arc;

use fleche_core::{Cache, CacheConfig, CacheOptions, ClaimPolicy, Error, redact_url};

/// The environment variable that names the default cache's URL.
pub const CACHE_ENV: &str = "FLECHE_CACHE";

/// Opens the cache at `url`.
///
/// | URL | store |
/// |---|---|
/// | `memory://` | a new, empty in-process store |
/// | `memory://NAME` | the process-wide in-process store called NAME |
///
/// Options go in the query string: `strict=true`, `inline_limit=BYTES`,
/// `claims=auto|always|never`, `claim_ttl_ms=N`, `claim_wait_ms=N`.
///
/// ```
/// let cache = fleche::open("memory://docs?strict=true").unwrap();
/// assert!(cache.options().strict);
/// assert!(fleche::open("nosuch://x").unwrap_err().to_string().contains("unknown scheme"));
/// ```
pub fn open(url: &str) -> Result<Cache, Error> {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    let options = parse_options(url, query)?;
    let mut config = CacheConfig::new(url);
    config.options = options;
    open_config(&config)
}

/// Opens a cache from its configuration, as [`Cache::config`] gives it
/// (for instance in a worker process).
pub fn open_config(config: &CacheConfig) -> Result<Cache, Error> {
    let url = config.url.as_str();
    let base = url.split_once('?').map_or(url, |(b, _)| b);
    let Some((scheme, rest)) = base.split_once("://") else {
        return Err(open_error(
            url,
            "expected a URL such as memory:// (no `://` found)",
        ));
    };
    let (values, calls) = match scheme {
        #[cfg(feature = "memory")]
        "memory" => memory(url, rest)?,
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
];

type Stores = (
    Arc<dyn fleche_core::ValueStore>,
    Arc<dyn fleche_core::CallStore>,
);

#[cfg(feature = "memory")]
fn memory(url: &str, rest: &str) -> Result<Stores, Error> {
    use fleche_memory::MemoryStore;
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

fn parse_options(url: &str, query: &str) -> Result<CacheOptions, Error> {
    let mut options = CacheOptions::default();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let bad = |what: &str| open_error(url, &format!("option `{key}` {what}, not `{value}`"));
        match key {
            "strict" => options.strict = value.parse().map_err(|_| bad("takes true or false"))?,
            "inline_limit" => {
                options.inline_limit = value.parse().map_err(|_| bad("takes a number of bytes"))?
            }
            "claims" => {
                options.claims = match value {
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
            _ => {} // left for the backend (each backend rejects what it does not know)
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

/// Opens the default cache: `$FLECHE_CACHE` if set, else an in-process
/// memory store (the file store under the user's cache directory replaces
/// it when the file backend lands).
pub fn open_default() -> Result<Cache, Error> {
    match std::env::var(CACHE_ENV) {
        Ok(url) if !url.trim().is_empty() => open(url.trim()).map_err(|e| match e {
            Error::Open { url, message } => Error::Open {
                url,
                message: format!("{message} (from ${CACHE_ENV})"),
            },
            other => other,
        }),
        _ => open("memory://default"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let e = open("memory://x?strict=maybe").unwrap_err().to_string();
        assert!(e.contains("takes true or false"), "{e}");
        let e = open("redis://user:hunter2@host/0").unwrap_err().to_string();
        assert!(
            e.contains("unknown scheme `redis`") && !e.contains("hunter2"),
            "{e}"
        );
    }

    #[test]
    fn options_from_the_query() {
        let c = open("memory://?inline_limit=10&claims=never&claim_ttl_ms=500").unwrap();
        assert_eq!(c.options().inline_limit, 10);
        assert_eq!(c.options().claims, ClaimPolicy::Never);
        assert_eq!(c.options().claim_ttl, std::time::Duration::from_millis(500));
    }
}
