//! Promise 7: errors are typed, carry the key and the backend's name, and
//! never show a credential.

use std::fmt::Debug;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use fleche_core::{
    Cache, CallRecord, Claim, Digest, ErrorChain, ErrorKind, FnSpec, Owner, Query, StoreError,
    ValueRef, codec,
};
use futures::StreamExt;

use super::fixtures::{key, record, value};
use crate::harness::{CaseError, CaseResult, Harness, Location, Stores, ensure};

/// Checks that `got`, the answer of `op` on `key`, is an error of `kind`
/// that names `key` and a backend.
fn typed<T: Debug>(
    op: &str,
    key: Digest,
    kind: ErrorKind,
    got: Result<T, StoreError>,
) -> Result<StoreError, CaseError> {
    let e = match got {
        Err(e) => e,
        Ok(v) => {
            return Err(CaseError::fail(format!(
                "{op} of key {key} should be a {kind} error, but answered Ok({v:?})"
            )));
        }
    };
    ensure!(
        e.kind() == kind,
        "{op} of key {key} should be a {kind} error, but is a {} error: {}",
        e.kind(),
        ErrorChain(&e)
    );
    ensure!(
        e.key() == Some(key),
        "the {kind} error of {op} of key {key} names the key {:?}: {}",
        e.key(),
        ErrorChain(&e)
    );
    ensure!(
        !e.backend().is_empty(),
        "the {kind} error of {op} of key {key} names no backend: {}",
        ErrorChain(&e)
    );
    Ok(e)
}

/// A key of this case that is not stored but falls in the same shard (the
/// first two hex digits) as `near`, so that a store which looks a key up by
/// its shard finds the shard there and the key not.
fn missing_key_near(near: Digest) -> Digest {
    let shard = &near.to_hex()[..2];
    (0..)
        .map(|n| key("errors-missing", n))
        .find(|k| k != &near && &k.to_hex()[..2] == shard)
        .expect("some key shares a shard")
}

