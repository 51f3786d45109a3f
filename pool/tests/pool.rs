//! The short-circuit on every executor (a sweep of cached calls dispatches
//! nothing), and the process pool: results computed in workers land in the
//! shared store, failures are errors for their item, and a failed lookup
//! dispatches. The worker processes are this test binary, through
//! procspawn's test support.

use std::sync::atomic::{AtomicU64, Ordering};

use fleche::{CacheStats, Submitted, Task, fleche};
use fleche_pool::{Pool, PoolError};

procspawn::enable_test_support!();

/// Runs of `square`'s body in this process.
static RUNS: AtomicU64 = AtomicU64::new(0);

#[fleche]
fn square(x: u64) -> u64 {
    RUNS.fetch_add(1, Ordering::SeqCst);
    x * x
}

#[fleche]
fn fragile(x: u64) -> u64 {
    match x {
        3 => panic!("three is fragile"),
        99 => std::process::exit(7),
        _ => x + 1,
    }
}

/// A fresh file store (shared by the pool's workers) and the task of `f`
/// on it.
fn file_task<F, A, R>(f: F) -> (tempfile::TempDir, Task<A, R>)
where
    F: fleche::Callable<A, Output = R> + 'static,
    A: 'static,
    R: 'static,
{
    let dir = tempfile::tempdir().unwrap();
    let cache = fleche::open(&format!("file://{}?fsync=false", dir.path().display())).unwrap();
    let task = fleche::with_cache(cache, || fleche::task(f)).unwrap();
    (dir, task)
}

fn stats<A: 'static, R: 'static>(task: &Task<A, R>) -> CacheStats {
    task.scope().cache().unwrap().stats()
}

const SWEEP: u64 = 10_000;

fn items() -> impl Iterator<Item = (u64,)> {
    (0..SWEEP).map(|x| (x,))
}

fn expected() -> Vec<u64> {
    (0..SWEEP).map(|x| x * x).collect()
}

#[test]
fn a_sweep_of_cached_calls_dispatches_nothing_on_any_executor() {
    let (_dir, task) = file_task(square);
    // Warm the store: every call computes once.
    assert_eq!(task.par_map(items().collect::<Vec<_>>()), expected());
    let warm = stats(&task);
    assert_eq!(warm.computed, SWEEP);
    let runs = RUNS.load(Ordering::SeqCst);
    // No call reaches the cache's call path again: none was dispatched.
    let nothing_called = |executor: &str| {
        assert_eq!(stats(&task), warm, "{executor}: a call was dispatched");
        assert_eq!(RUNS.load(Ordering::SeqCst), runs, "{executor}: a body ran");
    };

    // `Task::submit` with a dispatch of our own, counted.
    let mut dispatched = 0;
    let results: Vec<u64> = items()
        .map(|args| {
            task.submit(args, |task, args| {
                dispatched += 1;
                task.call(args)
            })
            .wait(Ok::<_, ()>)
            .unwrap()
        })
        .collect();
    assert_eq!((dispatched, results), (0, expected()));
    nothing_called("submit");

    // std threads.
    let submitted: Vec<_> = items().map(|args| task.spawn_thread(args)).collect();
    assert_eq!(submitted.iter().filter(|s| s.is_dispatched()).count(), 0);
    let results: Vec<u64> = submitted.into_iter().map(|s| s.join().unwrap()).collect();
    assert_eq!(results, expected());
    nothing_called("threads");

    // rayon.
    assert_eq!(task.par_map(items().collect::<Vec<_>>()), expected());
    nothing_called("rayon");

    // tokio: spawn_blocking, awaited, and a JoinSet sweep.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut results = Vec::new();
        let mut dispatched = 0;
        for args in items() {
            let submitted = task.spawn_blocking(args);
            dispatched += usize::from(submitted.is_dispatched());
            results.push(submitted.await.unwrap());
        }
        assert_eq!((dispatched, results), (0, expected()));
        assert_eq!(task.map_blocking(items()).await.unwrap(), expected());
    });
    nothing_called("tokio");

    // The process pool.
    let pool = Pool::new(2).unwrap();
    let submitted: Vec<_> = items().map(|args| pool.submit(&task, args)).collect();
    assert_eq!(submitted.iter().filter(|s| s.is_dispatched()).count(), 0);
    let results: Vec<u64> = submitted.into_iter().map(|s| s.join().unwrap()).collect();
    assert_eq!(results, expected());
    assert_eq!(pool.map(&task, items()).unwrap(), expected());
    assert_eq!(pool.dispatched(), 0);
    nothing_called("process pool");
}

