//! Cache options and the serializable configuration.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::driver::{OpenError, StoreUrl, UrlError, UrlOption};

/// When the cache claims a key before computing it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ClaimPolicy {
    /// When the call store offers claims and is shared beyond this process
    /// (inside one process, single-flight already prevents duplicate work).
    #[default]
    Auto,
    /// Whenever the call store offers claims.
    Always,
    /// Never.
    Never,
}

/// How a [`Cache`](crate::Cache) behaves.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct CacheOptions {
    /// Turn store errors into errors (the attribute panics) instead of
    /// running the function uncached with a warning.
    pub strict: bool,
    /// Results whose encoding is at most this many bytes live inside the
    /// call record, so a hit is one round trip.
    pub inline_limit: usize,
    /// When to claim a key before computing it.
    pub claims: ClaimPolicy,
    /// The lease of a claim; it is renewed every third of it while the body
    /// runs, and a crashed worker's claim is taken over after it.
    pub claim_ttl: Duration,
    /// How long to wait for another worker's claim before computing anyway.
    pub claim_wait: Duration,
}

impl Default for CacheOptions {
    fn default() -> Self {
        Self {
            strict: false,
            inline_limit: 4096,
            claims: ClaimPolicy::Auto,
            claim_ttl: Duration::from_secs(10),
            claim_wait: Duration::from_secs(3600),
        }
    }
}

/// The options a cache takes from its URL's query string; every other
/// option is the store's.
pub const CACHE_OPTIONS: &[UrlOption] = &[
    UrlOption::new(
        "strict",
        "true: store failures are errors instead of warnings (default false)",
    ),
    UrlOption::new(
        "inline_limit",
        "results of at most this many bytes live in the call record (default 4096)",
    ),
    UrlOption::new(
        "claims",
        "auto, always or never: claim a key before computing it (default auto)",
    ),
    UrlOption::new(
        "claim_ttl_ms",
        "the lease of a claim, renewed every third of it while the body runs (default 10000)",
    ),
    UrlOption::new(
        "claim_wait_ms",
        "the longest wait for another worker's claim (default 3600000)",
    ),
];

impl CacheOptions {
    /// The options `url` sets, over the defaults. Only the cache's own
    /// options are read ([`CACHE_OPTIONS`]).
    pub fn from_url(url: &StoreUrl) -> Result<Self, UrlError> {
        let mut options = Self::default();
        if let Some(strict) = url.flag("strict")? {
            options.strict = strict;
        }
        if let Some(limit) = url.number("inline_limit")? {
            options.inline_limit = limit;
        }
        let policy = url.typed("claims", "auto, always or never", |v| match v {
            "auto" => Some(ClaimPolicy::Auto),
            "always" => Some(ClaimPolicy::Always),
            "never" => Some(ClaimPolicy::Never),
            _ => None,
        })?;
        if let Some(policy) = policy {
            options.claims = policy;
        }
        if let Some(ttl) = url.millis("claim_ttl_ms")? {
            options.claim_ttl = ttl;
        }
        if let Some(wait) = url.millis("claim_wait_ms")? {
            options.claim_wait = wait;
        }
        Ok(options)
    }
}

/// What another process needs to reopen the same cache: the store URL and
/// the options. Serializable, so it can travel to workers.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CacheConfig {
    /// The store URL, as given to `fleche::open`.
    pub url: String,
    /// The options.
    pub options: CacheOptions,
}

impl CacheConfig {
    /// A configuration for `url` with default options.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            options: CacheOptions::default(),
        }
    }

    /// The configuration a URL gives: the URL itself, and the cache's
    /// options from its query string (the store's options are checked
    /// when it opens).
    ///
    /// ```
    /// let config = fleche_core::CacheConfig::parse("file:///data/cache?strict=true&fsync=false").unwrap();
    /// assert!(config.options.strict);
    /// ```
    pub fn parse(url: &str) -> Result<Self, Error> {
        let parsed = StoreUrl::parse(url).map_err(|e| Error::open(url, e))?;
        let options = CacheOptions::from_url(&parsed).map_err(|e| Error::open(url, e))?;
        Ok(Self {
            url: parsed.as_str().to_owned(),
            options,
        })
    }

    /// The URL with its secrets replaced by `***`, for messages.
    pub fn redacted_url(&self) -> String {
        crate::redact_url(&self.url)
    }

    pub(crate) fn open_error(&self, cause: impl Into<OpenError>) -> Error {
        Error::open(&self.url, cause)
    }
}

impl std::fmt::Debug for CacheConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheConfig")
            .field("url", &self.redacted_url())
            .field("options", &self.options)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_from_a_url() {
        let config = CacheConfig::parse(
            "memory://x?inline_limit=10&claims=never&claim_ttl_ms=500&claim_wait_ms=7&strict=true",
        )
        .unwrap();
        let o = &config.options;
        assert_eq!(o.inline_limit, 10);
        assert_eq!(o.claims, ClaimPolicy::Never);
        assert_eq!(o.claim_ttl, Duration::from_millis(500));
        assert_eq!(o.claim_wait, Duration::from_millis(7));
        assert!(o.strict);
        let err = CacheConfig::parse("memory://x?claims=sometimes").unwrap_err();
        let shown = crate::ErrorChain(&err).to_string();
        assert!(shown.contains("takes auto, always or never"), "{shown}");
    }

    #[test]
    fn debug_hides_the_password() {
        let cfg = CacheConfig::new("redis://me:hunter2@h:6379/0");
        assert!(!format!("{cfg:?}").contains("hunter2"));
    }
}
