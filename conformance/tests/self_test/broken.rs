//! The broken stores: a wrapper around any store that delegates everything
//! and gets one thing wrong, the way a real backend author could.
//!
//! [`Broken`] is one *handle*: the factory gives each `open` a new one, all
//! sharing the location's inner store and its [`Shared`] state (what a
//! real backend keeps on its server or disk: tombstones, an index, a claim
//! table, damaged keys). What a handle keeps for itself (read caches) is
//! what a real client library keeps in its process.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use fleche_core::{
    Bytes, CallRecord, CallStore, Capabilities, Claim, Digest, ErrorKind, Order, Owner, Query,
    StoreError, ValueRef, ValueStore, async_trait,
};
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use serde_json::Value;

/// The one thing a broken store gets wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Nothing: the wrapper is faithful (the control).
    None,

    // --- Values (promise 1, 4) ---
    /// Values are silently cut to their first 4 MiB.
    TruncatesLargeValues,
    /// Values are stored in 8-byte blocks and read back whole blocks: the
    /// real length is lost, odd sizes come back zero-padded.
    PadsValuesToEightBytes,
    /// `get` and `get_result` of a missing key are an error, not `None`.
    ErrorsOnMissingKey,
    /// A deleted value key is remembered (a tombstone) and a later put of
    /// it is ignored, as if it were a duplicate.
    ValueTombstoneIgnoresPut,
    /// `get_many` asks `WHERE key IN (…) ORDER BY key`: answers come back
    /// in key order, not in the order asked.
    GetManySortedByKey,
    /// `get_many` answers the rows found first, then pads with `None`.
    GetManyPresentFirst,
    /// `get_many` returns only the rows found: missing keys are dropped.
    GetManyDropsMissing,
    /// `put_many` has an off-by-one and never stores its last item.
    PutManyDropsLast,

    // --- Records (promise 1, 2) ---
    /// Record timestamps are stored as milliseconds.
    TruncatesTimestampsToMillis,
    /// Record timestamps are stored as whole seconds.
    TruncatesTimestampsToSeconds,
    /// Metadata entries whose value is `null` are dropped (a serializer
    /// that skips `None`s).
    DropsNullMetadata,
    /// Metadata deeper than 3 levels is stored as its JSON text, as with a
    /// column-per-level schema.
    FlattensDeepMetadata,
    /// Overwriting a record keeps the old record's metadata: a torn write
    /// even without concurrency.
    KeepsOldMetadata,
    /// The first writer wins: a record put under a key that holds one is
    /// ignored.
    FirstWriterWins,
    /// A deleted record key is remembered (a tombstone) and a later put of
    /// it is ignored.
    RecordTombstoneIgnoresPut,
    /// `get_result` is served from a per-handle cache that `put` does not
    /// invalidate: an overwritten result keeps being served.
    ResultCacheSurvivesOverwrite,
    /// `get_result` is served from a per-handle cache that `delete` does
    /// not invalidate: a deleted record's result keeps being served.
    ResultCacheSurvivesDelete,

    // --- Concurrency (promise 2, 3) ---
    /// A put (of a value or a record) that arrives while another put is in
    /// flight is silently discarded.
    DropsConcurrentPuts,
    /// A record is written in two steps, like two columns updated
    /// separately: first every field but the result (keeping the result
    /// already there), then the result onto whatever record is there by
    /// then. Concurrent writers to one key leave a mix.
    TearsConcurrentRecords,
    /// A put takes a per-key lock without waiting: a put of a key that
    /// another put is writing fails with `Conflict` — so of many tasks
    /// putting the same value or record at once, all but one fail.
    ConflictsOnConcurrentPuts,
    /// Each handle caches what it read (and wrote) and never looks again:
    /// it never sees another handle's later writes, overwrites or deletes.
    HandleCachesReads,
    /// Writes are buffered in the process and flushed only when the last
    /// handle is dropped — on a clean exit; a killed process loses them.
    /// Reads in the process see the buffer, so one process sees no fault.
    WriteBehind,
    /// A record put writes the record without its metadata and returns; a
    /// background task adds the metadata a second later (or the last
    /// handle's drop does, on a clean exit). Reads in the process see the
    /// whole record meanwhile, so one process sees no fault; a process
    /// killed within that second leaves torn records that read as records.
    CompletesRecordsLater,

    // --- Queries (promise 4) ---
    /// Metadata is compared by its text: `7` matches `"7"`, `true` matches
    /// `"true"`.
    QueryMetadataAsText,
    /// The function name is matched as a prefix (`LIKE 'f%'`).
    QueryFunctionByPrefix,
    /// Argument names are matched as prefixes.
    QueryArgNameByPrefix,
    /// Only the first condition of the query is applied.
    QueryFirstConditionOnly,
    /// The conditions are joined with OR instead of AND.
    QueryOrsConditions,
    /// `created_after` is applied only together with `created_before` (a
    /// `BETWEEN` that needs both ends).
    QueryAfterNeedsBefore,
    /// `created_before` is inclusive (`<=`).
    QueryBeforeInclusive,
    /// The limit is applied only when an order is given.
    QueryLimitNeedsOrder,
    /// The limit is applied before the filter (a page of records, then
    /// filtered).
    QueryLimitBeforeFilter,
    /// Queries by function use an index that `put` adds to but an
    /// overwrite does not update: a record whose function changed is still
    /// found under its old function.
    QueryIndexStaleOnOverwrite,

    // --- Claims (promise 5) ---
    /// A claim is acquired whenever fewer than two live owners hold it.
    TwoClaimWinners,
    /// `capabilities()` says claims, but `claim`, `renew` and `release` are
    /// unsupported (the trait's defaults).
    ClaimsUnsupported,
    /// Leases are kept in whole seconds, rounded up (`EXPIRE` in seconds).
    LeaseRoundedUpToSeconds,
    /// `renew` adds the TTL to what is left of the lease.
    RenewAddsTtl,
    /// `renew` answers `true` but does not extend the lease.
    RenewDoesNotExtend,
    /// `release` drops every claim of the owner, not just the key's.
    ReleaseDropsAllOfOwner,
    /// `renew` is an upsert: renewing a key nobody holds answers `false`
    /// but leaves a claim of the renewer behind.
    RenewOfUnheldKeyClaims,

    // --- Errors (promise 7) ---
    /// No claims, and `claim`, `renew` and `release` answer with a
    /// `Backend` error that names no key (instead of `Unsupported` with
    /// the key).
    ClaimErrorsUntyped,
    /// A damaged record reads as missing.
    DamagedReadsAsNone,
    /// A damaged record reads as an `Unavailable` error.
    DamagedReadsAsUnavailable,
    /// A damaged record reads as a `Backend` error.
    DamagedReadsAsBackend,
    /// A damaged record reads as `Corrupt`, but the error names no key.
    CorruptWithoutKey,
    /// A key once found damaged stays refused (a quarantine list nobody
    /// clears): neither a delete nor the next put replaces it.
    DamageIsNeverCleared,
    /// `delete` reads the record first (to update an index) and fails with
    /// `Corrupt` on a damaged one, which can then never be removed.
    DeleteOfDamagedFails,
    /// `get` checks records, `query` does not: a query yields the damaged
    /// record as it was.
    QueryIgnoresDamage,
    /// The `Corrupt` error of a damaged record says where the store is —
    /// its location, password included.
    ErrorShowsPassword,
    /// `Debug` shows the location with its password.
    DebugShowsPassword,
    /// `backend_name` is empty: errors about the store name no backend.
    NamelessBackend,
    /// `Debug` writes nothing: a log line or a panic cannot say which
    /// store it was.
    EmptyDebug,
}

