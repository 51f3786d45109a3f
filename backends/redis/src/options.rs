//! Options of a Redis store, and the URL options that set them.

use std::time::Duration;

use fleche_core::driver::{StoreUrl, UrlError, UrlOption};

/// The namespace used when none is given.
pub const DEFAULT_NAMESPACE: &str = "fleche";

/// How a Redis store connects and where it keeps its keys. Every option can
/// also be given in the URL's query string
/// (`redis://h:6379/0?namespace=team&ttl_ms=86400000`; see
/// [`RedisOptions::URL_OPTIONS`]).
///
/// ```
/// use std::time::Duration;
/// let options = fleche_redis::RedisOptions::default()
///     .namespace("team_cache")
///     .ttl(Some(Duration::from_secs(24 * 3600)))
///     .response_timeout(Duration::from_millis(500));
/// assert_eq!(options.namespace, "team_cache");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisOptions {
    /// The prefix of every key this store writes (in a hash tag:
    /// `{NAMESPACE}:…`). Caches in different namespaces never see each
    /// other. Letters, digits and `_ - . :` only.
    pub namespace: String,
    /// How long records and values live after they were last written;
    /// `None` (the default, and what a zero TTL means) keeps them until
    /// deleted or evicted.
    pub ttl: Option<Duration>,
    /// The longest wait to open one connection. A cached call whose server
    /// is down fails over to running uncached within about this long.
    pub connect_timeout: Duration,
    /// The longest wait for the answer to one command (or pipeline).
    pub response_timeout: Duration,
    /// How many times a lost connection is retried, with a short backoff,
    /// before a command fails as unavailable (the next command tries again).
    pub reconnect_retries: usize,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            namespace: DEFAULT_NAMESPACE.to_owned(),
            ttl: None,
            connect_timeout: Duration::from_secs(1),
            response_timeout: Duration::from_secs(2),
            reconnect_retries: 1,
        }
    }
}

impl RedisOptions {
    /// The options a `redis://` or `rediss://` URL may carry.
    pub const URL_OPTIONS: &'static [UrlOption] = &[
        UrlOption::new(
            "namespace",
            "the prefix of every key: letters, digits, `_ - . :` (default fleche)",
        ),
        UrlOption::new(
            "ttl_ms",
            "records and values expire this long after they were last written (default 0: never)",
        ),
        UrlOption::new(
            "connect_timeout_ms",
            "the longest wait to open a connection (default 1000)",
        ),
        UrlOption::new(
            "response_timeout_ms",
            "the longest wait for the answer to one command (default 2000)",
        ),
        UrlOption::new(
            "reconnect_retries",
            "quick reconnection attempts before a command fails as unavailable (default 1)",
        ),
    ];

    /// These options with the ones `url` gives set over them.
    ///
    /// ```
    /// use std::time::Duration;
    /// use fleche_core::StoreUrl;
    /// use fleche_redis::RedisOptions;
    ///
    /// let url = StoreUrl::parse("redis://h/0?namespace=team&ttl_ms=60000").unwrap();
    /// let options = RedisOptions::default().with_url(&url).unwrap();
    /// assert_eq!((options.namespace.as_str(), options.ttl), ("team", Some(Duration::from_secs(60))));
    /// let url = StoreUrl::parse("redis://h/0?ttl_ms=soon").unwrap();
    /// assert!(RedisOptions::default().with_url(&url).unwrap_err().to_string().contains("milliseconds"));
    /// ```
    pub fn with_url(mut self, url: &StoreUrl) -> Result<Self, UrlError> {
        if let Some(namespace) = url.text("namespace")? {
            check_namespace(namespace)?;
            self.namespace = namespace.to_owned();
        }
        // `ttl_ms=0` turns expiry off.
        if let Some(ttl) = url.millis("ttl_ms")? {
            self.ttl = Some(ttl).filter(|t| !t.is_zero());
        }
        if let Some(timeout) = positive_millis(url, "connect_timeout_ms")? {
            self.connect_timeout = timeout;
        }
        if let Some(timeout) = positive_millis(url, "response_timeout_ms")? {
            self.response_timeout = timeout;
        }
        if let Some(retries) = url.number("reconnect_retries")? {
            self.reconnect_retries = retries;
        }
        Ok(self)
    }

    /// Sets [`RedisOptions::namespace`].
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// Sets [`RedisOptions::ttl`].
    pub fn ttl(mut self, ttl: Option<Duration>) -> Self {
        self.ttl = ttl;
        self
    }

    /// Sets [`RedisOptions::connect_timeout`].
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets [`RedisOptions::response_timeout`].
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// Sets [`RedisOptions::reconnect_retries`].
    pub fn reconnect_retries(mut self, retries: usize) -> Self {
        self.reconnect_retries = retries;
        self
    }
}

/// Option `name` as a positive number of milliseconds.
fn positive_millis(url: &StoreUrl, name: &str) -> Result<Option<Duration>, UrlError> {
    url.typed(name, "a positive number of milliseconds", |v| {
        v.parse::<u64>()
            .ok()
            .filter(|n| *n > 0)
            .map(Duration::from_millis)
    })
}

/// A namespace goes into every key, inside a hash tag and into `SCAN`
/// patterns, so it is restricted to characters that mean nothing there.
pub(crate) fn check_namespace(name: &str) -> Result<(), UrlError> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'));
    if ok {
        Ok(())
    } else {
        Err(UrlError::bad_value(
            "namespace",
            "1 to 100 letters, digits, `_`, `-`, `.` or `:`",
            name,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(url: &str) -> Result<RedisOptions, String> {
        let url = StoreUrl::parse(url).map_err(|e| e.to_string())?;
        RedisOptions::default()
            .with_url(&url)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn url_options_are_read() {
        let o = options("redis://u:pw@h:6379/2?namespace=a.b&ttl_ms=1500&response_timeout_ms=250")
            .unwrap();
        assert_eq!(o.namespace, "a.b");
        assert_eq!(o.ttl, Some(Duration::from_millis(1500)));
        assert_eq!(o.response_timeout, Duration::from_millis(250));
        assert_eq!(o.connect_timeout, RedisOptions::default().connect_timeout);
        assert_eq!(options("redis://h?ttl_ms=0").unwrap().ttl, None);
        // The fragment ends the last option.
        let o = options("rediss://h/0?namespace=n#insecure").unwrap();
        assert_eq!(o.namespace, "n");
        let o = options("redis://h?reconnect_retries=4").unwrap();
        assert_eq!(o.reconnect_retries, 4);
    }

    #[test]
    fn url_options_override_the_given_ones() {
        let url = StoreUrl::parse("redis://h?ttl_ms=10").unwrap();
        let o = RedisOptions::default()
            .namespace("kept")
            .ttl(None)
            .with_url(&url)
            .unwrap();
        assert_eq!(o.namespace, "kept");
        assert_eq!(o.ttl, Some(Duration::from_millis(10)));
    }

    #[test]
    fn bad_options_say_what_they_take() {
        let err = options("redis://h?ttl_ms=soon").unwrap_err();
        assert!(err.contains("milliseconds"), "{err}");
        let err = options("redis://h?namespace=a{b}").unwrap_err();
        assert!(err.contains("namespace"), "{err}");
        let err = options("redis://h?namespace=").unwrap_err();
        assert!(err.contains("namespace") && err.contains("empty"), "{err}");
        let err = options("redis://h?connect_timeout_ms=0").unwrap_err();
        assert!(err.contains("positive"), "{err}");
        let err = options("redis://h?reconnect_retries=-1").unwrap_err();
        assert!(err.contains("a number"), "{err}");
    }
}
