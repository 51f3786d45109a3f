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
    let stored_before = slow_fib::contains(&n).expect("the default cache opens");
    let t = Instant::now();
    let first = slow_fib(n);
    let how = if stored_before {
        "a hit: stored on disk by an earlier run"
    } else {
        "a miss: the body ran; run me again"
    };
    println!(
        "first call:  slow_fib({n}) = {first} in {:.2?} ({how})",
        t.elapsed()
    );

    let t = Instant::now();
    let second = slow_fib(n);
    println!(
        "second call: slow_fib({n}) = {second} in {:.2?} (a hit: read back from the cache)",
        t.elapsed()
    );
    assert_eq!(first, second);

    // Where the result went, and under which key.
    let cache = fleche::current_cache().expect("the default cache opens");
    let url = cache
        .config()
        .map_or_else(|| "(unnamed store)".to_owned(), |c| c.url);
    let key = slow_fib::digest(&n);
    println!("stored in {url} under key {} (full: {key})", key.shrink([]));
}
