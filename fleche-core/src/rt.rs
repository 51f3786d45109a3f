//! What `#[fleche]` expands to calls. Not a stable API: use the attribute.

use std::future::Future;

use serde::de::DeserializeOwned;

use crate::{Cache, CodecError, ErrorChain, Scope};

pub use crate::cache::{Always, OkOnly, Strategy};
pub use crate::spec::arg_digest;

/// The arguments' digests, in order; any argument that does not encode is
/// returned as an error naming it.
pub type Args<const N: usize> = [(&'static str, Result<Digest, CodecError>); N];

fn digests<const N: usize>(args: Args<N>) -> Result<[(&'static str, Digest); N], Error> {
    if let Some((name, Err(e))) = args.iter().find(|(_, r)| r.is_err()) {
        let source = CodecError::Encode(e.to_string());
        return Err(Error::codec(
            format!("cannot encode argument `{name}`"),
            source,
        ));
    }
    Ok(args.map(|(name, r)| (name, r.unwrap_or(Digest::from_bytes([0; 32])))))
}

/// The scope, with the default cache (and the default tags) if it names
/// no cache. Only a wrong configuration fails here (a malformed
/// `FLECHE_CACHE` or `FLECHE_SCOPE`, an unknown scheme): a store that does
/// not open gives a cache that runs calls uncached until it does.
fn resolve(scope: Scope, spec: &FnSpec) -> (Scope, Cache) {
    let resolved = scope.or_default().and_then(|s| {
        let cache = s.cache().cloned().ok_or(Error::NoCache)?;
        Ok((s, cache))
    });
    match resolved {
        Ok(r) => r,
        Err(e) => panic!("fleche: cannot run {}: {}", spec.name(), ErrorChain(&e)),
    }
}

fn strict_failure(spec: &FnSpec, e: Error) -> ! {
    panic!(
        "fleche: {} failed in strict mode: {}",
        spec.name(),
        ErrorChain(&e)
    )
}

/// The scope, its cache and the argument digests of a call.
type Plan<const N: usize> = (Scope, Cache, [(&'static str, Digest); N]);

/// What a call needs before it can look for a result: the scope, its
/// cache and the argument digests; or nothing, when an argument does not
/// encode and the cache is not strict (the call then runs uncached).
fn plan<const N: usize>(spec: &FnSpec, args: Args<N>) -> Option<Plan<N>> {
    let (scope, cache) = resolve(Scope::current(), spec);
    match digests(args) {
        Ok(args) => Some((scope, cache, args)),
        Err(e) => match cache.fail_open(e) {
            Ok(()) => None,
            Err(e) => strict_failure(spec, e),
        },
    }
}

/// Runs a sync cached function.
pub fn call_blocking<R, S: Strategy<R>, const N: usize>(
    spec: &'static FnSpec,
    args: Args<N>,
    force: bool,
    body: impl FnOnce() -> R,
) -> R {
    let Some((scope, cache, args)) = plan(spec, args) else {
        return body();
    };
    match cache.compute_blocking::<R, S, _>(spec, &args, force, scope.metadata(), body) {
        Ok(r) => r,
        Err(e) => strict_failure(spec, e),
    }
}

/// Runs an async cached function.
pub async fn call_async<R, S: Strategy<R>, F: Future<Output = R>, const N: usize>(
    spec: &'static FnSpec,
    args: Args<N>,
    force: bool,
    body: F,
) -> R {
    let Some((scope, cache, args)) = plan(spec, args) else {
        return body.await;
    };
    match cache
        .compute_async::<R, S, F>(spec, &args, force, scope.metadata(), body)
        .await
    {
        Ok(r) => r,
        Err(e) => strict_failure(spec, e),
    }
}

/// The call key of `spec(args)`.
pub fn key<const N: usize>(spec: &'static FnSpec, args: Args<N>) -> Result<Digest, Error> {
    Ok(spec.key(&digests(args)?))
}

/// Whether a result is stored for `spec(args)` in the active cache.
pub async fn contains<const N: usize>(spec: &'static FnSpec, args: Args<N>) -> Result<bool, Error> {
    let key = key(spec, args)?;
    Scope::current().cache_or_default()?.contains(key).await
}

/// The stored result of `spec(args)` in the active cache.
pub async fn load<V: DeserializeOwned, const N: usize>(
    spec: &'static FnSpec,
    args: Args<N>,
) -> Result<Option<V>, Error> {
    let key = key(spec, args)?;
    Scope::current().cache_or_default()?.get(key).await
}

/// The stored result of `spec(args)` in the active cache, as the function
/// returns it (an `Ok` for a function returning `Result`).
pub fn lookup<R, S: Strategy<R>, const N: usize>(
    spec: &'static FnSpec,
    args: Args<N>,
) -> Result<Option<R>, Error> {
    let key = key(spec, args)?;
    let cache = Scope::current().cache_or_default()?;
    Ok(block_on(cache.get::<S::Value>(key))?.map(S::wrap))
}

/// A query for the records of `spec`.
pub fn query(spec: &'static FnSpec) -> Query {
    Query::new().function(spec.name())
}

pub use crate::bridge::block_on;
pub use crate::task::Registration;
pub use crate::{Digest, Error, FnSpec, Isolate, Query};
pub use inventory;

/// Called before every cached call; the `fleche` facade shadows this to
/// install its default cache opener.
pub fn prepare() {}
