//! The hit and miss paths: fetch and verify, single-flight, store.

use bytes::Bytes;

use super::Cache;
use super::claims::{ClaimGuard, ClaimStep};
use super::stats::{self, Outcome};
use crate::flight::{self, FlightGuard, Join, Landing};
use crate::metadata::{self, Runtime, ScopeMetadata};
use crate::record::{ArgDigest, RECORD_FORMAT};
use crate::{
    CallRecord, Digest, Error, ErrorKind, FnSpec, StoreError, Timestamp, ValueRef, notice,
};

/// What a caller does next.
pub(crate) enum Begin {
    /// The result is known: these verified, encoded bytes, and how they
    /// were found (a hit, shared or waited for).
    Hit(Bytes, Outcome),
    /// This caller computes, then calls [`Lead::finish`].
    Lead(Lead),
}

/// The right and duty to compute a key and store its result.
pub(crate) struct Lead {
    cache: Cache,
    key: Digest,
    flight: FlightGuard,
    claim: Option<ClaimGuard>,
    /// How this caller came to compute.
    pub(crate) how: stats::Lead,
}

/// The call a result belongs to, for its record.
pub(crate) struct CallInfo<'a> {
    pub(crate) spec: &'a FnSpec,
    pub(crate) args: &'a [(&'a str, Digest)],
    pub(crate) key: Digest,
}

impl Cache {
    /// The verified, encoded result under `key`: one call-store round trip
    /// when the result is inline. Damage is logged and reads as a miss.
    pub(crate) async fn fetch(&self, key: Digest) -> Result<Option<Bytes>, Error> {
        let result = self.inner.calls.get_result(key).await;
        let Some(result) = corrupt_is_missing(key, result)? else {
            return Ok(None);
        };
        self.resolve_value(key, &result).await
    }

    /// The bytes a [`ValueRef`] points at, verified against its digest.
    pub(crate) async fn resolve_value(
        &self,
        key: Digest,
        result: &ValueRef,
    ) -> Result<Option<Bytes>, Error> {
        let bytes = match &result.inline {
            Some(b) => b.clone(),
            None => match corrupt_is_missing(key, self.inner.values.get(result.digest).await)? {
                Some(b) => b,
                None => {
                    notice::warning!(%key, value = %result.digest, "fleche: call record points at a missing value; treating it as a miss");
                    return Ok(None);
                }
            },
        };
        if Digest::of(&bytes) != result.digest {
            notice::warning!(%key, value = %result.digest, "fleche: stored result does not match its digest; treating it as a miss");
            return Ok(None);
        }
        Ok(Some(bytes))
    }

    /// Finds the result of `key` or makes this caller the one to compute
    /// it. With `force`, stored results are ignored.
    pub(crate) async fn begin(&self, key: Digest, force: bool) -> Result<Begin, Error> {
        if !force && let Some(bytes) = self.fetch(key).await? {
            return Ok(Begin::Hit(bytes, Outcome::Hit));
        }
        loop {
            match self.inner.flights.join(key) {
                Join::Follower(slot) => match flight::wait(slot).await {
                    Landing::Value(bytes) => return Ok(Begin::Hit(bytes, Outcome::Shared)),
                    // The leader failed; look again, then lead or follow anew.
                    Landing::Failed => {
                        if !force && let Some(bytes) = self.fetch(key).await? {
                            return Ok(Begin::Hit(bytes, Outcome::Hit));
                        }
                    }
                },
                Join::Leader(flight) => return self.lead(key, force, flight).await,
            }
        }
    }

    async fn lead(&self, key: Digest, force: bool, flight: FlightGuard) -> Result<Begin, Error> {
        let (claim, how) = match self.acquire_claim(key, force).await? {
            ClaimStep::Hit(bytes) => {
                flight.land(bytes.clone());
                return Ok(Begin::Hit(bytes, Outcome::Waited));
            }
            ClaimStep::Go(claim, how) => (claim, how),
        };
        // Another caller may have stored the result between our first look
        // and joining the flight; look once more before computing.
        if !force && let Some(bytes) = self.fetch(key).await? {
            flight.land(bytes.clone());
            if let Some(claim) = claim {
                claim.release().await;
            }
            return Ok(Begin::Hit(bytes, Outcome::Hit));
        }
        Ok(Begin::Lead(Lead {
            cache: self.clone(),
            key,
            flight,
            claim,
            how,
        }))
    }

    /// Stores a computed result: the value first if it is too large to
    /// inline, then the record, so a record never points at a missing value.
    async fn store(
        &self,
        call: &CallInfo<'_>,
        bytes: &Bytes,
        runtime: Runtime,
        scope: &ScopeMetadata,
    ) -> Result<(), Error> {
        let digest = Digest::of(bytes);
        let inline = bytes.len() <= self.inner.options.inline_limit;
        if !inline {
            self.inner.values.put(digest, bytes.clone()).await?;
        }
        let spec = call.spec;
        let record = CallRecord {
            format: RECORD_FORMAT,
            key: call.key,
            function: spec.name().to_owned(),
            version: spec.version(),
            code: spec.code(),
            args: call
                .args
                .iter()
                .map(|(name, digest)| ArgDigest {
                    name: (*name).to_owned(),
                    digest: *digest,
                })
                .collect(),
            result: ValueRef {
                digest,
                inline: inline.then(|| bytes.clone()),
            },
            metadata: metadata::build(spec.name(), call.key, spec.package(), runtime, scope),
            created_at: Timestamp::now(),
        };
        self.inner.calls.put(record).await?;
        Ok(())
    }
}

/// A store that finds its own data damaged (a record that does not decode,
/// a truncated file) says so with `ErrorKind::Corrupt`. For the cache that
/// is a miss: the recomputation overwrites the damage. Other errors pass.
fn corrupt_is_missing<T>(
    key: Digest,
    read: Result<Option<T>, StoreError>,
) -> Result<Option<T>, Error> {
    match read {
        Err(e) if e.kind() == ErrorKind::Corrupt => {
            notice::warning!(%key, error = %e, "fleche: the store reports damaged data; treating it as a miss");
            Ok(None)
        }
        other => Ok(other?),
    }
}

impl Lead {
    /// Stores the result (if there is one to cache), lets waiting callers
    /// have it, and gives up the claim.
    pub(crate) async fn finish(
        self,
        call: &CallInfo<'_>,
        bytes: Bytes,
        runtime: Runtime,
        scope: &ScopeMetadata,
    ) -> Result<(), Error> {
        debug_assert_eq!(call.key, self.key);
        let stored = self.cache.store(call, &bytes, runtime, scope).await;
        self.flight.land(bytes);
        if let Some(claim) = self.claim {
            claim.release().await;
        }
        stored
    }
}