/// Values longer than this are cut, for [`Fault::TruncatesLargeValues`].
const TRUNCATE_AT: usize = 4 << 20;

/// What a handle's write-behind buffer holds: `None` is a delete.
#[derive(Default)]
struct Buffer {
    values: HashMap<Digest, Option<Bytes>>,
    records: HashMap<Digest, Option<CallRecord>>,
}

/// The state of one location that every handle on it shares (in this
/// process): what a real backend keeps beside its data.
#[derive(Default)]
pub(crate) struct Shared {
    /// Live handles, for [`Fault::WriteBehind`]'s flush.
    handles: AtomicUsize,
    /// Puts in flight, for [`Fault::DropsConcurrentPuts`].
    in_flight: AtomicUsize,
    /// Keys being written, for [`Fault::ConflictsOnConcurrentPuts`].
    writing: Mutex<HashSet<Digest>>,
    /// Records damaged by the factory (`Factory::damage_record`).
    pub(crate) damaged: Mutex<HashSet<Digest>>,
    /// Deleted keys, for the tombstone faults.
    value_tombstones: Mutex<HashSet<Digest>>,
    record_tombstones: Mutex<HashSet<Digest>>,
    /// Function name → keys, for [`Fault::QueryIndexStaleOnOverwrite`].
    index: Mutex<HashMap<String, HashSet<Digest>>>,
    /// Owners and lease ends per key, for the claim faults.
    claims: Mutex<HashMap<Digest, Vec<(Owner, Instant)>>>,
    /// Unflushed writes, for [`Fault::WriteBehind`].
    buffer: Mutex<Buffer>,
    /// Records written without their metadata, whole, for
    /// [`Fault::CompletesRecordsLater`]; and the lock its record writes
    /// take, so that a completion never lands after a newer write.
    incomplete: Mutex<HashMap<Digest, CallRecord>>,
    record_writes: tokio::sync::Mutex<()>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One handle on a store with `fault`.
pub(crate) struct Broken<S: ValueStore + CallStore> {
    fault: Fault,
    inner: Arc<S>,
    shared: Arc<Shared>,
    /// The location, as given (may hold a password).
    location: String,
    /// This handle's caches, for [`Fault::HandleCachesReads`] and the
    /// result-cache faults.
    read_values: Mutex<HashMap<Digest, Option<Bytes>>>,
    read_records: Mutex<HashMap<Digest, Option<CallRecord>>>,
    results: Mutex<HashMap<Digest, ValueRef>>,
}

impl<S: ValueStore + CallStore> Broken<S> {
    pub(crate) fn new(fault: Fault, inner: Arc<S>, shared: Arc<Shared>, location: String) -> Self {
        shared.handles.fetch_add(1, Ordering::SeqCst);
        Self {
            fault,
            inner,
            shared,
            location,
            read_values: Mutex::default(),
            read_records: Mutex::default(),
            results: Mutex::default(),
        }
    }

