//! Claims: leases on the server's clock, owner checked by scripts.

use std::time::Duration;

use fleche_core::{Claim, Digest, Owner, StoreError};
use redis::Value;

use crate::error::{corrupt, store_error};
use crate::{RedisStore, scripts};

/// How long the last holder of an unreleased claim is remembered past its
/// lease, so that whoever takes it over can say so.
const HOLDER_MEMORY: Duration = Duration::from_secs(3600);

/// A duration in whole milliseconds, at least 1 (`PX 0` is an error).
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

pub(crate) async fn claim(
    store: &RedisStore,
    key: Digest,
    owner: &Owner,
    ttl: Duration,
) -> Result<Claim, StoreError> {
    let keys = &store.inner.keys;
    let mut invocation = scripts::CLAIM.key(keys.lease(key));
    invocation
        .key(keys.holder(key))
        .arg(owner.as_str())
        .arg(millis(ttl))
        .arg(millis(ttl + HOLDER_MEMORY));
    let mut conn = store.inner.conn.clone();
    let reply: Vec<Value> = invocation
        .invoke_async(&mut conn)
        .await
        .map_err(|e| store_error("claim the key", Some(key), e))?;
    let int = |v: Option<&Value>| match v {
        Some(Value::Int(n)) => Some(*n),
        _ => None,
    };
    match (int(reply.first()), reply.get(1)) {
        (Some(1), took_over) => Ok(Claim::Acquired {
            took_over: int(took_over) == Some(1),
        }),
        (Some(0), Some(Value::BulkString(holder))) => Ok(Claim::Held {
            holder: Owner::from_string(String::from_utf8_lossy(holder).into_owned()),
            remaining: Duration::from_millis(
                u64::try_from(int(reply.get(2)).unwrap_or(0)).unwrap_or(0),
            ),
        }),
        _ => Err(corrupt(key, format!("unexpected claim reply {reply:?}"))),
    }
}

pub(crate) async fn renew(
    store: &RedisStore,
    key: Digest,
    owner: &Owner,
    ttl: Duration,
) -> Result<bool, StoreError> {
    let keys = &store.inner.keys;
    let mut invocation = scripts::RENEW.key(keys.lease(key));
    invocation
        .key(keys.holder(key))
        .arg(owner.as_str())
        .arg(millis(ttl))
        .arg(millis(ttl + HOLDER_MEMORY));
    let mut conn = store.inner.conn.clone();
    let n: u64 = invocation
        .invoke_async(&mut conn)
        .await
        .map_err(|e| store_error("renew the claim", Some(key), e))?;
    Ok(n == 1)
}

pub(crate) async fn release(
    store: &RedisStore,
    key: Digest,
    owner: &Owner,
) -> Result<bool, StoreError> {
    let keys = &store.inner.keys;
    let mut invocation = scripts::RELEASE.key(keys.lease(key));
    invocation.key(keys.holder(key)).arg(owner.as_str());
    let mut conn = store.inner.conn.clone();
    let n: u64 = invocation
        .invoke_async(&mut conn)
        .await
        .map_err(|e| store_error("release the claim", Some(key), e))?;
    Ok(n == 1)
}
