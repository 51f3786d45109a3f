//! Cached functions on rayon's thread pool.
//!
//! Rayon runs closures on its worker threads, which do not see the scope of
//! the caller; a function bound with `fleche::bind` carries it there.
//!
//! ```text
//! cargo run --example rayon
//! ```

use std::time::{Duration, Instant};

use fleche::fleche;
use rayon::prelude::*;

/// A slow, cached step.
#[fleche]
fn score(input: u64) -> f64 {
    std::thread::sleep(Duration::from_millis(100));
    (input as f64).sqrt().sin()
}

fn main() {
    let cache = fleche::open("memory://rayon-example").expect("memory stores open");
    let bound = fleche::with_cache(cache.clone(), || fleche::bind(score));
    let inputs: Vec<u64> = (0..16).collect();

    let t = Instant::now();
    let first: Vec<f64> = inputs.par_iter().map(|&x| bound.call((x,))).collect();
    println!(
        "scored {} inputs on {} rayon threads in {:.2?} (each body sleeps 100 ms)",
        inputs.len(),
        rayon::current_num_threads(),
        t.elapsed()
    );

    let t = Instant::now();
    let second: Vec<f64> = inputs.par_iter().map(|&x| bound.call((x,))).collect();
    println!("scored them again in {:.2?}: all hits", t.elapsed());
    assert_eq!(first, second);

    fleche::with_cache(cache.clone(), || {
        let cached = inputs
            .iter()
            .filter(|&x| score::contains(x).unwrap())
            .count();
        println!("{cached} of {} results are in the cache", inputs.len());
        assert_eq!(cached, inputs.len());
    });
    let stats = cache.stats();
    println!(
        "bodies run: {} (hits {}, shared with a concurrent caller {})",
        stats.computed, stats.hits, stats.shared
    );
}
