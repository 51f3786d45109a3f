//! Claims as objects changed only by conditional writes.
//!
//! The claim of a key is the object `claims/ab/<hex>`, a JSON [`Body`].
//! It is created with `If-None-Match: *` and changed only with
//! `If-Match: <ETag of what was read>`, so every change is decided by the
//! server against exactly the claim the claimer looked at: of concurrent
//! changes one succeeds and the others see a failed precondition, read
//! again and decide again. Every body carries a fresh nonce, so no two
//! writes share an ETag (S3's ETag is the MD5 of the bytes) and a
//! claimer can recognise its own write when a lost response made the
//! client retry it.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fleche_core::{Claim, Digest, Owner, StoreError};
use object_store::{ObjectMeta, PutMode, PutOptions, PutPayload, UpdateVersion};
use serde::{Deserialize, Serialize};

use crate::S3Store;
use crate::error::store_error;

/// The claims this handle wrote last, by key and owner token, with the
/// version the server gave each write. If the claim object is still at
/// that version, nobody changed it since: renew and release update it on
/// that version directly, one request instead of a read and a write. If it
/// moved on, the condition fails and they read it as usual.
#[derive(Default)]
pub(crate) struct Written(Mutex<HashMap<(Digest, String), UpdateVersion>>);

impl Written {
    fn remember(&self, key: Digest, owner: &Owner, version: Option<UpdateVersion>) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match version {
            Some(v) if v.e_tag.is_some() => {
                map.insert((key, owner.as_str().to_owned()), v);
            }
            _ => {
                map.remove(&(key, owner.as_str().to_owned()));
            }
        }
    }

    fn take(&self, key: Digest, owner: &Owner) -> Option<UpdateVersion> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&(key, owner.as_str().to_owned()))
    }
}

/// How often a claim operation reads and tries again after losing a race
/// before it reports the claim as held.
const ATTEMPTS: usize = 100;

/// A claim object.
#[derive(Debug, Serialize, Deserialize)]
struct Body {
    /// The holder's token.
    owner: String,
    /// The end of the lease, in milliseconds since the Unix epoch, on the
    /// holder's clock.
    expires_at_ms: u64,
    /// The lease's length, for the bound by the server's clock.
    ttl_ms: u64,
    /// Unique per write.
    nonce: String,
    /// Given up by its owner: free for the next claimer.
    #[serde(default)]
    released: bool,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A token that no other write, in any process, uses.
pub(crate) fn nonce() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let random = RandomState::new().hash_one((n, std::process::id(), SystemTime::now()));
    format!("{random:016x}{n:x}")
}

impl Body {
    fn held(owner: &Owner, ttl: Duration) -> Self {
        Self {
            owner: owner.as_str().to_owned(),
            expires_at_ms: now_ms().saturating_add(millis(ttl)),
            ttl_ms: millis(ttl),
            nonce: nonce(),
            released: false,
        }
    }

    fn released(owner: &Owner) -> Self {
        Self {
            owner: owner.as_str().to_owned(),
            expires_at_ms: now_ms(),
            ttl_ms: 0,
            nonce: nonce(),
            released: true,
        }
    }

    /// When the lease ends: at the holder's `expires_at_ms`, and at the
    /// latest one second (`Last-Modified` is in whole seconds) plus the TTL
    /// after the server wrote the object.
    fn expires_ms(&self, meta: &ObjectMeta) -> u64 {
        let written = u64::try_from(meta.last_modified.timestamp_millis()).unwrap_or(0);
        self.expires_at_ms
            .min(written.saturating_add(1000).saturating_add(self.ttl_ms))
    }
}

/// A claim as read: its body (`None` if the object does not decode) and
/// the object's metadata, whose ETag the next change is conditional on.
struct Current {
    body: Option<Body>,
    meta: ObjectMeta,
}

impl Current {
    fn version(&self) -> UpdateVersion {
        UpdateVersion {
            e_tag: self.meta.e_tag.clone(),
            version: self.meta.version.clone(),
        }
    }

    /// Whether this is the write whose nonce is `mine`.
    fn is(&self, mine: Option<&str>) -> bool {
        matches!((&self.body, mine), (Some(b), Some(n)) if b.nonce == n)
    }
}

async fn read(store: &S3Store, key: Digest) -> Result<Option<Current>, StoreError> {
    let Some((bytes, meta)) = store
        .read(&store.layout().claim(key), key, "read the claim")
        .await?
    else {
        return Ok(None);
    };
    let body = serde_json::from_slice(&bytes).ok();
    if body.is_none() {
        tracing::warn!(%key, "a claim object does not decode; treating it as free");
    }
    Ok(Some(Current { body, meta }))
}

