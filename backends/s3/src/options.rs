//! Options of an S3 store, and the URL options that set them.

use std::time::Duration;

use fleche_core::driver::{StoreUrl, UrlError, UrlOption};

/// How an S3 store talks to its server, and what it promises. Every option
/// but the two capability flags can also be given in the URL's query
/// string (`?timeout_ms=5000&max_retries=2`; see
/// [`S3Options::URL_OPTIONS`]).
///
/// ```
/// use std::time::Duration;
/// let options = fleche_s3::S3Options::default()
///     .timeout(Duration::from_secs(5))
///     .max_retries(2);
/// assert_eq!(options.max_retries, 2);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct S3Options {
    /// The longest one request may take, from connecting to the last byte
    /// of the response (`timeout_ms`).
    pub timeout: Duration,
    /// The longest wait to connect to the server (`connect_timeout_ms`).
    pub connect_timeout: Duration,
    /// How often a failed request is retried — a connection refused or
    /// reset, a timeout, a 5xx or 429 answer — with exponential backoff
    /// (`max_retries`). 0 retries nothing.
    pub max_retries: usize,
    /// No retry starts later than this after the first attempt
    /// (`retry_timeout_ms`). With [`S3Options::timeout`] it bounds how long
    /// an operation on an unreachable server takes before it fails as
    /// [`Unavailable`](fleche_core::ErrorKind::Unavailable).
    pub retry_timeout: Duration,
    /// How many objects a listing, a query or a batch reads or writes at
    /// once (`concurrency`).
    pub concurrency: usize,
    /// Whether the data outlives the process (true for every server; false
    /// for `object_store::memory::InMemory`). Reported as
    /// [`Capabilities::persistent`](fleche_core::Capabilities::persistent).
    pub persistent: bool,
    /// Whether several processes can share the store (true for every
    /// server; false for `InMemory`). Reported as
    /// [`Capabilities::shared`](fleche_core::Capabilities::shared).
    pub shared: bool,
}

impl Default for S3Options {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            max_retries: 3,
            retry_timeout: Duration::from_secs(15),
            concurrency: 16,
            persistent: true,
            shared: true,
        }
    }
}

impl S3Options {
    /// The options an `s3://` URL may carry: the client's — each with the
    /// `AWS_…` environment variable of its name in upper case as the
    /// default (`AWS_ENDPOINT`, `AWS_REGION`, `AWS_ALLOW_HTTP`, …) — and
    /// those of these options.
    pub const URL_OPTIONS: &'static [UrlOption] = &[
        UrlOption::new(
            "endpoint",
            "the server, for S3-compatible ones: http://127.0.0.1:9000 (default AWS_ENDPOINT, else Amazon S3)",
        ),
        UrlOption::new("region", "the bucket's region (default AWS_REGION)"),
        UrlOption::new(
            "allow_http",
            "true: allow a plain-HTTP endpoint (default AWS_ALLOW_HTTP, else false)",
        ),
        UrlOption::new(
            "access_key_id",
            "the access key (default AWS_ACCESS_KEY_ID); never shown",
        ),
        UrlOption::new(
            "secret_access_key",
            "the secret key (default AWS_SECRET_ACCESS_KEY); never shown",
        ),
        UrlOption::new(
            "session_token",
            "a session token (default AWS_SESSION_TOKEN); never shown",
        ),
        UrlOption::new(
            "virtual_hosted_style_request",
            "true: address the bucket as a host name, bucket.endpoint (default false)",
        ),
        UrlOption::new(
            "skip_signature",
            "true: send requests unsigned, for public buckets (default false)",
        ),
        UrlOption::new(
            "timeout_ms",
            "the longest one request may take (default 30000)",
        ),
        UrlOption::new(
            "connect_timeout_ms",
            "the longest wait to connect (default 5000)",
        ),
        UrlOption::new(
            "max_retries",
            "retries of a failed request, with backoff (default 3)",
        ),
        UrlOption::new(
            "retry_timeout_ms",
            "no retry starts later than this after the first attempt (default 15000)",
        ),
        UrlOption::new(
            "concurrency",
            "objects read or written at once by listings, queries and batches (default 16)",
        ),
    ];

    /// Options for a store that lives only in this process
    /// (`object_store::memory::InMemory`): not persistent, not shared.
    pub fn in_process() -> Self {
        Self {
            persistent: false,
            shared: false,
            ..Self::default()
        }
    }

    /// These options with the ones `url` gives set over them. The client's
    /// options (`endpoint`, `region`, the credentials, …) are not fields:
    /// they configure the client when a store opens from the URL.
    ///
    /// ```
    /// use fleche_core::StoreUrl;
    /// let url = StoreUrl::parse("s3://bucket/prefix?max_retries=1&region=eu-west-1").unwrap();
    /// let options = fleche_s3::S3Options::default().with_url(&url).unwrap();
    /// assert_eq!(options.max_retries, 1);
    /// ```
    pub fn with_url(mut self, url: &StoreUrl) -> Result<Self, UrlError> {
        if let Some(timeout) = url.millis("timeout_ms")? {
            self.timeout = timeout;
        }
        if let Some(timeout) = url.millis("connect_timeout_ms")? {
            self.connect_timeout = timeout;
        }
        if let Some(timeout) = url.millis("retry_timeout_ms")? {
            self.retry_timeout = timeout;
        }
        if let Some(n) = url.number("max_retries")? {
            self.max_retries = n;
        }
        let concurrency = url.typed("concurrency", "a positive number", |v| {
            v.parse::<usize>().ok().filter(|n| *n > 0)
        })?;
        if let Some(n) = concurrency {
            self.concurrency = n;
        }
        Ok(self)
    }

    /// Sets [`S3Options::timeout`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets [`S3Options::connect_timeout`].
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets [`S3Options::max_retries`].
    pub fn max_retries(mut self, n: usize) -> Self {
        self.max_retries = n;
        self
    }

    /// Sets [`S3Options::retry_timeout`].
    pub fn retry_timeout(mut self, timeout: Duration) -> Self {
        self.retry_timeout = timeout;
        self
    }

    /// Sets [`S3Options::concurrency`] (at least 1).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(url: &str) -> Result<S3Options, String> {
        let url = StoreUrl::parse(url).map_err(|e| e.to_string())?;
        S3Options::default()
            .with_url(&url)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn url_options_are_read() {
        let o = options(
            "s3://b/p?timeout_ms=500&connect_timeout_ms=50&max_retries=1&retry_timeout_ms=900&concurrency=4&region=r",
        )
        .unwrap();
        assert_eq!(o.timeout, Duration::from_millis(500));
        assert_eq!(o.connect_timeout, Duration::from_millis(50));
        assert_eq!(o.max_retries, 1);
        assert_eq!(o.retry_timeout, Duration::from_millis(900));
        assert_eq!(o.concurrency, 4);
        assert!(o.persistent && o.shared);
    }

    #[test]
    fn bad_values_say_what_they_take() {
        let e = options("s3://b?timeout_ms=soon").unwrap_err();
        assert!(e.contains("takes milliseconds"), "{e}");
        let e = options("s3://b?max_retries=lots").unwrap_err();
        assert!(e.contains("takes a number"), "{e}");
        let e = options("s3://b?concurrency=0").unwrap_err();
        assert!(e.contains("positive number"), "{e}");
    }
}
