//! Single-flight and context propagation across threads, rayon and tasks.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use fleche::fleche;
use rayon::prelude::*;

static RUNS: AtomicUsize = AtomicUsize::new(0);

#[fleche]
fn slow_sync(x: u64) -> u64 {
    RUNS.fetch_add(1, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(300));
    x * 10
}

static ASYNC_RUNS: AtomicUsize = AtomicUsize::new(0);

#[fleche]
async fn slow_async(x: u64) -> u64 {
    ASYNC_RUNS.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    x * 10
}

/// 32 threads and 32 tasks call one key at once; the body runs exactly once
/// and everyone gets its result.
#[test]
fn thirty_two_threads_and_thirty_two_tasks_run_the_body_once() {
    let cache = fleche::open("memory://").unwrap();
    let bound = fleche::with_cache(cache.clone(), || fleche::bind(slow_sync));
    let barrier = Arc::new(std::sync::Barrier::new(64));

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let mut threads = Vec::new();
    for _ in 0..32 {
        let (bound, barrier) = (bound.clone(), barrier.clone());
        threads.push(std::thread::spawn(move || {
            barrier.wait();
            bound.call((7,))
        }));
    }
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let (bound, barrier) = (bound.clone(), barrier.clone());
            // Sync body from async code: through spawn_blocking.
            rt.spawn(async move {
                tokio::task::spawn_blocking(move || {
                    barrier.wait();
                    bound.call((7,))
                })
                .await
                .unwrap()
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), 70);
    }
    for t in tasks {
        assert_eq!(rt.block_on(t).unwrap(), 70);
    }
    assert_eq!(
        RUNS.load(Ordering::SeqCst),
        1,
        "the body ran more than once"
    );
    fleche::with_cache(cache, || assert_eq!(slow_sync::load(&7).unwrap(), Some(70)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_async_tasks_share_one_run() {
    let cache = fleche::open("memory://").unwrap();
    let bound = fleche::Scope::current()
        .with_cache(cache)
        .run(|| fleche::bind(slow_async));
    let tasks: Vec<_> = (0..32)
        .map(|_| tokio::spawn(bound.call_async((3,))))
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 30);
    }
    assert_eq!(ASYNC_RUNS.load(Ordering::SeqCst), 1);
}

static PIPE_RUNS: AtomicUsize = AtomicUsize::new(0);

#[fleche]
fn step(x: u64) -> u64 {
    PIPE_RUNS.fetch_add(1, Ordering::SeqCst);
    x + 1
}

/// A plain function that calls cached functions inside, bound and run on
/// rayon workers, writes to the bound cache.
#[test]
fn bound_plain_function_on_rayon() {
    let cache = fleche::open("memory://").unwrap();
    let pipeline = |x: u64| step(x) * 3;
    let bound = fleche::with_cache(cache.clone(), || fleche::bind(pipeline));
    let out: Vec<u64> = (0..100u64)
        .into_par_iter()
        .map(|x| bound.call((x,)))
        .collect();
    assert_eq!(out, (0..100u64).map(|x| (x + 1) * 3).collect::<Vec<_>>());
    let again: Vec<u64> = (0..100u64)
        .into_par_iter()
        .map(|x| bound.call((x,)))
        .collect();
    assert_eq!(again, out);
    assert_eq!(PIPE_RUNS.load(Ordering::SeqCst), 100);
    fleche::with_cache(cache, || {
        assert!((0..100u64).all(|x| step::contains(&x).unwrap()))
    });
}

#[fleche]
fn doubled(x: u64) -> u64 {
    x * 2
}

/// A sync cached function called directly inside an async task (on a
/// runtime worker thread) works, both multi-thread and current-thread.
#[test]
fn sync_function_inside_runtimes() {
    for multi in [true, false] {
        let rt = if multi {
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .unwrap()
        } else {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
        };
        let cache = fleche::open("memory://").unwrap();
        let scope = fleche::Scope::current().with_cache(cache.clone());
        let got = rt.block_on(scope.run_async(async { doubled(21) + doubled(21) }));
        assert_eq!(got, 84);
        fleche::with_cache(cache, || assert!(doubled::contains(&21).unwrap()));
    }
}

/// Scopes nest and restore, in threads and in tasks, and the innermost wins.
#[tokio::test]
async fn scopes_nest_and_restore() {
    let outer = fleche::open("memory://").unwrap();
    let inner = fleche::open("memory://").unwrap();
    let outer_scope = fleche::Scope::current().with_cache(outer.clone());
    let inner_scope = fleche::Scope::current().with_cache(inner.clone());
    outer_scope.run(|| {
        assert!(fleche::current_cache().unwrap().same_as(&outer));
        inner_scope.run(|| assert!(fleche::current_cache().unwrap().same_as(&inner)));
        assert!(fleche::current_cache().unwrap().same_as(&outer));
    });
    outer_scope
        .run_async(async {
            assert!(fleche::current_cache().unwrap().same_as(&outer));
            // A thread scope entered inside the task is innermost.
            inner_scope.run(|| assert!(fleche::current_cache().unwrap().same_as(&inner)));
            inner_scope
                .run_async(async { assert!(fleche::current_cache().unwrap().same_as(&inner)) })
                .await;
            assert!(fleche::current_cache().unwrap().same_as(&outer));
        })
        .await;
    // A task scope entered inside a thread scope is innermost.
    let rt_check =
        outer_scope.run(|| inner_scope.run_async(async { fleche::current_cache().unwrap() }));
    assert!(rt_check.await.same_as(&inner));
}
