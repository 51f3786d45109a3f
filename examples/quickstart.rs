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
    let stored_before = match slow_fib::contains(&n) {
        Ok(stored) => stored,
        Err(e) if e.store_kind().is_some() => {
            eprintln!("quickstart: {}; calls run uncached", fleche::ErrorChain(&e));
            false
        }
        Err(e) => fail(&e),
    };
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
    let took = t.elapsed();
    let how = if took < Duration::from_millis(500) {
        "a hit: read back from the cache"
    } else {
        "the body ran again: the cache could not be used"
    };
    println!("second call: slow_fib({n}) = {second} in {took:.2?} ({how})");
    assert_eq!(first, second);

    // Where the result went, and under which key.
    let cache = fleche::current_cache().unwrap_or_else(|e| fail(&e));
    let url = cache
        .config()
        .map_or_else(|| "(unnamed store)".to_owned(), |c| c.url);
    let key = slow_fib::digest(&n);
    println!("stored in {url} under key {} (full: {key})", key.shrink([]));
}

/// Says what went wrong — the error and its causes — and exits: with a
/// `FLECHE_CACHE` that names no usable store, say.
fn fail(e: &fleche::Error) -> ! {
    eprintln!("quickstart: {}", fleche::ErrorChain(e));
    std::process::exit(1)
}
