//! The value store half: one string per value.

use std::collections::HashSet;

use fleche_core::{Bytes, Digest, StoreError, ValueStore, async_trait};
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use redis::aio::ConnectionManager;

use crate::RedisStore;
use crate::error::store_error;

impl RedisStore {
    /// `SET key bytes [PX ttl]` as a command.
    fn set_value(&self, key: Digest, bytes: &[u8]) -> redis::Cmd {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.inner.keys.value(key)).arg(bytes);
        if self.inner.ttl_ms > 0 {
            cmd.arg("PX").arg(self.inner.ttl_ms);
        }
        cmd
    }
}

/// The keys matching `pattern`, page by page with `SCAN`, each once.
pub(crate) fn scan(
    conn: ConnectionManager,
    pattern: String,
) -> BoxStream<'static, Result<Vec<u8>, StoreError>> {
    struct State {
        conn: ConnectionManager,
        pattern: String,
        cursor: Option<u64>,
        seen: HashSet<Vec<u8>>,
    }
    let start = State {
        conn,
        pattern,
        cursor: Some(0),
        seen: HashSet::new(),
    };
    let pages = stream::try_unfold(start, |mut state| async move {
        let Some(cursor) = state.cursor else {
            return Ok(None);
        };
        let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&state.pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut state.conn)
            .await
            .map_err(|e| store_error("list the values", None, e))?;
        state.cursor = (next != 0).then_some(next);
        // SCAN may return a key twice (while Redis resizes its table).
        let fresh: Vec<Vec<u8>> = keys
            .into_iter()
            .filter(|k| state.seen.insert(k.clone()))
            .collect();
        Ok(Some((stream::iter(fresh.into_iter().map(Ok)), state)))
    });
    pages.try_flatten().boxed()
}

#[async_trait]
impl ValueStore for RedisStore {
    async fn put(&self, key: Digest, bytes: Bytes) -> Result<(), StoreError> {
        // Unconditional: a damaged value is repaired, and the TTL restarts.
        let mut conn = self.inner.conn.clone();
        self.set_value(key, &bytes)
            .query_async::<()>(&mut conn)
            .await
            .map_err(|e| store_error("write the value", Some(key), e))
    }

    async fn get(&self, key: Digest) -> Result<Option<Bytes>, StoreError> {
        let mut conn = self.inner.conn.clone();
        let got: Option<Vec<u8>> = redis::cmd("GET")
            .arg(self.inner.keys.value(key))
            .query_async(&mut conn)
            .await
            .map_err(|e| store_error("read the value", Some(key), e))?;
        Ok(got.map(Bytes::from))
    }

    async fn contains(&self, key: Digest) -> Result<bool, StoreError> {
        let mut conn = self.inner.conn.clone();
        let n: u64 = redis::cmd("EXISTS")
            .arg(self.inner.keys.value(key))
            .query_async(&mut conn)
            .await
            .map_err(|e| store_error("check for the value", Some(key), e))?;
        Ok(n > 0)
    }

    async fn delete(&self, key: Digest) -> Result<bool, StoreError> {
        let mut conn = self.inner.conn.clone();
        let n: u64 = redis::cmd("DEL")
            .arg(self.inner.keys.value(key))
            .query_async(&mut conn)
            .await
            .map_err(|e| store_error("delete the value", Some(key), e))?;
        Ok(n > 0)
    }

    fn list(&self, prefix: &str) -> BoxStream<'_, Result<Digest, StoreError>> {
        // Only hex digits can start a digest; anything else matches nothing
        // (and could not be put in a SCAN pattern safely).
        if prefix.len() > 64 || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            return stream::empty().boxed();
        }
        let value_prefix = self.inner.value_prefix.clone();
        let pattern = format!("{value_prefix}{}*", prefix.to_ascii_lowercase());
        scan(self.inner.conn.clone(), pattern)
            .try_filter_map(move |name| {
                let digest = name
                    .strip_prefix(value_prefix.as_bytes())
                    .and_then(|hex| std::str::from_utf8(hex).ok())
                    .and_then(|hex| hex.parse::<Digest>().ok());
                if digest.is_none() {
                    tracing::warn!(
                        key = %String::from_utf8_lossy(&name),
                        "fleche-redis: a key in the value space is not a digest; skipped"
                    );
                }
                futures::future::ready(Ok(digest))
            })
            .boxed()
    }

    async fn put_many(&self, items: Vec<(Digest, Bytes)>) -> Result<(), StoreError> {
        if items.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for (key, bytes) in &items {
            pipe.add_command(self.set_value(*key, bytes)).ignore();
        }
        let mut conn = self.inner.conn.clone();
        pipe.query_async::<()>(&mut conn)
            .await
            .map_err(|e| store_error("write the values", Some(items[0].0), e))
    }

    async fn get_many(&self, keys: &[Digest]) -> Result<Vec<Option<Bytes>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let names: Vec<String> = keys.iter().map(|k| self.inner.keys.value(*k)).collect();
        let mut conn = self.inner.conn.clone();
        // All keys share the namespace's hash tag, so MGET is one slot.
        let got: Vec<Option<Vec<u8>>> = redis::cmd("MGET")
            .arg(&names)
            .query_async(&mut conn)
            .await
            .map_err(|e| store_error("read the values", Some(keys[0]), e))?;
        Ok(got.into_iter().map(|v| v.map(Bytes::from)).collect())
    }
}
