//! The suite tests itself: deliberately broken stores must be caught, each
//! by the case that checks the promise it breaks, and the correct memory
//! store must pass.
//!
//! Every broken store is the memory store behind a wrapper that delegates
//! everything and breaks one thing (a [`Fault`]). The wrapper with no fault
//! passes too, so a failure is the fault's doing, not the wrapper's.
//! `cargo test -p fleche-conformance --test self_test -- --nocapture` prints
//! each report, with the cases that caught each store.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fleche_conformance::{Factory, Harness, Location, Outcome, Report, Stores, run_all};
use fleche_core::{
    Bytes, CallRecord, CallStore, Capabilities, Claim, Digest, ErrorKind, Owner, Query, StoreError,
    ValueStore, async_trait,
};
use fleche_memory::MemoryStore;
use futures::stream::BoxStream;

/// The one thing a broken store gets wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    /// Nothing: the wrapper is faithful (the control).
    None,
    /// A put (of a value or a record) that arrives while another put is in
    /// flight is silently discarded.
    DropsConcurrentPuts,
    /// A record is written in two steps, like two columns updated
    /// separately: first every field but the result (keeping the result
    /// already there), then the result onto whatever record is there by
    /// then. Sequential writes come out right; concurrent writers to one key
    /// leave one writer's fields with another's result.
    TearsConcurrentRecords,
    /// Overwriting a record keeps the old record's metadata: a torn write
    /// even without concurrency.
    KeepsOldMetadata,
    /// The first writer wins: a record put under a key that holds one is
    /// ignored.
    FirstWriterWins,
    /// A claim is acquired whenever fewer than two live owners hold it.
    TwoClaimWinners,
    /// `get` and `get_result` of a missing key are an error, not `None`.
    ErrorsOnMissingKey,
    /// Values are silently cut to their first 4 MiB.
    TruncatesLargeValues,
    /// `capabilities()` says claims, but `claim`, `renew` and `release` are
    /// unsupported (the trait's defaults).
    ClaimsUnsupported,
}

const TRUNCATE_AT: usize = 4 << 20;

/// The memory store with one fault.
#[derive(Debug)]
struct Broken {
    fault: Fault,
    inner: MemoryStore,
    /// Puts in flight, for [`Fault::DropsConcurrentPuts`].
    in_flight: AtomicUsize,
    /// Owners and lease ends per key, for [`Fault::TwoClaimWinners`].
    claims: Mutex<HashMap<Digest, Vec<(Owner, Instant)>>>,
}

impl Broken {
    fn new(fault: Fault) -> Self {
        Self {
            fault,
            inner: MemoryStore::new(),
            in_flight: AtomicUsize::new(0),
            claims: Mutex::default(),
        }
    }

    /// Runs `put` unless another put is in flight (then drops it, saying
    /// nothing). Yields in between, so that concurrent puts overlap.
    async fn put_unless_busy<F: Future<Output = Result<(), StoreError>>>(
        &self,
        put: F,
    ) -> Result<(), StoreError> {
        let busy = self.in_flight.fetch_add(1, Ordering::SeqCst) > 0;
        tokio::task::yield_now().await;
        let out = if busy { Ok(()) } else { put.await };
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        out
    }

    fn missing(&self, key: Digest) -> StoreError {
        StoreError::new(ErrorKind::Unavailable, "broken", "no such key").with_key(key)
    }