    fn missing(&self, key: Digest) -> StoreError {
        StoreError::new(ErrorKind::Unavailable, "broken", "no such key").with_key(key)
    }

    /// What reading the damaged record `key` gives: `Corrupt` with the key,
    /// or the fault's mistake.
    fn damaged<T>(&self, key: Digest) -> Option<Result<Option<T>, StoreError>> {
        if !lock(&self.shared.damaged).contains(&key) {
            return None;
        }
        let message = match self.fault {
            Fault::ErrorShowsPassword => {
                format!("the record in {} does not decode", self.location)
            }
            _ => "the stored record does not decode".to_owned(),
        };
        let err = |kind| StoreError::new(kind, "broken", message.clone());
        Some(match self.fault {
            Fault::DamagedReadsAsNone => Ok(None),
            Fault::DamagedReadsAsUnavailable => Err(err(ErrorKind::Unavailable).with_key(key)),
            Fault::DamagedReadsAsBackend => Err(err(ErrorKind::Backend).with_key(key)),
            Fault::CorruptWithoutKey => Err(err(ErrorKind::Corrupt)),
            _ => Err(err(ErrorKind::Corrupt).with_key(key)),
        })
    }

    /// A put or delete replaces a damaged record (except under
    /// [`Fault::DamageIsNeverCleared`]).
    fn repair(&self, key: Digest) {
        if self.fault != Fault::DamageIsNeverCleared {
            lock(&self.shared.damaged).remove(&key);
        }
    }

    /// Runs `put` unless another put is in flight (then drops it, saying
    /// nothing). Yields in between, so that concurrent puts overlap.
    async fn put_unless_busy<F: Future<Output = Result<(), StoreError>>>(
        &self,
        put: F,
    ) -> Result<(), StoreError> {
        let busy = self.shared.in_flight.fetch_add(1, Ordering::SeqCst) > 0;
        tokio::task::yield_now().await;
        let out = if busy { Ok(()) } else { put.await };
        self.shared.in_flight.fetch_sub(1, Ordering::SeqCst);
        out
    }

    /// Runs `put` holding `key`'s lock; `Conflict` if another put holds it.
    async fn put_locked<F: Future<Output = Result<(), StoreError>>>(
        &self,
        key: Digest,
        put: F,
    ) -> Result<(), StoreError> {
        if !lock(&self.shared.writing).insert(key) {
            return Err(
                StoreError::new(ErrorKind::Conflict, "broken", "the key is being written")
                    .with_key(key),
            );
        }
        // The write takes a moment, as a real one does.
        tokio::time::sleep(Duration::from_millis(2)).await;
        let out = put.await;
        lock(&self.shared.writing).remove(&key);
        out
    }
}

impl<S: ValueStore + CallStore> fmt::Debug for Broken<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.fault == Fault::EmptyDebug {
            return Ok(());
        }
        let location = if self.fault == Fault::DebugShowsPassword {
            self.location.clone()
        } else {
            fleche_core::redact_url(&self.location)
        };
        f.debug_struct("Broken")
            .field("fault", &self.fault)
            .field("location", &location)
            .field("inner", &self.inner)
            .finish()
    }
}

