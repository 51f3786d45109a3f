//! The smallest tour of fleche: mark a slow function with `#[fleche]` and
//! call it twice.
//!
//! ```text
//! cargo run --example quickstart
//! ```

use std::time::{Duration, Instant};

use fleche::fleche;

/// The `n`-th Fibonacci number, made slow on purpose: imagine an hour of
/// simulation instead of the one-second nap.
#[fleche]
fn slow_fib(n: u64) -> u64 {
    std::thread::sleep(Duration::from_secs(1));
    let (mut a, mut b) = (0u64, 1u64);
    for _ in 0..n {
        (a, b) = (b, a.wrapping_add(b));
    }
    a
}

fn main() {
    let n = 80;

    // No cache is opened here: a `#[fleche]` function uses the default one,
    // `$FLECHE_CACHE` if set, else the file store under your cache
    // directory. So run this twice: the second run finds the first run's
    // result on disk.
    // A wrong `$FLECHE_CACHE` is an error; a store that cannot be used
    // (a directory not writable, a server down) is not: calls then run
    // uncached, with one warning.
    let cache = fleche::current_cache().unwrap_or_else(|e| fail(&e));

    let (t, before) = (Instant::now(), cache.stats());
    let first = slow_fib(n);
    println!(
        "first call:  slow_fib({n}) = {first} in {:.2?} ({})",
        t.elapsed(),
        what_happened(before, cache.stats())
    );

    let (t, before) = (Instant::now(), cache.stats());
    let second = slow_fib(n);
    println!(
        "second call: slow_fib({n}) = {second} in {:.2?} ({})",
        t.elapsed(),
        what_happened(before, cache.stats())
    );
    assert_eq!(first, second);

    // Where the result went, and under which key.
    let url = cache
        .config()
        .map_or_else(|| "(unnamed store)".to_owned(), |c| c.url);
    let key = slow_fib::digest(&n);
    if cache.stats().computed + cache.stats().hits + cache.stats().waited == 0 {
        println!("not stored: {url} could not be used (see the warning above)");
    } else {
        println!("stored in {url} under key {} (full: {key})", key.shrink([]));
    }
}

/// What the cache did for a call, from its counters before and after.
fn what_happened(before: fleche::CacheStats, now: fleche::CacheStats) -> &'static str {
    if now.hits > before.hits {
        "a hit: read back from the cache"
    } else if now.waited > before.waited {
        "another process was computing it: waited, then read its result"
    } else if now.computed > before.computed {
        "a miss: the body ran and its result is stored; run me again"
    } else {
        "the body ran uncached: the cache could not be used"
    }
}

/// Says what went wrong — the error and its causes — and exits: with a
/// `FLECHE_CACHE` that names no usable store, say.
fn fail(e: &fleche::Error) -> ! {
    eprintln!("quickstart: {}", fleche::ErrorChain(e));
    std::process::exit(1)
}
