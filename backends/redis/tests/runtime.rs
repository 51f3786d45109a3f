//! A network store used from inside a caller's single-threaded Tokio
//! runtime, by async and by sync cached functions alike. The cache polls
//! the store's futures with fleche's own runtime as the context, so the
//! connection belongs to a runtime that keeps running while a sync cached
//! call blocks the caller's only thread; without that, the call would wait
//! for a socket that only the blocked thread can drive.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

static RUNS: AtomicU64 = AtomicU64::new(0);

#[fleche::fleche]
fn sync_square(x: u64) -> u64 {
    RUNS.fetch_add(1, Ordering::SeqCst);
    x * x
}

#[fleche::fleche]
async fn async_square(x: u64) -> u64 {
    RUNS.fetch_add(1, Ordering::SeqCst);
    x * x
}

#[test]
fn sync_and_async_calls_inside_a_current_thread_runtime() {
    let Some(base) = fleche_conformance::server_url("FLECHE_TEST_REDIS_URL") else {
        return;
    };
    let url = format!(
        "{base}/0?namespace={}",
        fleche_conformance::unique_name("runtime")
    );
    // A deadline: a hang is a failure, not a stuck test run.
    let (done, finished) = std::sync::mpsc::channel();
    let worker = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            // The cache, and its connection, made inside this runtime.
            let cache = fleche::open_async(&url).await.unwrap();
            let scope = fleche::Scope::current().with_cache(cache);
            for round in 0..3 {
                let x = 7 + round % 2;
                // Async: awaited on this runtime.
                assert_eq!(scope.run_async(async_square(x)).await, x * x);
                // Sync: blocks this runtime's only thread meanwhile.
                assert_eq!(scope.run(|| sync_square(x)), x * x);
            }
            // Two distinct arguments, two functions: four runs, the rest hits.
            assert_eq!(RUNS.load(Ordering::SeqCst), 4);
            fleche_redis::RedisStore::open(&url)
                .await
                .unwrap()
                .destroy()
                .await
                .unwrap();
        });
        done.send(()).unwrap();
    });
    finished
        .recv_timeout(Duration::from_secs(60))
        .expect("the calls hung inside the current-thread runtime");
    worker.join().unwrap();
}