impl<S: ValueStore + CallStore> Drop for Broken<S> {
    fn drop(&mut self) {
        let last = self.shared.handles.fetch_sub(1, Ordering::SeqCst) == 1;
        if !last
            || !matches!(
                self.fault,
                Fault::WriteBehind | Fault::CompletesRecordsLater
            )
        {
            return;
        }
        // The clean exit: flush the buffer, complete the records. Drop
        // cannot await, and may run inside a runtime: a thread of its own,
        // with a runtime of its own.
        let (inner, shared) = (&*self.inner, &*self.shared);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime to flush in");
                rt.block_on(async {
                    let _writing = shared.record_writes.lock().await;
                    let mut buffer = std::mem::take(&mut *lock(&shared.buffer));
                    let incomplete = std::mem::take(&mut *lock(&shared.incomplete));
                    buffer
                        .records
                        .extend(incomplete.into_iter().map(|(k, r)| (k, Some(r))));
                    flush(inner, buffer).await
                })
                .expect("the flush on drop failed");
            });
        });
    }
}

async fn flush<S: ValueStore + CallStore>(inner: &S, buffer: Buffer) -> Result<(), StoreError> {
    for (key, value) in buffer.values {
        match value {
            Some(bytes) => ValueStore::put(inner, key, bytes).await?,
            None => drop(ValueStore::delete(inner, key).await?),
        }
    }
    for (key, record) in buffer.records {
        match record {
            Some(record) => CallStore::put(inner, record).await?,
            None => drop(CallStore::delete(inner, key).await?),
        }
    }
    Ok(())
}

/// `bytes` zero-padded to a multiple of 8.
fn pad(bytes: Bytes) -> Bytes {
    let mut v = bytes.to_vec();
    v.resize(v.len().next_multiple_of(8), 0);
    Bytes::from(v)
}

/// `value` without its `null` entries, at every depth.
fn drop_nulls(value: &mut Value) {
    if let Value::Object(map) = value {
        map.retain(|_, v| !v.is_null());
        map.values_mut().for_each(drop_nulls);
    }
}

/// `value`, at `depth` (a namespace's value is at 1), with every object at
/// depth 3 or more turned into its JSON text.
fn flatten(value: &mut Value, depth: usize) {
    if let Value::Object(map) = value {
        if depth >= 3 {
            *value = Value::String(value.to_string());
        } else {
            map.values_mut().for_each(|v| flatten(v, depth + 1));
        }
    }
}

/// A JSON value as text: `"7"` and `7` both give `7`.
fn as_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[async_trait]
impl<S: ValueStore + CallStore + 'static> ValueStore for Broken<S> {
    async fn put(&self, key: Digest, bytes: Bytes) -> Result<(), StoreError> {
        let inner = &*self.inner;
        match self.fault {
            Fault::DropsConcurrentPuts => {
                self.put_unless_busy(ValueStore::put(inner, key, bytes))
                    .await
            }
            Fault::ConflictsOnConcurrentPuts => {
                self.put_locked(key, ValueStore::put(inner, key, bytes))
                    .await
            }
            Fault::TruncatesLargeValues if bytes.len() > TRUNCATE_AT => {
                ValueStore::put(inner, key, bytes.slice(..TRUNCATE_AT)).await
            }
            Fault::PadsValuesToEightBytes => ValueStore::put(inner, key, pad(bytes)).await,
            Fault::ValueTombstoneIgnoresPut
                if lock(&self.shared.value_tombstones).contains(&key) =>
            {
                Ok(())
            }
            Fault::WriteBehind => {
                lock(&self.shared.buffer).values.insert(key, Some(bytes));
                Ok(())
            }
            Fault::HandleCachesReads => {
                ValueStore::put(inner, key, bytes.clone()).await?;
                lock(&self.read_values).insert(key, Some(bytes));
                Ok(())
            }
            _ => ValueStore::put(inner, key, bytes).await,
        }
    }

    async fn get(&self, key: Digest) -> Result<Option<Bytes>, StoreError> {
        match self.fault {
            Fault::WriteBehind => {
                if let Some(buffered) = lock(&self.shared.buffer).values.get(&key) {
                    return Ok(buffered.clone());
                }
            }
            Fault::HandleCachesReads => {
                if let Some(cached) = lock(&self.read_values).get(&key) {
                    return Ok(cached.clone());
                }
                let got = ValueStore::get(&*self.inner, key).await?;
                lock(&self.read_values).insert(key, got.clone());
                return Ok(got);
            }
            _ => {}
        }
        let got = ValueStore::get(&*self.inner, key).await?;
        if self.fault == Fault::ErrorsOnMissingKey && got.is_none() {
            return Err(self.missing(key));
        }
        Ok(got)
    }

    async fn contains(&self, key: Digest) -> Result<bool, StoreError> {
        match self.fault {
            Fault::WriteBehind | Fault::HandleCachesReads => {
                Ok(ValueStore::get(self, key).await?.is_some())
            }
            _ => self.inner.contains(key).await,
        }
    }

    async fn delete(&self, key: Digest) -> Result<bool, StoreError> {
        match self.fault {
            Fault::ValueTombstoneIgnoresPut => {
                lock(&self.shared.value_tombstones).insert(key);
            }
            Fault::WriteBehind => {
                let was = ValueStore::get(self, key).await?.is_some();
                lock(&self.shared.buffer).values.insert(key, None);
                return Ok(was);
            }
            Fault::HandleCachesReads => {
                lock(&self.read_values).insert(key, None);
            }
            _ => {}
        }
        ValueStore::delete(&*self.inner, key).await
    }

    fn list(&self, prefix: &str) -> BoxStream<'_, Result<Digest, StoreError>> {
        if self.fault != Fault::WriteBehind {
            return self.inner.list(prefix);
        }
        // The inner store's keys, with the buffer's puts and deletes.
        let prefix = prefix.to_owned();
        stream::once(async move {
            let mut keys: HashSet<Digest> = self.inner.list(&prefix).try_collect().await?;
            for (key, value) in &lock(&self.shared.buffer).values {
                match value {
                    Some(_) if key.has_prefix(&prefix) => keys.insert(*key),
                    _ => keys.remove(key),
                };
            }
            Ok::<_, StoreError>(stream::iter(keys.into_iter().map(Ok)))
        })
        .try_flatten()
        .boxed()
    }

    async fn put_many(&self, mut items: Vec<(Digest, Bytes)>) -> Result<(), StoreError> {
        match self.fault {
            Fault::None => return self.inner.put_many(items).await,
            Fault::PutManyDropsLast => {
                items.pop();
            }
            _ => {}
        }
        for (key, bytes) in items {
            ValueStore::put(self, key, bytes).await?;
        }
        Ok(())
    }

    async fn get_many(&self, keys: &[Digest]) -> Result<Vec<Option<Bytes>>, StoreError> {
        if self.fault == Fault::None {
            return self.inner.get_many(keys).await;
        }
        let mut asked = keys.to_vec();
        if self.fault == Fault::GetManySortedByKey {
            asked.sort();
        }
        let mut out = Vec::with_capacity(asked.len());
        for key in asked {
            out.push(ValueStore::get(self, key).await?);
        }
        match self.fault {
            Fault::GetManyPresentFirst => out.sort_by_key(Option::is_none),
            Fault::GetManyDropsMissing => out.retain(Option::is_some),
            _ => {}
        }
        Ok(out)
    }
}

