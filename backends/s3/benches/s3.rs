//! S3-store benchmark: the hit and miss paths of a `#[fleche]` function on
//! an [`S3Store`] on the S3 server named by `FLECHE_TEST_S3_URL` (the moto
//! server of `eval "$(scripts/services up)"`), with a raw `GET` of one
//! object through the same client measured in the same run as the
//! baseline.
//!
//! `cargo bench -p fleche-s3` prints a table of medians: each case runs in
//! batches of at least `BATCH_TIME`, 31 batches, and the median time per
//! call is reported. `cargo test -p fleche-s3 --benches` runs each case
//! once and prints nothing. Everything lives under a fresh prefix of the
//! test bucket, deleted at the end. Nothing here asserts on timings.
//!
//! What the numbers mean: moto is a Python server on the same machine, so
//! a request costs what moto's request handling costs (about a
//! millisecond), far from a real S3 round trip (10–30 ms) but of the same
//! shape. The ratio of a hit to a raw `GET` is what the store adds; it
//! carries over to a real server, where it only gets closer to 1.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use fleche::bridge::{block_on, on_fleche_runtime};
use fleche::{Cache, ClaimPolicy, Digest};
use fleche_bench_support::{RunMode, fresh_arg, human, median_per_op, timed, times, verdict};
use fleche_s3::S3Store;
use fleche_s3::object_store::ObjectStoreExt;
use fleche_s3::object_store::path::Path;

#[fleche::fleche]
fn square(x: u64) -> u64 {
    x * x
}

/// The key the hit cases read (stored before they run).
const HIT_X: u64 = 12;
/// The target: a hit costs at most this many raw `GET`s.
const TARGET: f64 = 1.3;
/// Threads of the concurrent-hit case.
const THREADS: usize = 16;

struct Plan {
    batches: usize,
    batch_time: Duration,
}

const BENCH_PLAN: Plan = Plan {
    batches: 31,
    batch_time: Duration::from_millis(100),
};
/// For `cargo test --benches`: every case once, nothing measured.
const SMOKE_PLAN: Plan = Plan {
    batches: 1,
    batch_time: Duration::ZERO,
};

fn main() {
    let mode = RunMode::from_args();
    let plan = match mode {
        RunMode::List => return,
        RunMode::Smoke => &SMOKE_PLAN,
        RunMode::Bench { .. } => &BENCH_PLAN,
    };
    let Some(endpoint) = std::env::var("FLECHE_TEST_S3_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        eprintln!(
            "fleche s3 bench: NOT RUN: FLECHE_TEST_S3_URL is not set. It names the S3 server \
             to measure against; run `eval \"$(scripts/services up)\"` first (it starts moto \
             on 127.0.0.1:5055 and sets it, with AWS credentials and region)."
        );
        return;
    };
    let bucket = std::env::var("FLECHE_TEST_S3_BUCKET")
        .ok()
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| "fleche-test".to_owned());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let http = if endpoint.starts_with("http://") {
        "&allow_http=true"
    } else {
        ""
    };
    let url = format!(
        "s3://{bucket}/bench-{}-{nanos}?endpoint={endpoint}{http}",
        std::process::id()
    );
    let store = Arc::new(block_on(S3Store::open(&url)).expect("the S3 store opens"));
    let figures = measure(plan, &store);
    let removed = objects_under_prefix(&store);
    let _ = block_on(store.destroy());
    if mode == RunMode::Smoke {
        println!("fleche s3 bench: every case ran once (test mode; no figures)");
    } else {
        print_summary(&figures, &url, removed);
    }
}

struct Figures {
    raw_get: f64,
    hit: f64,
    hits_concurrent: f64,
    miss: f64,
    miss_unclaimed: f64,
}

