//! What happened to the calls of a cache: counters and `tracing` events.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::{Digest, FnSpec};

/// How one cached call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The stored result was read.
    Hit,
    /// Another call of the same key in this process computed it; this one
    /// shared the result.
    Shared,
    /// Another worker (process or machine) held the key's claim; this call
    /// waited and then read its result.
    Waited,
    /// The body ran and its result was stored.
    Computed(Lead),
    /// The body ran uncached: the store failed (or the result is not one
    /// that is cached, such as an `Err`).
    Uncached,
}

/// How the caller that computed came to compute.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Lead {
    /// It took over another worker's claim: expired, or of a dead process.
    pub(crate) took_over: bool,
    /// It waited `claim_wait` for another worker, then computed anyway.
    pub(crate) gave_up: bool,
}

impl Outcome {
    fn name(self) -> &'static str {
        match self {
            Outcome::Hit => "hit",
            Outcome::Shared => "shared",
            Outcome::Waited => "waited-then-hit",
            Outcome::Computed(Lead {
                took_over: true, ..
            }) => "computed-after-takeover",
            Outcome::Computed(Lead { gave_up: true, .. }) => "computed-after-giving-up",
            Outcome::Computed(_) => "computed",
            Outcome::Uncached => "uncached",
        }
    }
}

/// Counts of what happened to a cache's calls since it was opened
/// ([`Cache::stats`](crate::Cache::stats)). Every call counts once in one of
/// `hits`, `shared`, `waited`, `computed` or `uncached`; `took_over` and
/// `gave_up` count some of the `computed` ones again, and `store_errors`
/// counts store failures that the cache logged and carried on from.
///
/// ```
/// use std::sync::Arc;
/// use fleche_core::{Cache, FnSpec, codec};
/// use fleche_memory::MemoryStore;
///
/// let store = Arc::new(MemoryStore::new());
/// let cache = Cache::new(store.clone(), store);
/// static SPEC: FnSpec = FnSpec::new("doc::stats");
/// let args = [("x", codec::digest(&1u8).unwrap())];
/// for _ in 0..3 {
///     let _: u8 = cache.get_or_compute_blocking(&SPEC, &args, || 1u8).unwrap();
/// }
/// let stats = cache.stats();
/// assert_eq!((stats.computed, stats.hits), (1, 2));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Calls answered by a stored result.
    pub hits: u64,
    /// Calls that shared the result of a concurrent call of the same key in
    /// this process (single-flight).
    pub shared: u64,
    /// Calls that waited for another worker's claim and then read its
    /// result.
    pub waited: u64,
    /// Calls whose body ran and whose result was stored.
    pub computed: u64,
    /// Of `computed`: calls that took over another worker's claim, expired
    /// or held by a process that is gone.
    pub took_over: u64,
    /// Of `computed`: calls that waited `claim_wait` for another worker and
    /// then computed anyway.
    pub gave_up: u64,
    /// Calls whose body ran without storing its result: after a store
    /// failure, or for a result that is not cached (an `Err`).
    pub uncached: u64,
    /// Store failures logged and carried on from (not counted in strict
    /// mode, where they are errors).
    pub store_errors: u64,
}

impl CacheStats {
    /// All calls counted.
    pub fn calls(&self) -> u64 {
        self.hits + self.shared + self.waited + self.computed + self.uncached
    }
}

/// The live counters behind [`CacheStats`].
#[derive(Default)]
pub(crate) struct Counters {
    hits: AtomicU64,
    shared: AtomicU64,
    waited: AtomicU64,
    computed: AtomicU64,
    took_over: AtomicU64,
    gave_up: AtomicU64,
    uncached: AtomicU64,
    store_errors: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    /// Counts the call and tells `tracing` (at debug level: every call).
    pub(crate) fn record(&self, spec: &FnSpec, key: Digest, outcome: Outcome) {
        tracing::debug!(function = spec.name(), %key, outcome = outcome.name(), "fleche: call");
        match outcome {
            Outcome::Hit => bump(&self.hits),
            Outcome::Shared => bump(&self.shared),
            Outcome::Waited => bump(&self.waited),
            Outcome::Computed(lead) => {
                bump(&self.computed);
                if lead.took_over {
                    bump(&self.took_over);
                }
                if lead.gave_up {
                    bump(&self.gave_up);
                }
            }
            Outcome::Uncached => bump(&self.uncached),
        }
    }

    pub(crate) fn store_error(&self) {
        bump(&self.store_errors);
    }

    pub(crate) fn snapshot(&self) -> CacheStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CacheStats {
            hits: get(&self.hits),
            shared: get(&self.shared),
            waited: get(&self.waited),
            computed: get(&self.computed),
            took_over: get(&self.took_over),
            gave_up: get(&self.gave_up),
            uncached: get(&self.uncached),
            store_errors: get(&self.store_errors),
        }
    }
}