impl<S: ValueStore + CallStore + 'static> Broken<S> {
    /// Whether `r` matches `q`, as this store (mis)reads the query.
    fn matches(&self, q: &Query, r: &CallRecord) -> bool {
        let f = self.fault;
        let mut conditions = Vec::new();
        if let Some(function) = &q.function {
            conditions.push(match f {
                Fault::QueryFunctionByPrefix => r.function.starts_with(function.as_str()),
                Fault::QueryIndexStaleOnOverwrite => lock(&self.shared.index)
                    .get(function)
                    .is_some_and(|keys| keys.contains(&r.key)),
                _ => r.function == *function,
            });
        }
        for (name, digest) in &q.args {
            conditions.push(r.args.iter().any(|a| {
                a.digest == *digest
                    && match f {
                        Fault::QueryArgNameByPrefix => a.name.starts_with(name.as_str()),
                        _ => a.name == *name,
                    }
            }));
        }
        for (path, value) in &q.metadata {
            let there = r.metadata_at(path);
            conditions.push(match f {
                Fault::QueryMetadataAsText => there.is_some_and(|v| as_text(v) == as_text(value)),
                _ => there == Some(value),
            });
        }
        if let Some(t) = q.created_after
            && !(f == Fault::QueryAfterNeedsBefore && q.created_before.is_none())
        {
            conditions.push(r.created_at >= t);
        }
        if let Some(t) = q.created_before {
            conditions.push(match f {
                Fault::QueryBeforeInclusive => r.created_at <= t,
                _ => r.created_at < t,
            });
        }
        match f {
            Fault::QueryFirstConditionOnly => conditions.first().copied().unwrap_or(true),
            Fault::QueryOrsConditions => conditions.is_empty() || conditions.contains(&true),
            _ => conditions.into_iter().all(|c| c),
        }
    }

    /// `q` over `records` as this store (mis)applies it.
    fn apply(&self, q: &Query, records: Vec<CallRecord>) -> Vec<CallRecord> {
        // Order and limit alone, by the core's rules.
        let mut order_limit = Query::new().order(q.order);
        order_limit.limit = q.limit;
        match self.fault {
            Fault::QueryLimitBeforeFilter => {
                let mut page = order_limit.apply(records);
                page.retain(|r| self.matches(q, r));
                page
            }
            Fault::QueryLimitNeedsOrder if q.order == Order::Any => {
                records.into_iter().filter(|r| self.matches(q, r)).collect()
            }
            _ => order_limit.apply(records.into_iter().filter(|r| self.matches(q, r))),
        }
    }

    /// Every record, with the write-behind buffer applied and incomplete
    /// records whole.
    async fn all_records(&self) -> Result<Vec<CallRecord>, StoreError> {
        let _writing = match self.fault {
            Fault::CompletesRecordsLater => Some(self.shared.record_writes.lock().await),
            _ => None,
        };
        let mut all: HashMap<Digest, CallRecord> = self
            .inner
            .query(&Query::new())
            .map_ok(|r| (r.key, r))
            .try_collect()
            .await?;
        for (key, record) in &lock(&self.shared.buffer).records {
            match record {
                Some(r) => all.insert(*key, r.clone()),
                None => all.remove(key),
            };
        }
        for (key, whole) in &*lock(&self.shared.incomplete) {
            all.insert(*key, whole.clone());
        }
        Ok(all.into_values().collect())
    }

    /// The claim table of the claim faults: one holder per key (two under
    /// [`Fault::TwoClaimWinners`]), on the monotonic clock.
    fn claim_own(&self, key: Digest, owner: &Owner, ttl: Duration) -> Claim {
        let ttl = match self.fault {
            Fault::LeaseRoundedUpToSeconds => Duration::from_secs(ttl.as_secs_f64().ceil() as u64),
            _ => ttl,
        };
        let capacity = if self.fault == Fault::TwoClaimWinners {
            2
        } else {
            1
        };
        let mut table = lock(&self.shared.claims);
        let now = Instant::now();
        let holders = table.entry(key).or_default();
        let took_over = holders.iter().any(|(o, until)| *until <= now && o != owner);
        holders.retain(|(o, until)| *until > now || o == owner);
        if let Some((_, until)) = holders.iter_mut().find(|(o, _)| o == owner) {
            *until = now + ttl;
            return Claim::Acquired { took_over: false };
        }
        if holders.len() < capacity {
            holders.push((owner.clone(), now + ttl));
            return Claim::Acquired { took_over };
        }
        Claim::Held {
            holder: holders[0].0.clone(),
            remaining: holders[0].1 - now,
        }
    }

    fn renew_own(&self, key: Digest, owner: &Owner, ttl: Duration) -> bool {
        let ttl = match self.fault {
            Fault::LeaseRoundedUpToSeconds => Duration::from_secs(ttl.as_secs_f64().ceil() as u64),
            _ => ttl,
        };
        let mut table = lock(&self.shared.claims);
        let now = Instant::now();
        let holders = table.entry(key).or_default();
        let Some((_, until)) = holders.iter_mut().find(|(o, _)| o == owner) else {
            if self.fault == Fault::RenewOfUnheldKeyClaims && holders.is_empty() {
                holders.push((owner.clone(), now + ttl));
            }
            return false;
        };
        match self.fault {
            Fault::RenewAddsTtl => *until += ttl,
            Fault::RenewDoesNotExtend => {}
            _ => *until = now + ttl,
        }
        true
    }

    fn release_own(&self, key: Digest, owner: &Owner) -> bool {
        let mut table = lock(&self.shared.claims);
        let held = table
            .get(&key)
            .is_some_and(|holders| holders.iter().any(|(o, _)| o == owner));
        if self.fault == Fault::ReleaseDropsAllOfOwner {
            for holders in table.values_mut() {
                holders.retain(|(o, _)| o != owner);
            }
        } else if let Some(holders) = table.get_mut(&key) {
            holders.retain(|(o, _)| o != owner);
        }
        held
    }

    /// `q` as this store answers it, damage aside.
    fn query_undamaged<'a>(
        &'a self,
        query: &'a Query,
    ) -> BoxStream<'a, Result<CallRecord, StoreError>> {
        match self.fault {
            Fault::QueryMetadataAsText
            | Fault::QueryFunctionByPrefix
            | Fault::QueryArgNameByPrefix
            | Fault::QueryFirstConditionOnly
            | Fault::QueryOrsConditions
            | Fault::QueryAfterNeedsBefore
            | Fault::QueryBeforeInclusive
            | Fault::QueryLimitNeedsOrder
            | Fault::QueryLimitBeforeFilter
            | Fault::QueryIndexStaleOnOverwrite
            | Fault::WriteBehind
            | Fault::CompletesRecordsLater => stream::once(async move {
                let all = self.all_records().await?;
                let out = match self.fault {
                    Fault::WriteBehind | Fault::CompletesRecordsLater => query.apply(all),
                    _ => self.apply(query, all),
                };
                Ok::<_, StoreError>(stream::iter(out.into_iter().map(Ok)))
            })
            .try_flatten()
            .boxed(),
            _ => self.inner.query(query),
        }
    }

    /// Whether this fault keeps its own claim table.
    fn own_claims(&self) -> bool {
        matches!(
            self.fault,
            Fault::TwoClaimWinners
                | Fault::LeaseRoundedUpToSeconds
                | Fault::RenewAddsTtl
                | Fault::RenewDoesNotExtend
                | Fault::ReleaseDropsAllOfOwner
                | Fault::RenewOfUnheldKeyClaims
        )
    }

    /// The error of a claim operation under the claim-error faults.
    fn claim_error(&self, key: Digest, operation: &str) -> Option<StoreError> {
        match self.fault {
            Fault::ClaimsUnsupported => Some(
                StoreError::unsupported(CallStore::backend_name(self), operation).with_key(key),
            ),
            Fault::ClaimErrorsUntyped => Some(StoreError::new(
                ErrorKind::Backend,
                "broken",
                format!("{operation}: no claim table"),
            )),
            _ => None,
        }
    }
}