/// Writes `body` as the claim of `key` if `mode`'s condition holds, and
/// returns the new object's version; `None` if another write got there
/// first.
async fn write(
    store: &S3Store,
    key: Digest,
    body: &Body,
    mode: PutMode,
) -> Result<Option<UpdateVersion>, StoreError> {
    use object_store::Error as E;
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let path = store.layout().claim(key);
    let update = matches!(mode, PutMode::Update(_));
    let put = store
        .store()
        .put_opts(&path, PutPayload::from(bytes), PutOptions::from(mode));
    match put.await {
        Ok(r) => Ok(Some(UpdateVersion {
            e_tag: r.e_tag,
            version: r.version,
        })),
        Err(E::AlreadyExists { .. } | E::Precondition { .. }) => Ok(None),
        // The claim that was read is gone; a create's NotFound is the
        // bucket's, an error.
        Err(E::NotFound { .. }) if update => Ok(None),
        Err(e) => Err(store_error("write the claim", Some(key), e)),
    }
}

pub(crate) async fn claim(
    store: &S3Store,
    key: Digest,
    owner: &Owner,
    ttl: Duration,
) -> Result<Claim, StoreError> {
    // The nonce of our last write whose outcome we did not see, and what
    // it would mean.
    let mut pending: Option<(String, bool)> = None;
    for _ in 0..ATTEMPTS {
        let mine = Body::held(owner, ttl);
        if pending.is_none() {
            if let Some(v) = write(store, key, &mine, PutMode::Create).await? {
                store.written().remember(key, owner, Some(v));
                return Ok(Claim::Acquired { took_over: false });
            }
            pending = Some((mine.nonce.clone(), false));
        }
        let Some(current) = read(store, key).await? else {
            pending = None; // gone meanwhile (destroyed): create again
            continue;
        };
        if let Some((nonce, took_over)) = &pending
            && current.is(Some(nonce))
        {
            store
                .written()
                .remember(key, owner, Some(current.version()));
            return Ok(Claim::Acquired {
                took_over: *took_over,
            });
        }
        let now = now_ms();
        let took_over = match &current.body {
            None => true,
            Some(b) if b.released || b.owner == owner.as_str() => false,
            Some(b) if now >= b.expires_ms(&current.meta) => true,
            Some(b) => {
                return Ok(Claim::Held {
                    holder: Owner::from_string(b.owner.clone()),
                    remaining: Duration::from_millis(b.expires_ms(&current.meta) - now),
                });
            }
        };
        let mine = Body::held(owner, ttl);
        if let Some(v) = write(store, key, &mine, PutMode::Update(current.version())).await? {
            store.written().remember(key, owner, Some(v));
            return Ok(Claim::Acquired { took_over });
        }
        pending = Some((mine.nonce, took_over));
    }
    // Changed under us on every attempt: report it as held, briefly, and
    // let the caller's backoff try again.
    Ok(Claim::Held {
        holder: Owner::from_string("(changing too fast)"),
        remaining: Duration::ZERO,
    })
}

/// Replaces `owner`'s claim on `key` with `next()`; `false` if `owner`
/// does not hold it.
async fn change(
    store: &S3Store,
    key: Digest,
    owner: &Owner,
    next: impl Fn() -> Body,
) -> Result<bool, StoreError> {
    let keep = |v: Option<UpdateVersion>, body: &Body| {
        // A released claim is not ours to change again.
        store
            .written()
            .remember(key, owner, v.filter(|_| !body.released));
    };
    let mut pending: Option<String> = None;
    // Our last write, if it is still there: one conditional write.
    if let Some(last) = store.written().take(key, owner) {
        let mine = next();
        match write(store, key, &mine, PutMode::Update(last)).await {
            Ok(Some(v)) => {
                keep(Some(v), &mine);
                return Ok(true);
            }
            // Changed since (or the answer was lost): read and decide.
            Ok(None) => pending = Some(mine.nonce),
            Err(e) => return Err(e),
        }
    }
    for _ in 0..ATTEMPTS {
        let Some(current) = read(store, key).await? else {
            return Ok(false);
        };
        if current.is(pending.as_deref()) {
            if let Some(body) = &current.body {
                keep(Some(current.version()), body);
            }
            return Ok(true);
        }
        match &current.body {
            Some(b) if !b.released && b.owner == owner.as_str() => {}
            _ => return Ok(false),
        }
        let mine = next();
        if let Some(v) = write(store, key, &mine, PutMode::Update(current.version())).await? {
            keep(Some(v), &mine);
            return Ok(true);
        }
        pending = Some(mine.nonce);
    }
    Ok(false)
}

pub(crate) async fn renew(
    store: &S3Store,
    key: Digest,
    owner: &Owner,
    ttl: Duration,
) -> Result<bool, StoreError> {
    change(store, key, owner, || Body::held(owner, ttl)).await
}

pub(crate) async fn release(
    store: &S3Store,
    key: Digest,
    owner: &Owner,
) -> Result<bool, StoreError> {
    change(store, key, owner, || Body::released(owner)).await
}
