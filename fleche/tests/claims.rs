//! Claims through the Cache: waiting for another worker, taking over an
//! expired claim, renewing a lease, and the bound on waiting. The memory
//! store offers claims; `ClaimPolicy::Always` makes the cache use them.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use fleche::memory::MemoryStore;
use fleche::{Cache, CallStore, Claim, ClaimPolicy, Owner, fleche};

fn cache_on(store: &Arc<MemoryStore>, ttl: Duration, wait: Duration) -> Cache {
    Cache::builder(store.clone(), store.clone())
        .claims(ClaimPolicy::Always)
        .claim_timing(ttl, wait)
        .build()
}

static WAIT_RUNS: AtomicUsize = AtomicUsize::new(0);

#[fleche]
fn waited_for(x: u64) -> u64 {
    WAIT_RUNS.fetch_add(1, Ordering::SeqCst);
    x + 1
}

/// While another worker holds a live claim, a caller waits and then reads
/// the other worker's result instead of computing it again.
#[tokio::test(flavor = "multi_thread")]
async fn a_live_claim_makes_others_wait_for_the_result() {
    let store = Arc::new(MemoryStore::new());
    let key = waited_for::digest(&1);
    let other = Owner::new();
    assert!(
        store
            .claim(key, &other, Duration::from_secs(60))
            .await
            .unwrap()
            .is_acquired()
    );

    let waiter_cache = cache_on(&store, Duration::from_secs(60), Duration::from_secs(60));
    let started = Instant::now();
    let waiter = std::thread::spawn(move || fleche::with_cache(waiter_cache, || waited_for(1)));

    // The "other worker" computes (through a cache that does not claim),
    // stores, and releases.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let other_cache = Cache::builder(store.clone(), store.clone())
        .claims(ClaimPolicy::Never)
        .build();
    assert_eq!(fleche::with_cache(other_cache, || waited_for(1)), 2);
    assert!(store.release(key, &other).await.unwrap());

    assert_eq!(waiter.join().unwrap(), 2);
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(
        WAIT_RUNS.load(Ordering::SeqCst),
        1,
        "the waiter must not compute"
    );
}

static TAKEOVER_RUNS: AtomicUsize = AtomicUsize::new(0);

#[fleche]
fn taken_over(x: u64) -> u64 {
    TAKEOVER_RUNS.fetch_add(1, Ordering::SeqCst);
    x * 2
}

/// A crashed worker's claim expires and is taken over; afterwards the claim
/// is released, so a new claimer gets it at once.
#[tokio::test(flavor = "multi_thread")]
async fn an_expired_claim_is_taken_over_and_released_after() {
    let store = Arc::new(MemoryStore::new());
    let key = taken_over::digest(&5);
    let crashed = Owner::new();
    assert!(
        store
            .claim(key, &crashed, Duration::from_millis(100))
            .await
            .unwrap()
            .is_acquired()
    );

    let cache = cache_on(&store, Duration::from_secs(10), Duration::from_secs(60));
    let started = Instant::now();
    let got = tokio::task::spawn_blocking(move || fleche::with_cache(cache, || taken_over(5)))
        .await
        .unwrap();
    assert_eq!(got, 10);
    assert!(
        started.elapsed() >= Duration::from_millis(90),
        "it waited for the lease to run out"
    );
    assert_eq!(TAKEOVER_RUNS.load(Ordering::SeqCst), 1);

    let next = Owner::new();
    assert_eq!(
        store
            .claim(key, &next, Duration::from_secs(1))
            .await
            .unwrap(),
        Claim::Acquired { took_over: false }
    );
    assert!(
        !store.release(key, &crashed).await.unwrap(),
        "the crashed owner can no longer release"
    );
}

#[fleche]
async fn long_running(x: u64) -> u64 {
    tokio::time::sleep(Duration::from_millis(2000)).await;
    x
}

/// The lease is renewed while the body runs, so a short TTL does not let
/// another worker in during a long computation.
#[tokio::test(flavor = "multi_thread")]
async fn the_lease_is_renewed_while_the_body_runs() {
    let store = Arc::new(MemoryStore::new());
    // A 600 ms lease renewed every 200 ms: checked at 1.3 s, two leases in.
    let cache = cache_on(&store, Duration::from_millis(600), Duration::from_secs(60));
    let key = long_running::digest(&9);
    let worker = tokio::spawn(
        fleche::Scope::current()
            .with_cache(cache)
            .run_async(long_running(9)),
    );

    tokio::time::sleep(Duration::from_millis(1300)).await; // two leases later
    let intruder = Owner::new();
    match store
        .claim(key, &intruder, Duration::from_secs(1))
        .await
        .unwrap()
    {
        Claim::Held { .. } => {}
        other => panic!("the lease expired while the body ran: {other:?}"),
    }
    assert_eq!(worker.await.unwrap(), 9);
}

static IMPATIENT_RUNS: AtomicUsize = AtomicUsize::new(0);

#[fleche]
fn impatient(x: u64) -> u64 {
    IMPATIENT_RUNS.fetch_add(1, Ordering::SeqCst);
    x
}