#[async_trait]
impl<S: ValueStore + CallStore + 'static> CallStore for Broken<S> {
    async fn put(&self, mut record: CallRecord) -> Result<(), StoreError> {
        let inner = &*self.inner;
        self.repair(record.key);
        match self.fault {
            Fault::DropsConcurrentPuts => self.put_unless_busy(CallStore::put(inner, record)).await,
            Fault::ConflictsOnConcurrentPuts => {
                self.put_locked(record.key, CallStore::put(inner, record))
                    .await
            }
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
            Fault::RecordTombstoneIgnoresPut
                if lock(&self.shared.record_tombstones).contains(&record.key) =>
            {
                Ok(())
            }
            Fault::TruncatesTimestampsToMillis | Fault::TruncatesTimestampsToSeconds => {
                let unit = if self.fault == Fault::TruncatesTimestampsToMillis {
                    1_000
                } else {
                    1_000_000
                };
                let micros = record.created_at.as_micros();
                record.created_at =
                    fleche_core::Timestamp::from_micros(micros.div_euclid(unit) * unit);
                CallStore::put(inner, record).await
            }
            Fault::DropsNullMetadata => {
                record.metadata.retain(|_, v| !v.is_null());
                record.metadata.values_mut().for_each(drop_nulls);
                CallStore::put(inner, record).await
            }
            Fault::FlattensDeepMetadata => {
                record.metadata.values_mut().for_each(|v| flatten(v, 1));
                CallStore::put(inner, record).await
            }
            Fault::QueryIndexStaleOnOverwrite => {
                lock(&self.shared.index)
                    .entry(record.function.clone())
                    .or_default()
                    .insert(record.key);
                CallStore::put(inner, record).await
            }
            Fault::ResultCacheSurvivesDelete => {
                lock(&self.results).remove(&record.key);
                CallStore::put(inner, record).await
            }
            Fault::WriteBehind => {
                lock(&self.shared.buffer)
                    .records
                    .insert(record.key, Some(record));
                Ok(())
            }
            Fault::CompletesRecordsLater => {
                let _writing = self.shared.record_writes.lock().await;
                let mut first = record.clone();
                first.metadata.clear();
                CallStore::put(inner, first).await?;
                lock(&self.shared.incomplete).insert(record.key, record.clone());
                let (inner, shared) = (self.inner.clone(), self.shared.clone());
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    let _writing = shared.record_writes.lock().await;
                    // Unless a newer put or a delete came since.
                    if lock(&shared.incomplete).get(&record.key) == Some(&record) {
                        let key = record.key;
                        if CallStore::put(&*inner, record).await.is_ok() {
                            lock(&shared.incomplete).remove(&key);
                        }
                    }
                });
                Ok(())
            }
            Fault::HandleCachesReads => {
                CallStore::put(inner, record.clone()).await?;
                lock(&self.read_records).insert(record.key, Some(record));
                Ok(())
            }
            _ => CallStore::put(inner, record).await,
        }
    }

    async fn get(&self, key: Digest) -> Result<Option<CallRecord>, StoreError> {
        if let Some(damaged) = self.damaged(key) {
            return damaged;
        }
        match self.fault {
            Fault::WriteBehind => {
                if let Some(buffered) = lock(&self.shared.buffer).records.get(&key) {
                    return Ok(buffered.clone());
                }
            }
            Fault::CompletesRecordsLater => {
                // Reading while no record write is under way: what is in
                // the store and the incomplete records agree.
                let _writing = self.shared.record_writes.lock().await;
                if let Some(whole) = lock(&self.shared.incomplete).get(&key) {
                    return Ok(Some(whole.clone()));
                }
                return CallStore::get(&*self.inner, key).await;
            }
            Fault::HandleCachesReads => {
                if let Some(cached) = lock(&self.read_records).get(&key) {
                    return Ok(cached.clone());
                }
                let got = CallStore::get(&*self.inner, key).await?;
                lock(&self.read_records).insert(key, got.clone());
                return Ok(got);
            }
            _ => {}
        }
        let got = CallStore::get(&*self.inner, key).await?;
        if self.fault == Fault::ErrorsOnMissingKey && got.is_none() {
            return Err(self.missing(key));
        }
        Ok(got)
    }

    async fn get_result(&self, key: Digest) -> Result<Option<ValueRef>, StoreError> {
        if let Some(damaged) = self.damaged(key) {
            return damaged;
        }
        match self.fault {
            Fault::ResultCacheSurvivesOverwrite | Fault::ResultCacheSurvivesDelete => {
                if let Some(cached) = lock(&self.results).get(&key) {
                    return Ok(Some(cached.clone()));
                }
                let got = self.inner.get_result(key).await?;
                if let Some(result) = &got {
                    lock(&self.results).insert(key, result.clone());
                }
                Ok(got)
            }
            Fault::WriteBehind
            | Fault::CompletesRecordsLater
            | Fault::HandleCachesReads
            | Fault::ErrorsOnMissingKey => Ok(CallStore::get(self, key).await?.map(|r| r.result)),
            _ => self.inner.get_result(key).await,
        }
    }

    async fn delete(&self, key: Digest) -> Result<bool, StoreError> {
        if self.fault == Fault::DeleteOfDamagedFails
            && let Some(Err(e)) = self.damaged::<()>(key)
        {
            return Err(e);
        }
        self.repair(key);
        match self.fault {
            Fault::RecordTombstoneIgnoresPut => {
                lock(&self.shared.record_tombstones).insert(key);
            }
            Fault::QueryIndexStaleOnOverwrite => {
                for keys in lock(&self.shared.index).values_mut() {
                    keys.remove(&key);
                }
            }
            Fault::ResultCacheSurvivesOverwrite => {
                lock(&self.results).remove(&key);
            }
            Fault::WriteBehind => {
                let was = CallStore::get(self, key).await?.is_some();
                lock(&self.shared.buffer).records.insert(key, None);
                return Ok(was);
            }
            Fault::CompletesRecordsLater => {
                let _writing = self.shared.record_writes.lock().await;
                lock(&self.shared.incomplete).remove(&key);
                return CallStore::delete(&*self.inner, key).await;
            }
            Fault::HandleCachesReads => {
                lock(&self.read_records).insert(key, None);
            }
            _ => {}
        }
        CallStore::delete(&*self.inner, key).await
    }

    fn query<'a>(&'a self, query: &'a Query) -> BoxStream<'a, Result<CallRecord, StoreError>> {
        // A damaged record reads in a query as it does by `get`.
        let damage = self.fault != Fault::QueryIgnoresDamage;
        self.query_undamaged(query)
            .filter_map(move |item| async move {
                match item {
                    Ok(r) if damage => match self.damaged::<()>(r.key) {
                        Some(Err(e)) => Some(Err(e)),
                        Some(Ok(_)) => None,
                        None => Some(Ok(r)),
                    },
                    other => Some(other),
                }
            })
            .boxed()
    }

    fn capabilities(&self) -> Capabilities {
        let mut caps = self.inner.capabilities();
        if self.fault == Fault::ClaimErrorsUntyped {
            caps.claims = false;
        }
        caps
    }

    async fn claim(&self, key: Digest, owner: &Owner, ttl: Duration) -> Result<Claim, StoreError> {
        if let Some(e) = self.claim_error(key, "claim") {
            return Err(e);
        }
        if self.own_claims() {
            return Ok(self.claim_own(key, owner, ttl));
        }
        self.inner.claim(key, owner, ttl).await
    }

    async fn renew(&self, key: Digest, owner: &Owner, ttl: Duration) -> Result<bool, StoreError> {
        if let Some(e) = self.claim_error(key, "renew") {
            return Err(e);
        }
        if self.own_claims() {
            return Ok(self.renew_own(key, owner, ttl));
        }
        self.inner.renew(key, owner, ttl).await
    }

    async fn release(&self, key: Digest, owner: &Owner) -> Result<bool, StoreError> {
        if let Some(e) = self.claim_error(key, "release") {
            return Err(e);
        }
        if self.own_claims() {
            return Ok(self.release_own(key, owner));
        }
        self.inner.release(key, owner).await
    }

    fn backend_name(&self) -> &'static str {
        match self.fault {
            Fault::None => self.inner.backend_name(),
            Fault::NamelessBackend => "",
            _ => "broken",
        }
    }
}
