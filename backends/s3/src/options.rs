//! Options of an S3 store, and the URL options that set them.

use std::time::Duration;

/// How an S3 store talks to its server, and what it promises. Every option
/// but the two capability flags can also be given in the URL's query
/// string (`?timeout_ms=5000&max_retries=2`).
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
    /// The URL options this crate reads for itself.
    pub const URL_KEYS: &'static [&'static str] = &[
        "timeout_ms",
        "connect_timeout_ms",
        "max_retries",
        "retry_timeout_ms",
        "concurrency",
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

    /// Sets the option named by a URL key; an error says what the key takes.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let millis = || {
            value
                .parse()
                .map(Duration::from_millis)
                .map_err(|_| format!("option `{key}` takes milliseconds, not `{value}`"))
        };
        match key {
            "timeout_ms" => self.timeout = millis()?,
            "connect_timeout_ms" => self.connect_timeout = millis()?,
            "retry_timeout_ms" => self.retry_timeout = millis()?,
            "max_retries" => {
                self.max_retries = value
                    .parse()
                    .map_err(|_| format!("option `{key}` takes a number, not `{value}`"))?
            }
            "concurrency" => {
                self.concurrency = value.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                    format!("option `{key}` takes a positive number, not `{value}`")
                })?
            }
            _ => return Err(format!("unknown option `{key}`")),
        }
        Ok(())
    }
}