    fn claim_table(&self) -> std::sync::MutexGuard<'_, HashMap<Digest, Vec<(Owner, Instant)>>> {
        self.claims.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl ValueStore for Broken {
    async fn put(&self, key: Digest, bytes: Bytes) -> Result<(), StoreError> {
        match self.fault {
            Fault::DropsConcurrentPuts => {
                self.put_unless_busy(ValueStore::put(&self.inner, key, bytes))
                    .await
            }
            Fault::TruncatesLargeValues if bytes.len() > TRUNCATE_AT => {
                ValueStore::put(&self.inner, key, bytes.slice(..TRUNCATE_AT)).await
            }
            _ => ValueStore::put(&self.inner, key, bytes).await,
        }
    }

    async fn get(&self, key: Digest) -> Result<Option<Bytes>, StoreError> {
        let got = ValueStore::get(&self.inner, key).await?;
        if self.fault == Fault::ErrorsOnMissingKey && got.is_none() {
            return Err(self.missing(key));
        }
        Ok(got)
    }

    async fn contains(&self, key: Digest) -> Result<bool, StoreError> {
        self.inner.contains(key).await
    }

    async fn delete(&self, key: Digest) -> Result<bool, StoreError> {
        ValueStore::delete(&self.inner, key).await
    }

    fn list(&self, prefix: &str) -> BoxStream<'_, Result<Digest, StoreError>> {
        self.inner.list(prefix)
    }
}

#[async_trait]
impl CallStore for Broken {
    async fn put(&self, record: CallRecord) -> Result<(), StoreError> {
        let inner = &self.inner;
        match self.fault {
            Fault::DropsConcurrentPuts => self.put_unless_busy(CallStore::put(inner, record)).await,
            Fault::TearsConcurrentRecords => {
                let mut first = record.clone();
                if let Some(there) = CallStore::get(inner, record.key).await? {
                    first.result = there.result;
                }
                CallStore::put(inner, first).await?;
                tokio::task::yield_now().await;
                let mut then = CallStore::get(inner, record.key)
                    .await?
                    .unwrap_or_else(|| record.clone());
                then.result = record.result;
                CallStore::put(inner, then).await
            }
            Fault::KeepsOldMetadata => {
                let mut record = record;
                if let Some(there) = CallStore::get(inner, record.key).await? {
                    record.metadata = there.metadata;
                }
                CallStore::put(inner, record).await
            }
            Fault::FirstWriterWins => {
                if CallStore::get(inner, record.key).await?.is_some() {
                    return Ok(());
                }
                CallStore::put(inner, record).await
            }
            _ => CallStore::put(inner, record).await,
        }
    }

    async fn get(&self, key: Digest) -> Result<Option<CallRecord>, StoreError> {
        let got = CallStore::get(&self.inner, key).await?;
        if self.fault == Fault::ErrorsOnMissingKey && got.is_none() {
            return Err(self.missing(key));
        }
        Ok(got)
    }

    async fn get_result(&self, key: Digest) -> Result<Option<fleche_core::ValueRef>, StoreError> {
        let got = self.inner.get_result(key).await?;
        if self.fault == Fault::ErrorsOnMissingKey && got.is_none() {
            return Err(self.missing(key));
        }
        Ok(got)
    }

    async fn delete(&self, key: Digest) -> Result<bool, StoreError> {
        CallStore::delete(&self.inner, key).await
    }

