//! Cache-level behaviour on top of the store: damage is a miss and is
//! repaired; errors are not stored.

use std::sync::atomic::{AtomicUsize, Ordering};

use fleche_core::{Bytes, Cache, Digest, FnSpec, ValueRef, codec};

use crate::harness::{CaseResult, Harness, Stores, ensure};

static SPEC: FnSpec = FnSpec::new("fleche_conformance::cache_case").with_version(1);

fn cache(s: &Stores) -> Cache {
    Cache::builder(s.values.clone(), s.calls.clone())
        .inline_limit(256)
        .build()
}

fn args(n: u64) -> [(&'static str, Digest); 1] {
    [("n", codec::digest(&n).expect("a u64 encodes"))]
}

/// Computes `vec![n as u8; len]` through the cache, counting runs.
async fn compute(
    c: &Cache,
    n: u64,
    len: usize,
    runs: &AtomicUsize,
) -> Result<Vec<u8>, crate::CaseError> {
    Ok(c.get_or_compute(&SPEC, &args(n), async {
        runs.fetch_add(1, Ordering::SeqCst);
        vec![n as u8; len]
    })
    .await?)
}

/// A value altered in the value store (through the store's own API) reads
/// as a miss; the next call recomputes and repairs it.
pub(crate) async fn cache_repairs_corrupt_value(h: &Harness) -> CaseResult {
    let (_, s) = h.fresh().await?;
    let c = cache(&s);
    let runs = AtomicUsize::new(0);
    let good = compute(&c, 1, 10_000, &runs).await?;
    let rec = s.calls.get(SPEC.key(&args(1))).await?;
    let Some(rec) = rec else {
        return Err(crate::CaseError::fail("the cache stored no record"));
    };
    ensure!(
        rec.result.inline.is_none(),
        "a 10 kB result should live in the value store"
    );
    s.values
        .put(rec.result.digest, Bytes::from_static(b"\x43bad"))
        .await?;
    let again = compute(&c, 1, 10_000, &runs).await?;
    ensure!(again == good, "a damaged value was returned");
    ensure!(
        runs.load(Ordering::SeqCst) == 2,
        "a damaged value was not treated as a miss"
    );
    let third = compute(&c, 1, 10_000, &runs).await?;
    ensure!(
        third == good && runs.load(Ordering::SeqCst) == 2,
        "the damaged value was not repaired"
    );
    Ok(())
}

/// A record whose inline result does not match its digest (written through
/// the store's own API) reads as a miss and is repaired.
pub(crate) async fn cache_repairs_corrupt_record(h: &Harness) -> CaseResult {
    let (_, s) = h.fresh().await?;
    let c = cache(&s);
    let runs = AtomicUsize::new(0);
    let good = compute(&c, 2, 8, &runs).await?;
    let k = SPEC.key(&args(2));
    let Some(mut rec) = s.calls.get(k).await? else {
        return Err(crate::CaseError::fail("the cache stored no record"));
    };
    let other = codec::encode(&vec![9u8; 8]).map_err(|e| crate::CaseError::fail(e.to_string()))?;
    rec.result = ValueRef {
        digest: rec.result.digest,
        inline: Some(other.into()),
    };
    s.calls.put(rec).await?;
    let again = compute(&c, 2, 8, &runs).await?;
    ensure!(
        again == good,
        "a record with altered inline bytes was believed"
    );
    ensure!(
        runs.load(Ordering::SeqCst) == 2,
        "a damaged record was not treated as a miss"
    );
    let _ = compute(&c, 2, 8, &runs).await?;
    ensure!(
        runs.load(Ordering::SeqCst) == 2,
        "the damaged record was not repaired"
    );
    Ok(())
}

/// An `Err` result is returned and not stored.
pub(crate) async fn cache_does_not_store_errors(h: &Harness) -> CaseResult {
    let (_, s) = h.fresh().await?;
    let c = cache(&s);
    let out: Result<u64, String> = c
        .get_or_try_compute(&SPEC, &args(3), async { Err("no".to_string()) })
        .await?;
    ensure!(out.is_err(), "the error was not returned");
    ensure!(
        s.calls.get(SPEC.key(&args(3))).await?.is_none(),
        "an Err result was stored"
    );
    let ok: Result<u64, String> = c
        .get_or_try_compute(&SPEC, &args(3), async { Ok(3) })
        .await?;
    ensure!(ok == Ok(3), "the Ok result was not returned");
    ensure!(
        s.calls.get(SPEC.key(&args(3))).await?.is_some(),
        "the Ok result was not stored"
    );
    Ok(())
}
