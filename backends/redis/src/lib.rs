//! # fleche-redis
//!
//! A [`ValueStore`](fleche_core::ValueStore) and
//! [`CallStore`](fleche_core::CallStore) on Redis (or any server that speaks
//! its protocol and runs Lua scripts, such as Valkey): the shared hot tier
//! of many workers on many machines.
//!
//! What [`RedisStore`] promises, beyond the traits' contract:
//!
//! - **A hit is one round trip**: one `EVALSHA` that returns the record and,
//!   when the result is not inline, the value's bytes with it.
//! - **A miss's writes are pipelined**: the value (when the result is too
//!   big to inline) and then the record, each in one command; many values
//!   in one pipeline with `put_many`.
//! - **Last writer wins, never half a record**: a record and its index
//!   entries change together in one script, which Redis runs atomically.
//! - **Queries** by function and time range run on sorted sets in Redis
//!   (page by page); arguments and metadata are then checked here.
//! - **Claims** are `SET NX PX` leases measured on the server's clock, with
//!   scripts that check the owner token before they renew or release, so a
//!   stale owner can do nothing.
//! - **Optional expiry** ([`RedisOptions::ttl`], URL `ttl_ms=`) of records
//!   and values.
//! - **Failures are typed**: a server that is down, restarting, loading or
//!   too slow (past [`RedisOptions::response_timeout`]) is
//!   [`ErrorKind::Unavailable`], and the
//!   connection comes back by itself when the server does. URLs, errors and
//!   `Debug` never show a password.
//!
//! ## Key layout
//!
//! Every key starts with the namespace in a hash tag, `{NS}:` (default
//! `{fleche}:`), so all keys of one cache fall in one Redis Cluster slot and
//! a script may touch any of them. (The price: one cache lives on one node
//! of a cluster; use several namespaces to spread several caches.) This
//! crate connects to one server, a standalone Redis or Valkey (or a cluster
//! behind a cluster-aware proxy); it does not follow `MOVED` redirections
//! itself.
//!
//! | key | type | holds |
//! |---|---|---|
//! | `{NS}:v:<hex>` | string | the bytes of the value whose digest is `<hex>` |
//! | `{NS}:c:<hex>` | hash | the call record of key `<hex>`: field `r` its CBOR ([`CallRecord::to_bytes`](fleche_core::CallRecord::to_bytes)), `f` its function, `v` its result's digest when the result is not inline |
//! | `{NS}:i` | sorted set | every record's key (hex), scored by `created_at` in µs |
//! | `{NS}:f:<function>` | sorted set | the keys of one function's records, scored likewise |
//! | `{NS}:l:<hex>` | string | the owner token of a live claim; it expires with the lease |
//! | `{NS}:h:<hex>` | string | the last owner that claimed `<hex>` and did not release, kept an hour past the lease, so a takeover can say so |
//!
//! ## Expiry
//!
//! With a TTL, every record and value expires that long after it was last
//! written (a record written again starts over, and so does the value it
//! points at). Queries skip index entries whose record has expired and
//! remove them as they go; an index itself expires with the newest record
//! in it. A record that outlives its value (written by a store without the
//! TTL, say) reads as a miss and is recomputed. Nothing needs collecting:
//! expired data is gone, and what is left is consistent. Without a TTL,
//! data stays until deleted, or until Redis evicts it under a `maxmemory`
//! policy — configure `noeviction` or a `volatile-*` policy if the cache
//! must not lose index entries. Claims always expire with their lease.
//!
//! ```no_run
//! # fleche_core::bridge::block_on(async {
//! use fleche_core::{CallStore, Digest};
//! let store = fleche_redis::RedisStore::connect("redis://127.0.0.1:6379/0?namespace=demo")
//!     .await
//!     .unwrap();
//! assert_eq!(CallStore::get(&store, Digest::of(b"nothing")).await.unwrap(), None);
//! # });
//! ```

#![forbid(unsafe_code)]

mod calls;
mod claims;
mod error;
mod keys;
mod options;
mod query;
mod scripts;
mod values;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use fleche_core::bridge::on_fleche_runtime;
use fleche_core::{ErrorKind, StoreError, redact_url};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

pub use options::{DEFAULT_NAMESPACE, RedisOptions};

use crate::error::store_error;
use crate::keys::Keys;

/// The backend name in errors.
pub const REDIS: &str = "redis";

/// A value store and call store in one Redis namespace. Cheap to clone:
/// clones share one multiplexed connection, which reconnects by itself.
///
/// ```no_run
/// # fleche_core::bridge::block_on(async {
/// use std::time::Duration;
/// use fleche_redis::{RedisOptions, RedisStore};
/// let store = RedisStore::connect_with(
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
    inner: Arc<Inner>,
}

