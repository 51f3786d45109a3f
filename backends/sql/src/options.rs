//! Options of a SQL store, and the URL options that set them.

use std::time::Duration;

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

impl SqlOptions {
    /// The URL options this crate reads (the driver reads its own, such as
    /// `sslmode`).
    pub const URL_KEYS: &'static [&'static str] = &[
        "max_connections",
        "acquire_timeout_ms",
        "busy_timeout_ms",
        "schema",
    ];

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

    /// Sets the option named by a URL key; an error says what the key takes.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let millis = || {
            value
                .parse()
                .map(Duration::from_millis)
                .map_err(|_| format!("option `{key}` takes milliseconds, not `{value}`"))
        };
        match key {
            "max_connections" => {
                self.max_connections = value.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                    format!("option `{key}` takes a positive number, not `{value}`")
                })?
            }
            "acquire_timeout_ms" => self.acquire_timeout = millis()?,
            "busy_timeout_ms" => self.busy_timeout = millis()?,
            "schema" => {
                check_schema_name(value)?;
                self.schema = value.to_owned();
            }
            _ => return Err(format!("unknown option `{key}`")),
        }
        Ok(())
    }
}

/// A schema name is an SQL identifier we put into statements, so it is
/// restricted to letters, digits and underscores.
pub(crate) fn check_schema_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "schema `{name}` is not a plain identifier (lowercase letters, digits and _, at most 63, not starting with a digit)"
        ))
    }
}

/// Splits a URL's query options into this crate's (applied to `options`)
/// and the driver's, which must be among `driver_keys`. Returns the URL
/// with only the driver's options left.
pub(crate) fn split_url(
    url: &str,
    driver_keys: &[&str],
    options: &mut SqlOptions,
) -> Result<String, String> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok(url.to_owned());
    };
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if SqlOptions::URL_KEYS.contains(&key) {
            let value = percent_encoding::percent_decode_str(value).decode_utf8_lossy();
            options.set(key, &value)?;
        } else if driver_keys.contains(&key) {
            kept.push(pair);
        } else {
            return Err(format!(
                "unknown option `{key}`; this store takes {}, {}",
                SqlOptions::URL_KEYS.join(", "),
                driver_keys.join(", ")
            ));
        }
    }
    Ok(if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_options_are_split_from_driver_options() {
        let mut options = SqlOptions::default();
        let url = split_url(
            "postgres://u@h/db?schema=s1&sslmode=disable&acquire_timeout_ms=250",
            &["sslmode"],
            &mut options,
        )
        .unwrap();
        assert_eq!(url, "postgres://u@h/db?sslmode=disable");
        assert_eq!(options.schema, "s1");
        assert_eq!(options.acquire_timeout, Duration::from_millis(250));
    }

    #[test]
    fn bad_options_say_what_they_take() {
        let mut options = SqlOptions::default();
        let err = split_url("sqlite:///x?nosuch=1", &["mode"], &mut options).unwrap_err();
        assert!(err.contains("unknown option `nosuch`") && err.contains("busy_timeout_ms"));
        let err = split_url("sqlite:///x?busy_timeout_ms=soon", &[], &mut options).unwrap_err();
        assert!(err.contains("takes milliseconds"), "{err}");
        let err = split_url("postgres://h/d?schema=a;drop", &[], &mut options).unwrap_err();
        assert!(err.contains("not a plain identifier"), "{err}");
        assert!(options.set("max_connections", "0").is_err());
    }
}