/// Promise 7 (errors are typed, with key and backend) and promise 1 (a
/// missing key is never an error), for what every store must answer:
///
/// * the call store's `backend_name` is not empty;
/// * without claims (`capabilities().claims` false), `claim`, `renew` and
///   `release` are each an `Err` of kind `Unsupported` that names the key
///   and a backend;
/// * with claims, `renew` and `release` of a key nobody holds are
///   `Ok(false)` — never an error — and leave no claim behind: another
///   owner's claim after them is `Acquired { took_over: false }`;
/// * in a store that holds other data, a missing key is `Ok(None)` from
///   `get` (both stores) and `get_result`, `Ok(false)` from `contains` and
///   from `delete` (both stores), `None` at its place in `get_many`, and
///   matches nothing in `query`.
pub(crate) async fn errors_claim_operations_are_typed(h: &Harness) -> CaseResult {
    let (_, s) = h.fresh().await?;
    ensure!(
        !s.calls.backend_name().trim().is_empty(),
        "the call store's backend_name is empty: the errors the cache reports about it \
         would name no backend"
    );
    let k = key("errors-claims", 0);
    let holder = Owner::new();
    let ttl = Duration::from_secs(30);
    if !s.calls.capabilities().claims {
        typed(
            "claim (the store does not offer claims)",
            k,
            ErrorKind::Unsupported,
            s.calls.claim(k, &holder, ttl).await,
        )?;
        typed(
            "renew (the store does not offer claims)",
            k,
            ErrorKind::Unsupported,
            s.calls.renew(k, &holder, ttl).await,
        )?;
        typed(
            "release (the store does not offer claims)",
            k,
            ErrorKind::Unsupported,
            s.calls.release(k, &holder).await,
        )?;
    } else {
        match s.calls.renew(k, &holder, ttl).await {
            Ok(false) => {}
            other => {
                return Err(CaseError::fail(format!(
                    "renew of key {k}, which nobody holds, should be Ok(false), but is {other:?}"
                )));
            }
        }
        match s.calls.release(k, &holder).await {
            Ok(false) => {}
            other => {
                return Err(CaseError::fail(format!(
                    "release of key {k}, which nobody holds, should be Ok(false), but is {other:?}"
                )));
            }
        }
        let other = Owner::new();
        match s.calls.claim(k, &other, ttl).await {
            Ok(Claim::Acquired { took_over: false }) => {}
            got => {
                return Err(CaseError::fail(format!(
                    "after a renew and a release of key {k} by an owner that held nothing, \
                     a claim by another owner should be Acquired {{ took_over: false }}, \
                     but is {got:?}: the renew or the release left a claim behind"
                )));
            }
        }
        ensure!(
            s.calls.release(k, &other).await?,
            "release of key {k} by the owner that had just claimed it said it held nothing"
        );
    }

    // Missing keys, in a store that holds other data.
    let stored = record(key("errors-claims", 1), "conformance::errors", 1);
    let (digest, bytes) = value(71, 1_234);
    s.calls.put(stored.clone()).await?;
    s.values.put(digest, bytes.clone()).await?;
    let gone_record = missing_key_near(stored.key);
    let gone_value = missing_key_near(digest);
    match s.calls.get(gone_record).await {
        Ok(None) => {}
        other => {
            return Err(CaseError::fail(format!(
                "calls.get of the missing key {gone_record} should be Ok(None), but is {other:?}"
            )));
        }
    }
    match s.calls.get_result(gone_record).await {
        Ok(None) => {}
        other => {
            return Err(CaseError::fail(format!(
                "calls.get_result of the missing key {gone_record} should be Ok(None), but is {:?}",
                other.map(|r| r.as_ref().map(brief))
            )));
        }
    }
    match s.calls.delete(gone_record).await {
        Ok(false) => {}
        other => {
            return Err(CaseError::fail(format!(
                "calls.delete of the missing key {gone_record} should be Ok(false), but is {other:?}"
            )));
        }
    }
    match s.values.get(gone_value).await {
        Ok(None) => {}
        other => {
            return Err(CaseError::fail(format!(
                "values.get of the missing key {gone_value} should be Ok(None), but is {:?}",
                other.map(|b| b.map(|b| b.len()))
            )));
        }
    }
    match s.values.contains(gone_value).await {
        Ok(false) => {}
        other => {
            return Err(CaseError::fail(format!(
                "values.contains of the missing key {gone_value} should be Ok(false), but is {other:?}"
            )));
        }
    }
    match s.values.delete(gone_value).await {
        Ok(false) => {}
        other => {
            return Err(CaseError::fail(format!(
                "values.delete of the missing key {gone_value} should be Ok(false), but is {other:?}"
            )));
        }
    }
    let asked = [gone_value, digest, gone_value];
    match s.values.get_many(&asked).await {
        Ok(got) if got == [None, Some(bytes.clone()), None] => {}
        Ok(got) => {
            let lens: Vec<Option<usize>> =
                got.iter().map(|b| b.as_ref().map(|b| b.len())).collect();
            return Err(CaseError::fail(format!(
                "values.get_many of [missing, the stored value of {} bytes, missing] should be \
                 [None, the value, None], but gave these lengths: {lens:?}",
                bytes.len()
            )));
        }
        Err(e) => {
            return Err(CaseError::fail(format!(
                "values.get_many of [missing, stored, missing] is an error: {}",
                ErrorChain(&e)
            )));
        }
    }
    let arg = &stored.args[0];
    let nothing = Query::new()
        .function("conformance::errors")
        .arg_digest(arg.name.clone(), Digest::of(b"no such argument"));
    let found: Vec<Result<CallRecord, StoreError>> = s.calls.query(&nothing).collect().await;
    ensure!(
        found.is_empty(),
        "a query that matches no record should yield nothing, but yielded {found:?}"
    );
    // The stored data is still there.
    ensure!(
        s.calls.get(stored.key).await? == Some(stored.clone()),
        "the record {} put before the reads of missing keys no longer reads back whole",
        stored.key
    );
    Ok(())
}

/// The call key and result of the cached function of
/// [`errors_damaged_record_is_corrupt`].
static SPEC: FnSpec = FnSpec::new("fleche_conformance::errors_case").with_version(1);

