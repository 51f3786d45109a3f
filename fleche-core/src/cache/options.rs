//! Cache options and the serializable configuration.

use std::time::Duration;

use serde::{Deserialize, Serialize};

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
            claim_ttl: Duration::from_secs(30),
            claim_wait: Duration::from_secs(3600),
        }
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

    /// The URL with any password replaced by `***`, for messages.
    pub fn redacted_url(&self) -> String {
        redact_url(&self.url)
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

/// Replaces the secrets in a URL with `***`: the password of
/// `scheme://user:password@host…`, and the values of query options that
/// carry one (`password=`, `secret_access_key=`, `access_key_id=`, `token=`, …).
///
/// ```
/// use fleche_core::redact_url;
/// assert_eq!(redact_url("redis://me:hunter2@h:6379/0"), "redis://me:***@h:6379/0");
/// assert_eq!(redact_url("postgres://h/db?password=pw&schema=s"), "postgres://h/db?password=***&schema=s");
/// assert_eq!(redact_url("memory://x"), "memory://x");
/// ```
pub fn redact_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let mut out = redact_userinfo(base);
    if let Some(query) = query {
        out.push('?');
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if is_secret_option(key) => format!("{key}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        out.push_str(&pairs.join("&"));
    }
    out
}

/// Whether a URL query option holds a secret.
fn is_secret_option(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    [
        "password",
        "secret",
        "token",
        "sslkey",
        "credential",
        "access_key",
    ]
    .iter()
    .any(|word| key.contains(word))
}

/// Replaces the password in the authority of `scheme://user:password@host`.
fn redact_userinfo(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let userinfo = &authority[..at];
    let Some(colon) = userinfo.find(':') else {
        return url.to_owned();
    };
    format!(
        "{}{}:***{}",
        &url[..scheme_end + 3],
        &userinfo[..colon],
        &rest[at..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction() {
        assert_eq!(
            redact_url("postgres://u:p%40ss@db/x?schema=s"),
            "postgres://u:***@db/x?schema=s"
        );
        assert_eq!(redact_url("redis://:secret@h"), "redis://:***@h");
        assert_eq!(redact_url("s3://bucket/pre@fix"), "s3://bucket/pre@fix");
        assert_eq!(
            redact_url("postgres://u@h/db?sslmode=require&password=p%40ss"),
            "postgres://u@h/db?sslmode=require&password=***"
        );
        assert_eq!(
            redact_url("s3://b/p?endpoint=http://h:1&secret_access_key=k"),
            "s3://b/p?endpoint=http://h:1&secret_access_key=***"
        );
        assert_eq!(
            redact_url("s3://b/p?access_key_id=AKIA1&region=r"),
            "s3://b/p?access_key_id=***&region=r"
        );
        let cfg = CacheConfig::new("redis://me:hunter2@h:6379/0");
        assert!(!format!("{cfg:?}").contains("hunter2"));
    }
}