#[test]
fn the_pool_computes_misses_in_workers_into_the_shared_store() {
    let (_dir, task) = file_task(square);
    let pool = Pool::new(2).unwrap();
    let results = pool.map(&task, (0..40u64).map(|x| (x,))).unwrap();
    assert_eq!(results, (0..40u64).map(|x| x * x).collect::<Vec<_>>());
    assert_eq!(pool.dispatched(), 40);
    // The workers computed; this process only looked up.
    assert_eq!(stats(&task).computed, 0);
    for x in 0..40u64 {
        assert_eq!(
            task.lookup(&(x,)).unwrap(),
            Some(x * x),
            "stored by a worker"
        );
    }
    // Again: all hits, nothing dispatched.
    assert_eq!(pool.map(&task, (0..40u64).map(|x| (x,))).unwrap(), results);
    assert_eq!(pool.dispatched(), 40);
    // One miss among hits: only it goes out.
    let mixed = pool.map(&task, (38..42u64).map(|x| (x,))).unwrap();
    assert_eq!(mixed, [38 * 38, 39 * 39, 40 * 40, 41 * 41]);
    assert_eq!(pool.dispatched(), 42);
}

#[test]
fn a_panicking_body_is_an_error_for_its_item_and_the_pool_carries_on() {
    let (_dir, task) = file_task(fragile);
    let pool = Pool::new(2).unwrap();
    let err = pool.submit(&task, (3,)).join().unwrap_err();
    assert!(matches!(err, PoolError::Panicked { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("three is fragile"), "{message}");
    assert!(message.contains("pool::fragile"), "{message}");
    assert_eq!(pool.submit(&task, (4,)).join().unwrap(), 5);

    // In a sweep, every other item still runs and is stored.
    let err = pool.map(&task, (0..6u64).map(|x| (x,))).unwrap_err();
    assert_eq!(err.item(), Some(3), "{err}");
    assert!(err.to_string().contains("(item 3)"), "{err}");
    for x in [0u64, 1, 2, 4, 5] {
        assert_eq!(task.lookup(&(x,)).unwrap(), Some(x + 1));
    }
    assert_eq!(task.lookup(&(3,)).unwrap(), None);
}

#[test]
fn a_worker_that_dies_is_an_error_for_its_item_and_is_replaced() {
    let (_dir, task) = file_task(fragile);
    let pool = Pool::new(1).unwrap();
    let err = pool.submit(&task, (99,)).join().unwrap_err();
    assert!(matches!(err, PoolError::WorkerLost { .. }), "{err:?}");
    assert!(err.to_string().contains("was lost"), "{err}");
    // The pool's one worker was restarted.
    assert_eq!(pool.submit(&task, (10,)).join().unwrap(), 11);
}

#[test]
fn a_lookup_that_fails_dispatches() {
    // A store that cannot open: lookups fail, calls run uncached.
    let cache = fleche::open_lazy("file:///proc/no-such-cache").unwrap();
    let task: Task<(u64,), u64> = fleche::with_cache(cache, || fleche::task(square)).unwrap();
    assert!(task.lookup(&(6,)).is_err(), "the premise: the lookup fails");

    let submitted = task.spawn_thread((6,));
    assert!(submitted.is_dispatched());
    assert_eq!(submitted.join().unwrap(), 36);

    let pool = Pool::new(1).unwrap();
    let submitted = pool.submit(&task, (7,));
    assert!(matches!(submitted, Submitted::Dispatched(_)));
    assert_eq!(submitted.join().unwrap(), 49);
    assert_eq!(pool.map(&task, [(8,), (9,)]).unwrap(), [64, 81]);
    assert_eq!(pool.dispatched(), 3);
}

#[test]
fn handles_join_in_any_order() {
    let (_dir, task) = file_task(square);
    let pool = Pool::new(1).unwrap();
    let handles: Vec<_> = (0..6u64).map(|x| pool.submit(&task, (x,))).collect();
    // The last first, and one never joined: no worker waits on a handle.
    let mut handles: Vec<_> = handles.into_iter().skip(1).collect();
    handles.reverse();
    let results: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(results, [25, 16, 9, 4, 1]);
}

#[test]
fn a_pool_is_shared_by_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Pool>();
    let (_dir, task) = file_task(square);
    let pool = Pool::new(2).unwrap();
    // Many threads submitting at once, each joining only its own calls:
    // if the collector saw the calls in another order than the workers
    // take them, it could wait on a call no worker is free to start (it
    // did, in about one run of ten, before submitting was ordered).
    let results: Vec<u64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8u64)
            .map(|t| {
                let (pool, task) = (&pool, &task);
                s.spawn(move || {
                    let mine: Vec<_> = (0..4).map(|i| pool.submit(task, (t * 4 + i,))).collect();
                    mine.into_iter()
                        .map(|h| h.join().unwrap())
                        .collect::<Vec<u64>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let expected: Vec<u64> = (0..32u64).map(|x| x * x).collect();
    assert_eq!(results, expected);
    assert_eq!(pool.dispatched(), 32);
}