fn args(n: u64) -> [(&'static str, Digest); 1] {
    [("n", codec::digest(&n).expect("a u64 encodes"))]
}

/// Damages the record under `k` through the factory; `Skipped` if the
/// factory cannot.
async fn damage(h: &Harness, at: &Location, k: Digest) -> CaseResult {
    let done = h.factory.damage_record(at, k).await.map_err(|e| {
        CaseError::fail(format!(
            "factory.damage_record of key {k} failed: {}",
            ErrorChain(&e)
        ))
    })?;
    if !done {
        return Err(CaseError::Skipped(
            "the factory cannot damage stored records (Factory::damage_record)".into(),
        ));
    }
    Ok(())
}

/// Checks that the record under `k` reads as `Corrupt` with its key from
/// `get` and `get_result`; returns the two errors.
async fn reads_corrupt(s: &Stores, k: Digest, what: &str) -> Result<Vec<StoreError>, CaseError> {
    let got = typed(
        &format!("calls.get of {what}"),
        k,
        ErrorKind::Corrupt,
        s.calls.get(k).await,
    )?;
    let head = typed(
        &format!("calls.get_result of {what}"),
        k,
        ErrorKind::Corrupt,
        s.calls.get_result(k).await,
    )?;
    Ok(vec![got, head])
}

/// Checks that `rec` reads back exactly, by `get` and `get_result`.
async fn reads_exactly(s: &Stores, rec: &CallRecord, what: &str) -> CaseResult {
    let k = rec.key;
    match s.calls.get(k).await {
        Ok(Some(got)) if got == *rec => {}
        Ok(got) => {
            return Err(CaseError::fail(format!(
                "calls.get of {what} ({k}) should give the record put, of function {}, \
                 created at {:?}, result {}, but gave {:?}",
                rec.function,
                rec.created_at,
                brief(&rec.result),
                got.map(|r| (r.function, r.created_at, brief(&r.result)))
            )));
        }
        Err(e) => {
            return Err(CaseError::fail(format!(
                "calls.get of {what} ({k}) is an error: {}",
                ErrorChain(&e)
            )));
        }
    }
    match s.calls.get_result(k).await {
        Ok(Some(got)) if same_result(&rec.result, &got) => Ok(()),
        Ok(got) => Err(CaseError::fail(format!(
            "calls.get_result of {what} ({k}) should give the result put, {}, but gave {}",
            brief(&rec.result),
            got.as_ref().map_or("None".into(), brief)
        ))),
        Err(e) => Err(CaseError::fail(format!(
            "calls.get_result of {what} ({k}) is an error: {}",
            ErrorChain(&e)
        ))),
    }
}

/// Whether `got`, from `get_result`, is the result `put`: the same digest,
/// and the same inline bytes — except that a store may fill in the bytes
/// of a result kept in the value store (the hit path in one round trip),
/// which must then be the bytes of that digest.
fn same_result(put: &ValueRef, got: &ValueRef) -> bool {
    got.digest == put.digest
        && match (&put.inline, &got.inline) {
            (Some(a), Some(b)) => a == b,
            (None, None) => true,
            (None, Some(b)) => Digest::of(b) == put.digest,
            (Some(_), None) => false,
        }
}

/// A result, briefly: its digest and how many bytes it holds inline.
fn brief(result: &ValueRef) -> String {
    match &result.inline {
        Some(b) => format!("digest {} with {} bytes inline", result.digest, b.len()),
        None => format!("digest {} (bytes in the value store)", result.digest),
    }
}

/// The errors a query yields, checked: every record it yields is one of
/// `good`, exactly, and every error is `Corrupt` and names one of
/// `damaged`.
async fn query_around_damage(
    s: &Stores,
    good: &[CallRecord],
    damaged: &[Digest],
) -> Result<Vec<StoreError>, CaseError> {
    let all = Query::new();
    let items: Vec<Result<CallRecord, StoreError>> = s.calls.query(&all).collect().await;
    let mut errors = Vec::new();
    for item in items {
        match item {
            Ok(rec) => {
                ensure!(
                    !damaged.contains(&rec.key),
                    "a query yielded a record for the damaged key {}: {:?}",
                    rec.key,
                    (&rec.function, rec.created_at, brief(&rec.result))
                );
                ensure!(
                    good.contains(&rec),
                    "a query yielded a record for key {} that is not the one put: {:?}",
                    rec.key,
                    (&rec.function, rec.created_at, brief(&rec.result))
                );
            }
            Err(e) => {
                ensure!(
                    e.kind() == ErrorKind::Corrupt && e.key().is_some_and(|k| damaged.contains(&k)),
                    "a query over a store with the damaged record(s) {damaged:?} yielded an \
                     error that is not Corrupt with a damaged key (kind {}, key {:?}): {}",
                    e.kind(),
                    e.key(),
                    ErrorChain(&e)
                );
                errors.push(e);
            }
        }
    }
    Ok(errors)
}

/// Computes `vec![n as u8; len]` through `c`, counting runs.
async fn compute(c: &Cache, n: u64, len: usize, runs: &AtomicUsize) -> Result<Vec<u8>, CaseError> {
    Ok(c.get_or_compute(&SPEC, &args(n), async {
        runs.fetch_add(1, Ordering::SeqCst);
        vec![n as u8; len]
    })
    .await?)
}

/// Promise 7 (damaged data is `Corrupt` with its key) and promise 6 (never
/// garbage that reads as a value), for a record damaged behind the store's
/// back by [`Factory::damage_record`](crate::Factory::damage_record) —
/// skipped if the factory cannot damage records:
///
/// * `get` and `get_result` of the damaged key are each an `Err` of kind
///   `Corrupt` that names that key and a backend;
/// * the other records still read back exactly;
/// * a query yields only whole records that were put, none for the damaged
///   key, and any error it yields is `Corrupt` with a damaged key;
/// * a damaged record can be deleted (then it reads as `Ok(None)`), and a
///   `put` under a damaged key replaces it: it reads back exactly;
/// * a `Cache` (default, fail-open) over the store treats a damaged record
///   as a miss: the call recomputes, returns the right value, and the
///   record is repaired (it reads back, and the next call is a hit) — for a
///   result inline in the record and for one in the value store.
pub(crate) async fn errors_damaged_record_is_corrupt(h: &Harness) -> CaseResult {
    let (at, s) = h.fresh().await?;
    let damaged = record(key("errors-damage", 0), "conformance::damage", 0);
    let deleted = record(key("errors-damage", 1), "conformance::damage", 1);
    let mut apart = record(key("errors-damage", 2), "conformance::damage", 2);
    let (digest, bytes) = value(2, 3_001);
    s.values.put(digest, bytes).await?;
    apart.result = ValueRef {
        digest,
        inline: None,
    };
    let intact = record(key("errors-damage", 3), "conformance::damage", 3);
    for rec in [&damaged, &deleted, &apart, &intact] {
        s.calls.put(rec.clone()).await?;
    }
    damage(h, &at, damaged.key).await?;
    damage(h, &at, deleted.key).await?;
    reads_corrupt(&s, damaged.key, "a damaged record").await?;
    reads_corrupt(&s, deleted.key, "a damaged record").await?;
    reads_exactly(&s, &apart, "an undamaged record beside damaged ones").await?;
    reads_exactly(&s, &intact, "an undamaged record beside damaged ones").await?;
    query_around_damage(
        &s,
        &[apart.clone(), intact.clone()],
        &[damaged.key, deleted.key],
    )
    .await?;

    // A damaged record can be deleted, and replaced by a put.
    if let Err(e) = s.calls.delete(deleted.key).await {
        return Err(CaseError::fail(format!(
            "calls.delete of the damaged record {} is an error: {}",
            deleted.key,
            ErrorChain(&e)
        )));
    }
    match (
        s.calls.get(deleted.key).await,
        s.calls.get_result(deleted.key).await,
    ) {
        (Ok(None), Ok(None)) => {}
        (got, head) => {
            return Err(CaseError::fail(format!(
                "after delete of the damaged record {}, get and get_result should be Ok(None), \
                 but are {:?} and {:?}",
                deleted.key,
                got.map(|r| r.map(|r| r.function)),
                head.map(|r| r.as_ref().map(brief))
            )));
        }
    }
    s.calls.put(damaged.clone()).await.map_err(|e| {
        CaseError::fail(format!(
            "a put of a good record under the damaged key {} failed: {}",
            damaged.key,
            ErrorChain(&e)
        ))
    })?;
    reads_exactly(&s, &damaged, "a damaged record replaced by a put").await?;

    // The cache reads damage as a miss and repairs it.
    let cache = Cache::builder(s.values.clone(), s.calls.clone())
        .inline_limit(256)
        .build();
    for (n, len, where_) in [(10, 8, "inline"), (11, 10_000, "in the value store")] {
        let runs = AtomicUsize::new(0);
        let want = vec![n as u8; len];
        let first = compute(&cache, n, len, &runs).await?;
        ensure!(
            first == want,
            "the cache's first call returned {} bytes, not the {len} computed",
            first.len()
        );
        let k = SPEC.key(&args(n));
        damage(h, &at, k).await?;
        match cache.get::<Vec<u8>>(k).await {
            Ok(None) => {}
            Ok(Some(v)) => {
                return Err(CaseError::fail(format!(
                    "Cache::get of the damaged record {k} ({where_} result) should be a miss, \
                     but gave {} bytes",
                    v.len()
                )));
            }
            Err(e) => {
                return Err(CaseError::fail(format!(
                    "Cache::get of the damaged record {k} ({where_} result) should be a miss, \
                     but is an error: {}",
                    ErrorChain(&e)
                )));
            }
        }
        let again = match cache
            .get_or_compute(&SPEC, &args(n), async {
                runs.fetch_add(1, Ordering::SeqCst);
                vec![n as u8; len]
            })
            .await
        {
            Ok(v) => v,
            Err(e) => {
                return Err(CaseError::fail(format!(
                    "a cached call whose record ({where_} result) was damaged failed instead \
                     of recomputing: {}",
                    ErrorChain(&e)
                )));
            }
        };
        ensure!(
            again == want,
            "a cached call whose record ({where_} result) was damaged returned {} bytes \
             starting {:?}, not the {len} bytes {n} computed",
            again.len(),
            &again[..again.len().min(8)]
        );
        ensure!(
            runs.load(Ordering::SeqCst) == 2,
            "a cached call whose record ({where_} result) was damaged ran its body {} times \
             in all, not twice: the damage was not treated as a miss",
            runs.load(Ordering::SeqCst)
        );
        let encoded = codec::encode(&want).map_err(|e| CaseError::fail(e.to_string()))?;
        match s.calls.get_result(k).await {
            Ok(Some(result)) if result.digest == Digest::of(&encoded) => {}
            other => {
                return Err(CaseError::fail(format!(
                    "after the cache recomputed the damaged record {k} ({where_} result), \
                     get_result should give the new result, of digest {}, but is {:?}",
                    Digest::of(&encoded),
                    other.map(|r| r.as_ref().map(brief))
                )));
            }
        }
        let third = compute(&cache, n, len, &runs).await?;
        ensure!(
            third == want && runs.load(Ordering::SeqCst) == 2,
            "the damaged record {k} ({where_} result) was not repaired: the call after the \
             recomputation ran the body again ({} runs in all)",
            runs.load(Ordering::SeqCst)
        );
    }
    Ok(())
}

/// Checks that `text` does not hold `secret`.
fn hides(secret: &str, what: &str, text: &str) -> CaseResult {
    ensure!(
        !text.contains(secret),
        "{what} shows the credential of the store's location ({} characters, from \
         Factory::secret): {}",
        secret.chars().count(),
        text.replace(secret, "<THE CREDENTIAL>")
    );
    Ok(())
}

/// Checks every way `e` can be shown: `Display`, the chain of causes, and
/// `Debug` (which includes the source's `Debug`).
fn error_hides(secret: &str, what: &str, e: &StoreError) -> CaseResult {
    hides(secret, &format!("the Display of {what}"), &e.to_string())?;
    hides(
        secret,
        &format!("the chain of causes of {what}"),
        &ErrorChain(e).to_string(),
    )?;
    hides(secret, &format!("the Debug of {what}"), &format!("{e:?}"))
}

/// Promise 7 (credentials never appear in messages): the credential that
/// opening the store uses, as [`Factory::secret`](crate::Factory::secret)
/// names it (by default the password of a location URL), appears in none
/// of:
///
/// * the `Debug` output of the value store and the call store, of the
///   handle the case made and of a second handle opened on the same
///   location;
/// * the `Display`, chain of causes and `Debug` of every error the case can
///   provoke: `claim`, `renew` and `release` on a store without claims
///   (`Unsupported`); `put`, `get` and `get_result` of a record of a format
///   newer than this fleche reads (which stores that decode records
///   refuse); when the factory can damage records, `get` and `get_result`
///   of a damaged record (`Corrupt`); and `query` over all of these.
///
/// The `Debug` of each store must also say something: it is what a log
/// line or a panic shows of the store.
///
/// A location without a credential (`Factory::secret` is `None`: a
/// directory, a URL without a password) has nothing to hide, and the case
/// passes after checking nothing. A credential that appears in the
/// location more than once (say a password equal to the user name) cannot
/// be told apart from the rest of it, and fails the case with a request for
/// a distinctive one.
pub(crate) async fn errors_hide_credentials(h: &Harness) -> CaseResult {
    let (at, s) = h.fresh().await?;
    for (what, shown) in [
        ("value store", format!("{:?}", s.values)),
        ("call store", format!("{:?}", s.calls)),
    ] {
        ensure!(
            !shown.trim().is_empty(),
            "the Debug of the {what} is empty: it should say which store it is (without \
             its credentials)"
        );
    }
    let Some(secret) = h.factory.secret(&at).filter(|s| !s.is_empty()) else {
        return Ok(());
    };
    ensure!(
        at.0.matches(&secret).count() <= 1,
        "the credential Factory::secret names appears more than once in the location, so \
         the case cannot tell it from the rest of the location; give the test location a \
         distinctive credential"
    );
    let second = h.open(&at).await?;
    for (handle, stores) in [("the case's handle", &s), ("a second handle", &second)] {
        hides(
            &secret,
            &format!("the Debug of the value store ({handle})"),
            &format!("{:?}", stores.values),
        )?;
        hides(
            &secret,
            &format!("the Debug of the call store ({handle})"),
            &format!("{:?}", stores.calls),
        )?;
    }

    let k = key("errors-secret", 0);
    let owner = Owner::new();
    if !s.calls.capabilities().claims {
        let ttl = Duration::from_secs(30);
        let errors = [
            ("claim", s.calls.claim(k, &owner, ttl).await.err()),
            ("renew", s.calls.renew(k, &owner, ttl).await.err()),
            ("release", s.calls.release(k, &owner).await.err()),
        ];
        for (op, e) in errors {
            if let Some(e) = e {
                error_hides(&secret, &format!("the error of {op}"), &e)?;
            }
        }
    }

    // A record of a format newer than this fleche reads: stores that
    // decode records refuse it (`Corrupt`); whatever they answer, no error
    // may show the credential.
    let mut newer = record(key("errors-secret", 1), "conformance::secret", 1);
    newer.format = fleche_core::RECORD_FORMAT + 1;
    let mut errors = Vec::new();
    match s.calls.put(newer.clone()).await {
        Err(e) => errors.push(("put of a record of a newer format", e)),
        Ok(()) => {
            errors.extend(
                s.calls
                    .get(newer.key)
                    .await
                    .err()
                    .map(|e| ("get of a record of a newer format", e)),
            );
            errors.extend(
                s.calls
                    .get_result(newer.key)
                    .await
                    .err()
                    .map(|e| ("get_result of a record of a newer format", e)),
            );
        }
    }
    let rec = record(k, "conformance::secret", 0);
    s.calls.put(rec.clone()).await?;
    if h.factory.damage_record(&at, k).await? {
        errors.extend(
            s.calls
                .get(k)
                .await
                .err()
                .map(|e| ("get of a damaged record", e)),
        );
        errors.extend(
            s.calls
                .get_result(k)
                .await
                .err()
                .map(|e| ("get_result of a damaged record", e)),
        );
    }
    let all = Query::new();
    let items: Vec<Result<CallRecord, StoreError>> = s.calls.query(&all).collect().await;
    errors.extend(
        items
            .into_iter()
            .filter_map(|i| i.err())
            .map(|e| ("query", e)),
    );
    for (op, e) in &errors {
        error_hides(&secret, &format!("the error of {op}"), e)?;
    }
    Ok(())
}