/// Waiting is bounded: past `claim_wait` the caller computes anyway.
#[tokio::test(flavor = "multi_thread")]
async fn waiting_is_bounded() {
    let store = Arc::new(MemoryStore::new());
    let key = impatient::digest(&1);
    let holder = Owner::new();
    assert!(
        store
            .claim(key, &holder, Duration::from_secs(60))
            .await
            .unwrap()
            .is_acquired()
    );
    // 1.5 s: long enough that a backoff not cut at the deadline (10 ms
    // doubling to 1 s) would overshoot it by most of a second.
    let bound = Duration::from_millis(1500);
    let cache = cache_on(&store, Duration::from_secs(10), bound);
    let started = Instant::now();
    let c = cache.clone();
    let got = tokio::task::spawn_blocking(move || fleche::with_cache(c, || impatient(1)))
        .await
        .unwrap();
    assert_eq!(got, 1);
    let waited = started.elapsed();
    assert!(waited >= bound, "gave up too early: {waited:?}");
    // The promise is ~50 ms; the slack is for a loaded test machine.
    assert!(
        waited < bound + Duration::from_millis(250),
        "waited {:?} past the bound",
        waited - bound
    );
    assert_eq!(IMPATIENT_RUNS.load(Ordering::SeqCst), 1);
    let stats = cache.stats();
    assert_eq!((stats.computed, stats.gave_up), (1, 1), "{stats:?}");
    // The holder's claim is untouched.
    assert!(
        store
            .renew(key, &holder, Duration::from_secs(60))
            .await
            .unwrap()
    );
}

static PANIC_RUNS: AtomicUsize = AtomicUsize::new(0);

#[fleche]
fn panics_first(x: u64) -> u64 {
    if PANIC_RUNS.fetch_add(1, Ordering::SeqCst) == 0 {
        panic!("first run fails");
    }
    x
}

/// A body that panics gives up its claim and its flight: the next caller
/// computes at once instead of waiting for the lease.
#[tokio::test(flavor = "multi_thread")]
async fn a_panicking_body_releases_its_claim() {
    let store = Arc::new(MemoryStore::new());
    let cache = cache_on(&store, Duration::from_secs(60), Duration::from_secs(60));
    let c = cache.clone();
    let first =
        tokio::task::spawn_blocking(move || fleche::with_cache(c, || panics_first(3))).await;
    assert!(first.is_err());
    let started = Instant::now();
    let second = tokio::task::spawn_blocking(move || fleche::with_cache(cache, || panics_first(3)))
        .await
        .unwrap();
    assert_eq!(second, 3);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "waited for the lease of a dead body"
    );
}

static ORPHAN_RUNS: AtomicUsize = AtomicUsize::new(0);

#[fleche]
fn orphaned(x: u64) -> u64 {
    ORPHAN_RUNS.fetch_add(1, Ordering::SeqCst);
    x + 100
}

/// The token of a process on this host that is gone: this process's own
/// token with another start time, as a process whose id was reused.
fn dead_owner_here() -> Owner {
    let live = Owner::new();
    let mut fields: Vec<&str> = live.as_str().rsplitn(6, ':').collect();
    // From the right: suffix, since, namespace, start, pid, host.
    let start: u64 = fields[3].parse().expect("a start time on Linux");
    let other_start = (start + 1).to_string();
    fields[3] = &other_start;
    fields.reverse();
    Owner::from_string(fields.join(":"))
}

/// A claim held by a process of this host that is gone is taken over at
/// once, not when its (here: one hour) lease runs out; a live holder of
/// this host is waited for.
#[tokio::test(flavor = "multi_thread")]
async fn a_dead_holder_on_this_host_is_taken_over_at_once() {
    assert!(!Owner::new().is_dead_here(), "this process lives");
    let dead = dead_owner_here();
    assert!(dead.is_dead_here(), "{dead}");

    let store = Arc::new(MemoryStore::new());
    let key = orphaned::digest(&1);
    let hour = Duration::from_secs(3600);
    assert!(store.claim(key, &dead, hour).await.unwrap().is_acquired());
    let cache = cache_on(&store, Duration::from_secs(10), hour);
    let started = Instant::now();
    let c = cache.clone();
    let got = tokio::task::spawn_blocking(move || fleche::with_cache(c, || orphaned(1)))
        .await
        .unwrap();
    assert_eq!(got, 101);
    assert!(started.elapsed() < Duration::from_secs(5), "it waited");
    assert_eq!(ORPHAN_RUNS.load(Ordering::SeqCst), 1);
    let stats = cache.stats();
    assert_eq!((stats.computed, stats.took_over), (1, 1), "{stats:?}");
    assert!(
        !store.release(key, &dead).await.unwrap(),
        "the dead holder's claim is gone"
    );
}

/// What a cache counts: hits, shared flights, computations.
#[test]
fn stats_count_each_call_once() {
    #[fleche]
    fn counted(x: u64) -> u64 {
        std::thread::sleep(Duration::from_millis(100));
        x
    }
    let cache = fleche::open("memory://").unwrap();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let c = cache.clone();
            std::thread::spawn(move || fleche::with_cache(c, || counted(7)))
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), 7);
    }
    fleche::with_cache(cache.clone(), || counted(7));
    let stats = cache.stats();
    assert_eq!(stats.computed, 1, "{stats:?}");
    assert_eq!(stats.shared + stats.hits, 4, "{stats:?}");
    assert_eq!(stats.calls(), 5);
    assert_eq!(stats.store_errors, 0);
}
