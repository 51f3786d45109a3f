//! Get-or-compute: the drivers behind `#[fleche]`, for async and sync bodies.

use std::future::Future;

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Cache;
use super::engine::{Begin, CallInfo, Lead};
use super::stats::Outcome;
use crate::bridge::on_fleche_runtime;
use crate::metadata::{ScopeMetadata, Stopwatch, Timed};
use crate::{Digest, Error, FnSpec, bridge, codec, isolate};

/// Which results of a body are cached, and how a cached value becomes a
/// result again.
pub trait Strategy<R> {
    /// The type that is stored.
    type Value: Serialize + DeserializeOwned;
    /// The part of `result` to store, or `None` to store nothing.
    fn cached(result: &R) -> Option<&Self::Value>;
    /// A result from a stored value.
    fn wrap(value: Self::Value) -> R;
}

/// Every result is cached.
#[derive(Debug)]
pub enum Always {}

impl<T: Serialize + DeserializeOwned> Strategy<T> for Always {
    type Value = T;
    fn cached(result: &T) -> Option<&T> {
        Some(result)
    }
    fn wrap(value: T) -> T {
        value
    }
}

/// Only `Ok` results are cached; errors are returned and forgotten.
#[derive(Debug)]
pub enum OkOnly {}

impl<T: Serialize + DeserializeOwned, E> Strategy<Result<T, E>> for OkOnly {
    type Value = T;
    fn cached(result: &Result<T, E>) -> Option<&T> {
        result.as_ref().ok()
    }
    fn wrap(value: T) -> Result<T, E> {
        Ok(value)
    }
}

/// Before the body runs: a known result (and how it was found), or the
/// lead (if caching works).
enum Resolved<V> {
    Hit(V, Outcome),
    Run(Option<Lead>),
}

/// How often a stored result that does not decode is recomputed before
/// the body runs uncached.
const DECODE_RETRIES: u32 = 2;

impl Cache {
    /// The cached result of the call `spec(args)`, or `body`'s result, which
    /// is then stored. Concurrent callers of one key share one run of
    /// `body`. Store failures are logged and `body` runs uncached, unless the
    /// cache is strict.
    pub async fn get_or_compute<T, F>(
        &self,
        spec: &FnSpec,
        args: &[(&str, Digest)],
        body: F,
    ) -> Result<T, Error>
    where
        T: Serialize + DeserializeOwned,
        F: Future<Output = T>,
    {
        self.compute_async::<T, Always, F>(spec, args, false, &ScopeMetadata::default(), body)
            .await
    }

    /// [`Cache::get_or_compute`] for a fallible body: only `Ok` results are
    /// stored; an `Err` is returned and forgotten.
    pub async fn get_or_try_compute<T, E, F>(
        &self,
        spec: &FnSpec,
        args: &[(&str, Digest)],
        body: F,
    ) -> Result<Result<T, E>, Error>
    where
        T: Serialize + DeserializeOwned,
        F: Future<Output = Result<T, E>>,
    {
        self.compute_async::<Result<T, E>, OkOnly, F>(
            spec,
            args,
            false,
            &ScopeMetadata::default(),
            body,
        )
        .await
    }

    /// [`Cache::get_or_compute`] for a synchronous body, from any thread.
    pub fn get_or_compute_blocking<T, F>(
        &self,
        spec: &FnSpec,
        args: &[(&str, Digest)],
        body: F,
    ) -> Result<T, Error>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> T,
    {
        self.compute_blocking::<T, Always, F>(spec, args, false, &ScopeMetadata::default(), body)
    }

