//! The store: one multiplexed connection, the namespace's keys, and the
//! options it was opened with.

use std::fmt;
use std::sync::Arc;

use fleche_core::bridge::on_fleche_runtime;
use fleche_core::driver::{OpenError, StoreUrl};
use fleche_core::{Digest, StoreError};
use redis::aio::ConnectionManager;

use crate::error::store_error;
use crate::keys::Keys;
use crate::options::check_namespace;
use crate::{RedisOptions, connect};

/// A value store and call store in one Redis namespace. Cheap to clone:
/// clones share one multiplexed connection, which reconnects by itself.
///
/// ```no_run
/// # fleche_core::bridge::block_on(async {
/// use std::time::Duration;
/// use fleche_redis::{RedisOptions, RedisStore};
/// let store = RedisStore::open_with(
///     "redis://:secret@cache.internal:6379/0",
///     RedisOptions::default().namespace("team").ttl(Some(Duration::from_secs(7 * 86400))),
/// )
/// .await
/// .unwrap();
/// assert!(!format!("{store:?}").contains("secret"));
/// # });
/// ```
#[derive(Clone)]
pub struct RedisStore {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) conn: ConnectionManager,
    pub(crate) keys: Keys,
    /// The URL without its password.
    url: String,
    pub(crate) options: RedisOptions,
    /// `{NS}:v:` and `{NS}:f:`, passed to scripts.
    pub(crate) value_prefix: String,
    pub(crate) function_prefix: String,
    /// The TTL in milliseconds, 0 for none, as scripts take it.
    pub(crate) ttl_ms: u64,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("url", &self.inner.url)
            .field("namespace", &self.inner.options.namespace)
            .field("ttl", &self.inner.options.ttl)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// The backend name in errors.
    pub const BACKEND: &'static str = "redis";

    /// Connects to `redis://[user:password@]host[:port][/db]` (or
    /// `rediss://` for TLS, with the `tls` feature; `#insecure` skips the
    /// certificate check). Options of [`RedisOptions::URL_OPTIONS`] may be
    /// given in the query string; any other option is an error (the
    /// cache's own options are for [`fleche::open`](https://docs.rs/fleche),
    /// through [`RedisDriver`](crate::RedisDriver)).
    ///
    /// A server that refuses the connection is an
    /// [`ErrorKind::Unavailable`](fleche_core::ErrorKind::Unavailable)
    /// error at once, one that does not answer after about
    /// [`RedisOptions::connect_timeout`].
    pub async fn open(url: &str) -> Result<Self, OpenError> {
        Self::open_with(url, RedisOptions::default()).await
    }

    /// Like [`RedisStore::open`], starting from `options` (the URL's
    /// options override them).
    pub async fn open_with(url: &str, options: RedisOptions) -> Result<Self, OpenError> {
        // The connection's tasks and sockets belong to fleche's runtime,
        // which outlives the caller's.
        on_fleche_runtime(async {
            let url = StoreUrl::parse(url)?;
            url.check_options(RedisOptions::URL_OPTIONS)?;
            let options = options.with_url(&url)?;
            Self::open_url(&url, options).await
        })
        .await
    }

    /// Opens the store `url` names, with `options` (the URL's applied
    /// already): what [`RedisStore::open_with`] and the driver share.
    pub(crate) async fn open_url(
        url: &StoreUrl,
        mut options: RedisOptions,
    ) -> Result<Self, OpenError> {
        let address = connect::address(url)?;
        check_namespace(&options.namespace)?;
        let conn = connect::connect(address, &options).await?;
        // A zero TTL would expire everything at once: it means none.
        options.ttl = options.ttl.filter(|t| !t.is_zero());
        let keys = Keys::new(&options.namespace);
        let shown = url.redacted();
        tracing::debug!(url = %shown, namespace = %options.namespace, "fleche-redis: connected");
        Ok(Self {
            inner: Arc::new(Inner {
                conn,
                value_prefix: keys.value_prefix(),
                function_prefix: keys.function_prefix(),
                keys,
                url: shown,
                ttl_ms: options.ttl.map_or(0, |t| {
                    u64::try_from(t.as_millis()).unwrap_or(u64::MAX).max(1)
                }),
                options,
            }),
        })
    }

    /// The URL, without its password.
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// The namespace that prefixes every key.
    pub fn namespace(&self) -> &str {
        &self.inner.options.namespace
    }

    /// The options in force.
    pub fn options(&self) -> &RedisOptions {
        &self.inner.options
    }

    /// The store's connection, for commands of your own (it is a cheap
    /// handle; clone it to use it).
    pub fn connection(&self) -> &ConnectionManager {
        &self.inner.conn
    }

    /// The key of the value with digest `key` (`{NS}:v:<hex>`), for tools
    /// that inspect the store with commands of their own.
    pub fn value_key(&self, key: Digest) -> String {
        self.inner.keys.value(key)
    }

    /// The key of the call record of `key` (`{NS}:c:<hex>`).
    pub fn record_key(&self, key: Digest) -> String {
        self.inner.keys.record(key)
    }

    /// Removes everything the store holds: every key of its namespace
    /// (values, records, indexes, claims), found with `SCAN` and removed
    /// with `UNLINK`. Other handles on the namespace see an empty store
    /// afterwards, and can go on using it.
    pub async fn destroy(&self) -> Result<(), StoreError> {
        let pattern = self.inner.keys.everything();
        let mut conn = self.inner.conn.clone();
        let mut cursor = 0u64;
        let fail = |e| store_error("delete the namespace's keys", None, e);
        loop {
            let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await
                .map_err(fail)?;
            if !keys.is_empty() {
                redis::cmd("UNLINK")
                    .arg(&keys)
                    .query_async::<()>(&mut conn)
                    .await
                    .map_err(fail)?;
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }
}