    fn query<'a>(&'a self, query: &'a Query) -> BoxStream<'a, Result<CallRecord, StoreError>> {
        self.inner.query(query)
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    async fn claim(&self, key: Digest, owner: &Owner, ttl: Duration) -> Result<Claim, StoreError> {
        match self.fault {
            Fault::ClaimsUnsupported => {
                Err(StoreError::unsupported(self.backend_name(), "claim").with_key(key))
            }
            Fault::TwoClaimWinners => {
                let now = Instant::now();
                let mut table = self.claim_table();
                let holders = table.entry(key).or_default();
                let before = holders.len();
                holders.retain(|(_, until)| *until > now);
                let took_over = holders.len() < before;
                if let Some((_, until)) = holders.iter_mut().find(|(o, _)| o == owner) {
                    *until = now + ttl;
                    return Ok(Claim::Acquired { took_over: false });
                }
                if holders.len() < 2 {
                    holders.push((owner.clone(), now + ttl));
                    return Ok(Claim::Acquired { took_over });
                }
                Ok(Claim::Held {
                    holder: holders[0].0.clone(),
                    remaining: holders[0].1 - now,
                })
            }
            _ => self.inner.claim(key, owner, ttl).await,
        }
    }

    async fn renew(&self, key: Digest, owner: &Owner, ttl: Duration) -> Result<bool, StoreError> {
        match self.fault {
            Fault::ClaimsUnsupported => {
                Err(StoreError::unsupported(self.backend_name(), "renew").with_key(key))
            }
            Fault::TwoClaimWinners => {
                let now = Instant::now();
                let mut table = self.claim_table();
                let held = table.get_mut(&key).and_then(|holders| {
                    holders
                        .iter_mut()
                        .find(|(o, until)| o == owner && *until > now)
                });
                Ok(match held {
                    Some((_, until)) => {
                        *until = now + ttl;
                        true
                    }
                    None => false,
                })
            }
            _ => self.inner.renew(key, owner, ttl).await,
        }
    }

    async fn release(&self, key: Digest, owner: &Owner) -> Result<bool, StoreError> {
        match self.fault {
            Fault::ClaimsUnsupported => {
                Err(StoreError::unsupported(self.backend_name(), "release").with_key(key))
            }
            Fault::TwoClaimWinners => {
                let mut table = self.claim_table();
                let Some(holders) = table.get_mut(&key) else {
                    return Ok(false);
                };
                let before = holders.len();
                holders.retain(|(o, _)| o != owner);
                Ok(holders.len() < before)
            }
            _ => self.inner.release(key, owner).await,
        }
    }

    fn backend_name(&self) -> &'static str {
        "broken"
    }
}

/// Makes one store per location, kept in a map so that reopening a location
/// gives the same store (the memory store is not persistent, so reopening
/// cannot mean more).
struct MapFactory<S> {
    make: fn() -> S,
    stores: Mutex<HashMap<String, Arc<S>>>,
}

impl<S> MapFactory<S> {
    fn new(make: fn() -> S) -> Self {
        Self {
            make,
            stores: Mutex::default(),
        }
    }

    fn stores(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<S>>> {
        self.stores.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl<S: ValueStore + CallStore + 'static> Factory for MapFactory<S> {
    async fn create(&self) -> Result<Location, StoreError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let at = format!("self-test-{}", NEXT.fetch_add(1, Ordering::Relaxed));
        self.stores().insert(at.clone(), Arc::new((self.make)()));
        Ok(Location(at))
    }

    async fn open(&self, at: &Location) -> Result<Stores, StoreError> {
        match self.stores().get(&at.0) {
            Some(store) => Ok(Stores::both(store.clone())),
            None => Err(StoreError::new(
                ErrorKind::Backend,
                "self-test",
                format!("no store at {at}"),
            )),
        }
    }

    async fn destroy(&self, at: &Location) -> Result<(), StoreError> {
        self.stores().remove(&at.0);
        Ok(())
    }
}

/// A factory of stores with `fault`.
fn broken(fault: Fault) -> MapFactory<Broken> {
    // A `fn() -> Broken` cannot capture the fault; one per fault.
    let make: fn() -> Broken = match fault {
        Fault::None => || Broken::new(Fault::None),
        Fault::DropsConcurrentPuts => || Broken::new(Fault::DropsConcurrentPuts),
        Fault::TearsConcurrentRecords => || Broken::new(Fault::TearsConcurrentRecords),
        Fault::KeepsOldMetadata => || Broken::new(Fault::KeepsOldMetadata),
        Fault::FirstWriterWins => || Broken::new(Fault::FirstWriterWins),
        Fault::TwoClaimWinners => || Broken::new(Fault::TwoClaimWinners),
        Fault::ErrorsOnMissingKey => || Broken::new(Fault::ErrorsOnMissingKey),
        Fault::TruncatesLargeValues => || Broken::new(Fault::TruncatesLargeValues),
        Fault::ClaimsUnsupported => || Broken::new(Fault::ClaimsUnsupported),
    };
    MapFactory::new(make)
}

fn failed(report: &Report) -> Vec<&'static str> {
    report.failures().map(|r| r.name).collect()
}

