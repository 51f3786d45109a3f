//! Options of a SQL store, and the URL options that set them.

use std::time::Duration;

use fleche_core::driver::{StoreUrl, UrlError, UrlOption};

/// How a SQL store connects. Every option can also be given in the URL's
/// query string (`?max_connections=4&acquire_timeout_ms=500`).
///
/// ```
/// use std::time::Duration;
/// let options = fleche_sql::SqlOptions::default()
///     .schema("team_cache")
///     .acquire_timeout(Duration::from_millis(500));
/// assert_eq!(options.schema, "team_cache");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SqlOptions {
    /// The most connections the pool opens.
    pub max_connections: u32,
    /// The longest wait for a connection: for a free one from the pool, or
    /// for a new one while the server does not answer. A cached call whose
    /// store is down waits this long before it runs uncached.
    pub acquire_timeout: Duration,
    /// SQLite: how long a writer waits for another process's write lock.
    pub busy_timeout: Duration,
    /// PostgreSQL: the schema that holds the tables, created if missing.
    /// Caches (and test runs) in different schemas never see each other.
    pub schema: String,
}

impl Default for SqlOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
            busy_timeout: Duration::from_secs(30),
            schema: DEFAULT_SCHEMA.to_owned(),
        }
    }
}

/// The PostgreSQL schema used when none is given.
pub const DEFAULT_SCHEMA: &str = "fleche";

/// `max_connections`: both databases.
pub(crate) const MAX_CONNECTIONS: UrlOption = UrlOption::new(
    "max_connections",
    "the most connections the pool opens (default 10)",
);
/// `acquire_timeout_ms`: both databases.
pub(crate) const ACQUIRE_TIMEOUT: UrlOption = UrlOption::new(
    "acquire_timeout_ms",
    "the longest wait for a connection, or for the server to answer (default 5000)",
);
/// `busy_timeout_ms`: SQLite.
pub(crate) const BUSY_TIMEOUT: UrlOption = UrlOption::new(
    "busy_timeout_ms",
    "SQLite: how long a writer waits for another's write lock (default 30000)",
);
/// `schema`: PostgreSQL.
pub(crate) const SCHEMA: UrlOption = UrlOption::new(
    "schema",
    "PostgreSQL: the schema that holds the tables, created if missing (default fleche)",
);

impl SqlOptions {
    /// The URL options that set these options. Each database takes the
    /// ones that apply to it (`busy_timeout_ms` is SQLite's, `schema`
    /// PostgreSQL's) and options of its own: see
    /// [`SqliteStore::URL_OPTIONS`](crate::SqliteStore) and
    /// [`PgStore::URL_OPTIONS`](crate::PgStore).
    pub const URL_OPTIONS: &'static [UrlOption] =
        &[MAX_CONNECTIONS, ACQUIRE_TIMEOUT, BUSY_TIMEOUT, SCHEMA];

    /// These options with the ones `url` gives set over them.
    ///
    /// ```
    /// use fleche_core::StoreUrl;
    /// let url = StoreUrl::parse("postgres://db/cache?schema=team&max_connections=4").unwrap();
    /// let options = fleche_sql::SqlOptions::default().with_url(&url).unwrap();
    /// assert_eq!((options.schema.as_str(), options.max_connections), ("team", 4));
    /// ```
    pub fn with_url(mut self, url: &StoreUrl) -> Result<Self, UrlError> {
        let positive = |n: &str| n.parse().ok().filter(|n| *n > 0);
        if let Some(n) = url.typed(MAX_CONNECTIONS.name, "a positive number", positive)? {
            self.max_connections = n;
        }
        if let Some(timeout) = url.millis(ACQUIRE_TIMEOUT.name)? {
            self.acquire_timeout = timeout;
        }
        if let Some(timeout) = url.millis(BUSY_TIMEOUT.name)? {
            self.busy_timeout = timeout;
        }
        if let Some(schema) = url.typed(SCHEMA.name, PLAIN_IDENTIFIER, plain_identifier)? {
            self.schema = schema.to_owned();
        }
        Ok(self)
    }

    /// Sets [`SqlOptions::max_connections`].
    pub fn max_connections(mut self, n: u32) -> Self {
        self.max_connections = n;
        self
    }

    /// Sets [`SqlOptions::acquire_timeout`].
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// Sets [`SqlOptions::busy_timeout`].
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// Sets [`SqlOptions::schema`].
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }
}

/// What a schema name must be.
pub(crate) const PLAIN_IDENTIFIER: &str =
    "a plain identifier (lowercase letters, digits and _, at most 63, not starting with a digit)";

/// `name`, if it is a plain identifier. A schema name is an SQL identifier
/// that we put into statements, so it is restricted to letters, digits and
/// underscores.
pub(crate) fn plain_identifier(name: &str) -> Option<&str> {
    let plain = !name.is_empty()
        && name.len() <= 63
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    plain.then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(url: &str) -> Result<SqlOptions, UrlError> {
        SqlOptions::default().with_url(&StoreUrl::parse(url).unwrap())
    }

    #[test]
    fn url_options_set_the_options() {
        let o =
            options("postgres://u@h/db?schema=s1&sslmode=disable&acquire_timeout_ms=250").unwrap();
        assert_eq!(o.schema, "s1");
        assert_eq!(o.acquire_timeout, Duration::from_millis(250));
        assert_eq!(o.max_connections, 10, "the default stays");
    }

    #[test]
    fn bad_options_say_what_they_take() {
        let err = options("sqlite:///x?busy_timeout_ms=soon").unwrap_err();
        assert!(err.to_string().contains("takes milliseconds"), "{err}");
        let err = options("postgres://h/d?schema=a;drop").unwrap_err();
        assert!(err.to_string().contains("plain identifier"), "{err}");
        let err = options("postgres://h/d?max_connections=0").unwrap_err();
        assert!(err.to_string().contains("a positive number"), "{err}");
    }
}
