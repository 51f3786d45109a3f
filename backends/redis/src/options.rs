//! Options of a Redis store, and the URL options that set them.

use std::time::Duration;

/// The namespace used when none is given.
pub const DEFAULT_NAMESPACE: &str = "fleche";

/// How a Redis store connects and where it keeps its keys. Every option can
/// also be given in the URL's query string
/// (`redis://h:6379/0?namespace=team&ttl_ms=86400000`).
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
    /// The URL options this crate reads.
    pub const URL_KEYS: &'static [&'static str] = &[
        "namespace",
        "ttl_ms",
        "connect_timeout_ms",
        "response_timeout_ms",
        "reconnect_retries",
    ];

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

    /// Sets the option named by a URL key; an error says what the key takes.
    ///
    /// ```
    /// let mut options = fleche_redis::RedisOptions::default();
    /// options.set("ttl_ms", "60000").unwrap();
    /// assert_eq!(options.ttl, Some(std::time::Duration::from_secs(60)));
    /// assert!(options.set("colour", "blue").unwrap_err().contains("unknown option"));
    /// ```
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let positive_millis = || {
            value
                .parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .map(Duration::from_millis)
                .ok_or_else(|| {
                    format!("option `{key}` takes a positive number of milliseconds, not `{value}`")
                })
        };
        match key {
            "namespace" => {
                check_namespace(value)?;
                self.namespace = value.to_owned();
            }
            // `ttl_ms=0` turns expiry off.
            "ttl_ms" => {
                self.ttl = match value {
                    "0" => None,
                    _ => Some(positive_millis()?),
                }
            }
            "connect_timeout_ms" => self.connect_timeout = positive_millis()?,
            "response_timeout_ms" => self.response_timeout = positive_millis()?,
            "reconnect_retries" => {
                self.reconnect_retries = value
                    .parse()
                    .map_err(|_| format!("option `{key}` takes a number, not `{value}`"))?
            }
            _ => {
                return Err(format!(
                    "unknown option `{key}`; this store takes {}",
                    Self::URL_KEYS.join(", ")
                ));
            }
        }
        Ok(())
    }
}

/// A namespace goes into every key, inside a hash tag and into `SCAN`
/// patterns, so it is restricted to characters that mean nothing there.
pub(crate) fn check_namespace(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "namespace `{name}` must be 1 to 100 letters, digits, `_`, `-`, `.` or `:`"
        ))
    }
}

/// Splits a URL's query options off and applies them to `options`. Returns
/// the URL without its query, as the driver takes it.
pub(crate) fn split_url(url: &str, options: &mut RedisOptions) -> Result<String, String> {
    // A fragment (`#insecure`, for rediss://) belongs to the driver.
    let (url, fragment) = match url.split_once('#') {
        Some((url, fragment)) => (url, format!("#{fragment}")),
        None => (url, String::new()),
    };
    let Some((base, query)) = url.split_once('?') else {
        check_namespace(&options.namespace)?;
        return Ok(format!("{url}{fragment}"));
    };
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_encoding::percent_decode_str(value).decode_utf8_lossy();
        options.set(key, &value)?;
    }
    check_namespace(&options.namespace)?;
    Ok(format!("{base}{fragment}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_options_are_read_and_removed() {
        let mut options = RedisOptions::default();
        let url = split_url(
            "redis://u:pw@h:6379/2?namespace=a.b&ttl_ms=1500&response_timeout_ms=250",
            &mut options,
        )
        .unwrap();
        assert_eq!(url, "redis://u:pw@h:6379/2");
        assert_eq!(options.namespace, "a.b");
        assert_eq!(options.ttl, Some(Duration::from_millis(1500)));
        assert_eq!(options.response_timeout, Duration::from_millis(250));
        split_url("redis://h?ttl_ms=0", &mut options).unwrap();
        assert_eq!(options.ttl, None);
        let url = split_url("rediss://h/0?namespace=n#insecure", &mut options).unwrap();
        assert_eq!(url, "rediss://h/0#insecure");
    }

    #[test]
    fn bad_options_say_what_they_take() {
        let mut options = RedisOptions::default();
        let err = split_url("redis://h?nosuch=1", &mut options).unwrap_err();
        assert!(
            err.contains("unknown option `nosuch`") && err.contains("ttl_ms"),
            "{err}"
        );
        let err = split_url("redis://h?ttl_ms=soon", &mut options).unwrap_err();
        assert!(err.contains("milliseconds"), "{err}");
        let err = split_url("redis://h?namespace=a{b}", &mut options).unwrap_err();
        assert!(err.contains("namespace"), "{err}");
        let err = split_url("redis://h?namespace=", &mut options).unwrap_err();
        assert!(err.contains("namespace"), "{err}");
        assert!(options.set("connect_timeout_ms", "0").is_err());
    }
}
