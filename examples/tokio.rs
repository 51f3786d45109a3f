//! Cached functions with Tokio: `async fn`s on spawned tasks, sync ones on
//! `spawn_blocking` and inside tasks, and many concurrent callers of one key.
//!
//! A task spawned with `tokio::spawn` does not inherit the spawner's scope;
//! `Bound::call_async` (or `Scope::run_async`) gives it the scope to use.
//!
//! ```text
//! cargo run --example tokio
//! ```

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use fleche::fleche;

/// A slow, cached download.
#[fleche]
async fn fetch(id: u64) -> String {
    tokio::time::sleep(Duration::from_millis(200)).await;
    format!("document #{id}")
}

/// A slow, cached computation that blocks its thread.
#[fleche]
fn checksum(data: Vec<u8>) -> u64 {
    std::thread::sleep(Duration::from_millis(100));
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// How many times the body of `expensive` ran.
static EXPENSIVE_RUNS: AtomicUsize = AtomicUsize::new(0);

#[fleche]
async fn expensive(key: u64) -> u64 {
    EXPENSIVE_RUNS.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    key * 2
}

#[tokio::main]
async fn main() {
    let cache = fleche::open("memory://tokio-example").expect("memory stores open");
    let scope = fleche::Scope::current().with_cache(cache.clone());
    let bound_fetch = scope.run(|| fleche::bind(fetch));

    // Async functions on spawned tasks.
    let t = Instant::now();
    let tasks: Vec<_> = (0..8)
        .map(|id| tokio::spawn(bound_fetch.call_async((id,))))
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    println!(
        "8 tasks fetched 8 documents in {:.2?} (each body sleeps 200 ms)",
        t.elapsed()
    );

    // A sync function, on the blocking pool and directly inside a task.
    let bound_checksum = scope.run(|| fleche::bind(checksum));
    let data = b"hello, fleche".to_vec();
    let on_pool = {
        let (bound, data) = (bound_checksum.clone(), data.clone());
        tokio::task::spawn_blocking(move || bound.call((data,)))
            .await
            .unwrap()
    };
    let in_task = tokio::spawn(scope.run_async(async move { checksum(data) }))
        .await
        .unwrap();
    assert_eq!(on_pool, in_task);
    println!("checksum on spawn_blocking, then inside a task (a hit): {on_pool:#x}");

    // 16 concurrent callers of the same key: one runs the body, the others
    // wait for its result.
    let bound_expensive = scope.run(|| fleche::bind(expensive));
    let t = Instant::now();
    let tasks: Vec<_> = (0..16)
        .map(|_| tokio::spawn(bound_expensive.call_async((21,))))
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), 42);
    }
    let runs = EXPENSIVE_RUNS.load(Ordering::SeqCst);
    println!(
        "16 concurrent expensive(21) calls took {:.2?}; the body ran {runs} time(s)",
        t.elapsed()
    );
    assert_eq!(runs, 1);

    scope
        .run_async(async {
            for id in 0..8 {
                assert!(fetch::contains(&id).await.unwrap());
            }
            assert!(checksum::contains(&b"hello, fleche".to_vec()).unwrap());
            assert!(expensive::contains(&21).await.unwrap());
        })
        .await;
    println!("all results are in {}", cache.config().unwrap().url);
    let stats = cache.stats();
    println!(
        "bodies run: {} (hits {}, shared with a concurrent caller {})",
        stats.computed, stats.hits, stats.shared
    );
}