fn measure(plan: &Plan, store: &Arc<S3Store>) -> Figures {
    let med =
        |f: &mut dyn FnMut()| median_per_op(plan.batch_time, plan.batches, |n| timed(n, &mut *f));
    let cache = Cache::new(store.clone(), store.clone());
    let unclaimed = Cache::builder(store.clone(), store.clone())
        .claims(ClaimPolicy::Never)
        .build();

    // Prime the hit key, and find its record object where the layout says.
    fleche::with_cache(cache.clone(), || {
        assert_eq!(square(HIT_X), HIT_X * HIT_X);
        assert!(square::contains(&HIT_X).unwrap());
    });
    let key: Digest = square::digest(&HIT_X);
    let hex = key.to_hex();
    let record = Path::from(format!("{}/calls/{}/{hex}", store.prefix(), &hex[..2]));
    let raw = store.object_store().clone();
    let bytes = block_on(on_fleche_runtime(async {
        raw.get(&record).await?.bytes().await
    }))
    .expect("the hit key's record object is where the layout says");
    let decoded = fleche::CallRecord::from_bytes(&bytes).expect("the record decodes");
    assert!(decoded.result.inline.is_some(), "square's result is inline");

    // The baseline: one GET of that object, through the same client, on
    // the same runtime, as the store's own reads.
    let raw_get = med(&mut || {
        let got = block_on(on_fleche_runtime(async {
            raw.get(black_box(&record)).await?.bytes().await
        }))
        .unwrap();
        black_box(got);
    });
    let hit = fleche::with_cache(cache.clone(), || {
        med(&mut || {
            black_box(square(black_box(HIT_X)));
        })
    });
    // THREADS threads hitting at once: wall time per call.
    let hits_concurrent = median_per_op(plan.batch_time, plan.batches, |n| {
        let per_thread = n.div_ceil(THREADS as u64);
        let start = std::time::Instant::now();
        std::thread::scope(|s| {
            for _ in 0..THREADS {
                let cache = cache.clone();
                s.spawn(move || {
                    fleche::with_cache(cache, || {
                        for _ in 0..per_thread {
                            black_box(square(black_box(HIT_X)));
                        }
                    })
                });
            }
        });
        start
            .elapsed()
            .mul_f64(n as f64 / (per_thread * THREADS as u64) as f64)
    });
    let miss = fleche::with_cache(cache.clone(), || {
        med(&mut || {
            black_box(square(fresh_arg()));
        })
    });
    let miss_unclaimed = fleche::with_cache(unclaimed, || {
        med(&mut || {
            black_box(square(fresh_arg()));
        })
    });
    Figures {
        raw_get,
        hit,
        hits_concurrent,
        miss,
        miss_unclaimed,
    }
}

/// How many objects the store holds (all of them the bench's).
fn objects_under_prefix(store: &S3Store) -> usize {
    use futures::StreamExt;
    let raw = store.object_store().clone();
    let prefix = Path::from(store.prefix());
    block_on(on_fleche_runtime(async {
        raw.list(Some(&prefix)).count().await
    }))
}

fn print_summary(f: &Figures, url: &str, removed: usize) {
    let ratio = f.hit / f.raw_get;
    println!();
    println!(
        "fleche s3 bench: square(u64) on {}",
        fleche::redact_url(url)
    );
    println!(
        "  medians of 31 batches of at least {:?}",
        BENCH_PLAN.batch_time
    );
    println!();
    println!(
        "  {:<52} {:>12}",
        "raw GET of the record object (baseline)",
        human(f.raw_get)
    );
    println!("  {:<52} {:>12}", "hit, square(12)", human(f.hit));
    println!(
        "  {:<52} {:>12}",
        format!("hit, {THREADS} threads at once (wall time per call)"),
        human(f.hits_concurrent)
    );
    println!(
        "  {:<52} {:>12}",
        "miss, square(fresh x) (claim on)",
        human(f.miss)
    );
    println!(
        "  {:<52} {:>12}",
        "miss without claims (ClaimPolicy::Never)",
        human(f.miss_unclaimed)
    );
    println!();
    println!(
        "  hit / raw GET = {ratio:.2}x   target <= {TARGET}x: {}",
        verdict(ratio <= TARGET)
    );
    println!(
        "  miss / hit = {}   ({} objects written and deleted afterwards)",
        times(f.miss / f.hit),
        removed
    );
}
