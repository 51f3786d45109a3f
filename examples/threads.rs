//! Cached functions on plain `std::thread` workers.
//!
//! The active cache is a property of the current thread's scope, and a new
//! thread starts with none (it would use the default cache). `fleche::bind`
//! captures the scope where it is called, so the workers use the cache
//! opened here.
//!
//! ```text
//! cargo run --example threads
//! ```

use std::thread;
use std::time::{Duration, Instant};

use fleche::fleche;

/// A slow, cached step.
#[fleche]
fn simulate(seed: u64) -> u64 {
    thread::sleep(Duration::from_millis(200));
    seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17)
}

/// A plain function (not cached itself) that calls cached ones. Bound, it
/// carries the scope to the cached calls it makes.
fn pipeline(seed: u64) -> u64 {
    simulate(seed) ^ simulate(seed + 100)
}

fn main() {
    let cache = fleche::open("memory://threads-example").expect("memory stores open");
    let seeds: Vec<u64> = (0..4).collect();

    // Bind inside the scope that names the cache; the bound callables are
    // `Clone + Send + Sync` and can go to any thread.
    let (bound_simulate, bound_pipeline) = fleche::with_cache(cache.clone(), || {
        (fleche::bind(simulate), fleche::bind(pipeline))
    });

    let t = Instant::now();
    let handles: Vec<_> = seeds
        .iter()
        .map(|&seed| {
            let bound = bound_simulate.clone();
            thread::spawn(move || bound.call((seed,)))
        })
        .collect();
    let results: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    println!(
        "4 threads ran simulate(0..4) in {:.2?} (each body sleeps 200 ms)",
        t.elapsed()
    );

    // `pipeline` calls simulate(seed), all hits now, and simulate(seed + 100),
    // new work.
    let t = Instant::now();
    let handles: Vec<_> = seeds
        .iter()
        .map(|&seed| {
            let bound = bound_pipeline.clone();
            thread::spawn(move || bound.call((seed,)))
        })
        .collect();
    let piped: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    println!(
        "4 threads ran pipeline(0..4) in {:.2?} (half of its calls were hits)",
        t.elapsed()
    );

    // Every call went to the cache opened above.
    fleche::with_cache(cache, || {
        for (&seed, &result) in seeds.iter().zip(&results) {
            assert!(simulate::contains(&seed).unwrap());
            assert!(simulate::contains(&(seed + 100)).unwrap());
            assert_eq!(simulate::load(&seed).unwrap(), Some(result));
        }
        let t = Instant::now();
        let again: Vec<u64> = seeds.iter().map(|&s| pipeline(s)).collect();
        assert_eq!(again, piped);
        println!(
            "all 8 results are cached: pipeline(0..4) again on this thread took {:.2?}",
            t.elapsed()
        );
        let stats = fleche::current_cache().unwrap().stats();
        println!(
            "bodies run: {} (hits {}, shared with a concurrent caller {})",
            stats.computed, stats.hits, stats.shared
        );
    });
}