    pub(crate) async fn compute_async<R, S, F>(
        &self,
        spec: &FnSpec,
        args: &[(&str, Digest)],
        force: bool,
        scope: &ScopeMetadata,
        body: F,
    ) -> Result<R, Error>
    where
        S: Strategy<R>,
        F: Future<Output = R>,
    {
        let key = spec.key(args);
        // The store side runs on fleche's runtime; the body, never.
        let lead = match on_fleche_runtime(self.resolve::<S::Value>(key, force)).await? {
            Resolved::Hit(v, outcome) => {
                self.inner.counters.record(spec, key, outcome);
                return Ok(S::wrap(v));
            }
            Resolved::Run(lead) => lead,
        };
        let mut watch = Stopwatch::start();
        let timed = Timed {
            fut: Box::pin(body),
            watch: &mut watch,
        };
        let result = isolate::run_async(spec.isolate(), timed).await?;
        let encoded = encode_for_lead::<R, S>(&result, &lead);
        let call = CallInfo { spec, args, key };
        on_fleche_runtime(self.settle(lead, encoded, &call, watch, scope)).await?;
        Ok(result)
    }

    pub(crate) fn compute_blocking<R, S, F>(
        &self,
        spec: &FnSpec,
        args: &[(&str, Digest)],
        force: bool,
        scope: &ScopeMetadata,
        body: F,
    ) -> Result<R, Error>
    where
        S: Strategy<R>,
        F: FnOnce() -> R,
    {
        let key = spec.key(args);
        let lead = match bridge::block_on(self.resolve::<S::Value>(key, force))? {
            Resolved::Hit(v, outcome) => {
                self.inner.counters.record(spec, key, outcome);
                return Ok(S::wrap(v));
            }
            Resolved::Run(lead) => lead,
        };
        let mut watch = Stopwatch::start();
        let result = isolate::run_blocking(spec.isolate(), || watch.time(body))?;
        let encoded = encode_for_lead::<R, S>(&result, &lead);
        let call = CallInfo { spec, args, key };
        bridge::block_on(self.settle(lead, encoded, &call, watch, scope))?;
        Ok(result)
    }

    /// Hit, or who runs the body. Undecodable results are recomputed; store
    /// failures mean running uncached (or an error, when strict).
    async fn resolve<V: DeserializeOwned>(
        &self,
        key: Digest,
        mut force: bool,
    ) -> Result<Resolved<V>, Error> {
        for _ in 0..DECODE_RETRIES {
            let begun = self.begin(key, force).await;
            if begun.is_ok() {
                self.store_answered();
            }
            match begun {
                Ok(Begin::Hit(bytes, outcome)) => match self.decode_or_warn(key, &bytes) {
                    Some(v) => return Ok(Resolved::Hit(v, outcome)),
                    None => force = true,
                },
                Ok(Begin::Lead(lead)) => return Ok(Resolved::Run(Some(lead))),
                Err(e) => {
                    self.fail_open(e)?;
                    return Ok(Resolved::Run(None));
                }
            }
        }
        Ok(Resolved::Run(None))
    }

    /// Stores the encoded result, if there is a lead and a result to cache,
    /// and counts the call: computed if it was stored, else uncached.
    async fn settle(
        &self,
        lead: Option<Lead>,
        encoded: Option<Result<Bytes, Error>>,
        call: &CallInfo<'_>,
        watch: Stopwatch,
        scope: &ScopeMetadata,
    ) -> Result<(), Error> {
        let stored = match (lead, encoded) {
            (Some(lead), Some(encoded)) => {
                let how = lead.how;
                let stored = match encoded {
                    Ok(bytes) => lead.finish(call, bytes, watch.stop(), scope).await,
                    Err(e) => Err(e),
                };
                match stored {
                    Ok(()) => Some(how),
                    Err(e) => {
                        self.fail_open(e)?;
                        None
                    }
                }
            }
            _ => None,
        };
        let outcome = stored.map_or(Outcome::Uncached, Outcome::Computed);
        self.inner.counters.record(call.spec, call.key, outcome);
        Ok(())
    }
}

/// The encoded value to store, when there is a lead and `result` is cached.
/// Dropping the lead without storing tells waiting callers to run
/// themselves, which is right for an error result.
fn encode_for_lead<R, S: Strategy<R>>(
    result: &R,
    lead: &Option<Lead>,
) -> Option<Result<Bytes, Error>> {
    lead.as_ref()?;
    let value = S::cached(result)?;
    Some(
        codec::encode(value)
            .map(Bytes::from)
            .map_err(|e| Error::codec("cannot encode the result", e)),
    )
}