/// Runs the suite on `factory` and prints the report under `title`.
async fn report(title: &str, factory: impl Factory + 'static) -> Report {
    let report = run_all(&Harness::new(factory)).await;
    println!("=== {title}: caught by {:?}\n{report}\n", failed(&report));
    report
}

/// The suite on a store with `fault`: something fails, and each of `must`
/// is among the failures.
async fn caught(fault: Fault, must: &[&str]) {
    let report = report(&format!("{fault:?}"), broken(fault)).await;
    assert!(
        !report.passed(),
        "the suite passed a store with {fault:?}:\n{report}"
    );
    for name in must {
        assert!(
            matches!(report.outcome(name), Some(Outcome::Failed(_))),
            "{name} did not catch {fault:?}:\n{report}"
        );
    }
}

/// The memory store, and the wrapper without a fault, pass every case they
/// can run; exactly the persistence and cross-process cases are skipped.
async fn passes(title: &str, factory: impl Factory + 'static) {
    let report = report(title, factory).await;
    assert!(report.passed(), "{title} failed:\n{report}");
    let skipped: Vec<&str> = report
        .rows
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Skipped(_)))
        .map(|r| r.name)
        .collect();
    assert_eq!(
        skipped,
        [
            "writers_separate_processes_lose_nothing",
            "processes_see_each_others_writes",
            "processes_killed_after_durable_writes_keep_them",
            "persistence_survives_reopening"
        ],
        "{title}: unexpected skips:\n{report}"
    );
    assert_eq!(
        report.rows.len(),
        fleche_conformance::cases().len(),
        "{title}: not every case ran"
    );
    // Passing with skips is not complete, and the summary says why.
    assert!(
        !report.complete(),
        "{title}: skips make a report incomplete"
    );
    assert_eq!(
        report.skipped().iter().map(|(_, n)| n).sum::<usize>(),
        4,
        "{title}: {:?}",
        report.skipped()
    );
    let summary = report.to_string();
    let last = summary.lines().last().unwrap_or_default();
    assert!(last.contains("4 skipped ("), "{title}: {last}");
    assert!(
        report
            .rows
            .iter()
            .all(|r| r.outcome == Outcome::Passed || skipped.contains(&r.name)),
        "{title}: a case neither passed nor was skipped:\n{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_memory_store_passes() {
    passes("MemoryStore", MapFactory::new(MemoryStore::new)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_faithful_wrapper_passes() {
    passes("Broken(None)", broken(Fault::None)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dropped_concurrent_writes_are_caught() {
    caught(
        Fault::DropsConcurrentPuts,
        &["writers_concurrent_tasks_lose_nothing"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn torn_concurrent_records_are_caught() {
    caught(
        Fault::TearsConcurrentRecords,
        &["lww_concurrent_writers_one_whole_record"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kept_old_metadata_is_caught() {
    caught(
        Fault::KeepsOldMetadata,
        &[
            "lww_sequential_overwrites",
            "lww_concurrent_writers_one_whole_record",
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn first_writer_wins_is_caught() {
    caught(Fault::FirstWriterWins, &["lww_sequential_overwrites"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_claim_winners_are_caught() {
    caught(
        Fault::TwoClaimWinners,
        &[
            "claims_one_winner_among_many",
            "claims_expired_taken_over_once",
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn errors_on_missing_keys_are_caught() {
    caught(
        Fault::ErrorsOnMissingKey,
        &["values_missing_key_is_none", "calls_missing_key_is_none"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn truncated_values_are_caught() {
    caught(Fault::TruncatesLargeValues, &["values_round_trip_exactly"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn claims_claimed_but_unsupported_are_caught() {
    caught(
        Fault::ClaimsUnsupported,
        &[
            "claims_one_winner_among_many",
            "claims_expired_taken_over_once",
            "claims_renew_extends_the_lease",
            "claims_stale_owner_does_nothing",
            "claims_release_allows_a_new_claim",
        ],
    )
    .await;
}