struct Inner {
    conn: ConnectionManager,
    keys: Keys,
    /// The URL without its password.
    url: String,
    options: RedisOptions,
    /// `{NS}:v:` and `{NS}:f:`, passed to scripts.
    value_prefix: String,
    function_prefix: String,
    /// The TTL in milliseconds, 0 for none, as scripts take it.
    ttl_ms: u64,
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

/// A malformed URL or option.
fn bad_url(shown_url: &str, why: impl fmt::Display) -> StoreError {
    StoreError::new(
        ErrorKind::Backend,
        REDIS,
        format!("bad URL {shown_url}: {why}"),
    )
}

/// The text of `message` with `secret` (a password) blotted out, in case a
/// driver message ever quotes it.
fn without_secret(message: String, url: &str) -> String {
    match password_of(url) {
        Some(pw) if !pw.is_empty() => message.replace(pw, "***"),
        _ => message,
    }
}

/// The password in `scheme://user:password@host…`, if any.
fn password_of(url: &str) -> Option<&str> {
    let rest = &url[url.find("://")? + 3..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let userinfo = &authority[..authority.rfind('@')?];
    Some(userinfo.split_once(':')?.1)
}

impl RedisStore {
    /// Connects to `redis://[user:password@]host[:port][/db]` (or
    /// `rediss://` for TLS, with the `tls` feature). Options of
    /// [`RedisOptions`] may be given in the query string; any other option
    /// is an error.
    ///
    /// A server that cannot be reached is an [`ErrorKind::Unavailable`]
    /// error after about [`RedisOptions::connect_timeout`].
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, RedisOptions::default()).await
    }

    /// Like [`RedisStore::connect`], starting from `options` (the URL's
    /// options override them).
    pub async fn connect_with(url: &str, mut options: RedisOptions) -> Result<Self, StoreError> {
        let shown = redact_url(url);
        let base = options::split_url(url, &mut options).map_err(|why| bad_url(&shown, why))?;
        match base.split_once("://").map(|(scheme, _)| scheme) {
            Some("redis") => {}
            Some("rediss") if cfg!(feature = "tls") => {}
            Some("rediss") => {
                return Err(bad_url(
                    &shown,
                    "rediss:// (TLS) needs fleche-redis built with its `tls` feature \
                     (the `redis-tls` feature of fleche)",
                ));
            }
            _ => {
                return Err(bad_url(
                    &shown,
                    "expected redis://[user:password@]host[:port][/db] or rediss://…",
                ));
            }
        }
        let client = redis::Client::open(base.as_str())
            .map_err(|e| bad_url(&shown, without_secret(e.to_string(), url)))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.connect_timeout))
            .set_response_timeout(Some(options.response_timeout))
            .set_number_of_retries(options.reconnect_retries)
            .set_min_delay(Duration::from_millis(20))
            .set_max_delay(Duration::from_millis(250));
        let conn = on_fleche_runtime(ConnectionManager::new_with_config(client, config))
            .await
            .map_err(|e| {
                StoreError::new(
                    error::kind_of(&e),
                    REDIS,
                    without_secret(format!("cannot open {shown}: {e}"), url),
                )
                .with_source(e)
            })?;
        // A zero TTL would expire everything at once: it means none.
        options.ttl = options.ttl.filter(|t| !t.is_zero());
        let keys = Keys::new(&options.namespace);
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
    pub fn value_key(&self, key: fleche_core::Digest) -> String {
        self.inner.keys.value(key)
    }

    /// The key of the call record of `key` (`{NS}:c:<hex>`).
    pub fn record_key(&self, key: fleche_core::Digest) -> String {
        self.inner.keys.record(key)
    }

    /// Deletes every key of the store's namespace (values, records,
    /// indexes, claims) with `SCAN` and `UNLINK`; returns how many went.
    /// For tests that made a namespace of their own, and for starting over.
    pub async fn delete_namespace(&self) -> Result<u64, StoreError> {
        let pattern = self.inner.keys.everything();
        let mut conn = self.inner.conn.clone();
        on_fleche_runtime(async move {
            let mut cursor = 0u64;
            let mut deleted = 0u64;
            loop {
                let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(1000)
                    .query_async(&mut conn)
                    .await?;
                if !keys.is_empty() {
                    let n: u64 = redis::cmd("UNLINK")
                        .arg(&keys)
                        .query_async(&mut conn)
                        .await?;
                    deleted += n;
                }
                if next == 0 {
                    return Ok(deleted);
                }
                cursor = next;
            }
        })
        .await
        .map_err(|e| store_error(e, None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_found_and_blotted() {
        assert_eq!(password_of("redis://u:pw@h:1/0"), Some("pw"));
        assert_eq!(password_of("redis://:pw@h"), Some("pw"));
        assert_eq!(password_of("redis://h:6379/0"), None);
        assert_eq!(
            without_secret("no pw here, pw".into(), "redis://u:pw@h"),
            "no *** here, ***"
        );
    }
}
