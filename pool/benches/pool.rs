//! Process-pool benchmarks, printed as a table of medians.
//!
//! `cargo bench -p fleche-pool --bench pool` measures:
//!
//! 1. **Handing a bound call to a worker process**, per store: the parent
//!    serializes the task (its function's name and the scope's
//!    configuration, as JSON); a fresh worker process decodes it, reopens
//!    the cache (opens the store: a directory, a database file, a
//!    connection to a server) and makes the first call, a hit; then a
//!    second hit, on the open cache, for comparison. Each sample is a new
//!    process, so every sample reopens. File and SQLite stores live in a
//!    temp directory; PostgreSQL, Redis and S3 use the servers named by
//!    `FLECHE_TEST_POSTGRES_URL`, `FLECHE_TEST_REDIS_URL` and
//!    `FLECHE_TEST_S3_URL` (`eval "$(scripts/services up)"`), each in a
//!    schema, namespace or prefix of its own, removed at the end; a store
//!    whose variable is unset is skipped, and says so.
//! 2. **A sweep of 1,000 calls through a pool of 2 workers**: all cached
//!    (the short-circuit: every call is looked up in the parent, none is
//!    dispatched) against 1,000 uncached calls of a trivial body (each one
//!    goes to a worker and back), and, between the two, the same 1,000
//!    cached calls sent to the workers anyway (each worker hits: what a
//!    pool without the short-circuit does).
//!
//! Medians over 15 samples (1.) and 7 sweeps (2.). `cargo test -p
//! fleche-pool --benches` runs each case once as a smoke test and prints
//! no table. Nothing here asserts on timings.

use std::time::{Duration, Instant};

use fleche::{Task, fleche};
use fleche_bench_support::{RunMode, human, median_per_op, times};
use fleche_pool::Pool;
use serde::{Deserialize, Serialize};

#[fleche]
fn square(x: u64) -> u64 {
    x * x
}

/// Not cached: every call of its task runs in a worker.
#[fleche::register]
fn plain_square(x: u64) -> u64 {
    x * x
}

/// Not cached itself: every call goes to a worker, where `square` hits.
#[fleche::register]
fn square_in_worker(x: u64) -> u64 {
    square(x)
}

/// The key the hand-over cases hit.
const HIT_X: u64 = 12;

/// What a fresh worker measured, in nanoseconds.
#[derive(Debug, Serialize, Deserialize)]
struct InWorker {
    decode: u64,
    reopen: u64,
    first_hit: u64,
    second_hit: u64,
    hits: u64,
    computed: u64,
}

/// Runs in a new worker process: decodes the task, reopens its cache,
/// hits twice.
fn hand_over(json: String) -> InWorker {
    let nanos = |t: Instant| t.elapsed().as_nanos() as u64;
    let t = Instant::now();
    let task: Task<(u64,), u64> = serde_json::from_str(&json).expect("the task decodes");
    let decode = nanos(t);
    let t = Instant::now();
    let scope = task.scope();
    let reopen = nanos(t);
    let t = Instant::now();
    assert_eq!(task.call((HIT_X,)), HIT_X * HIT_X);
    let first_hit = nanos(t);
    let t = Instant::now();
    assert_eq!(task.call((HIT_X,)), HIT_X * HIT_X);
    let second_hit = nanos(t);
    let stats = scope.cache().expect("the task's cache").stats();
    InWorker {
        decode,
        reopen,
        first_hit,
        second_hit,
        hits: stats.hits,
        computed: stats.computed,
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// The medians of one store's hand-over.
struct HandOver {
    store: &'static str,
    serialize: f64,
    decode: f64,
    reopen: f64,
    first_hit: f64,
    second_hit: f64,
    /// From spawning the worker to its answer, as the parent sees it.
    round_trip: f64,
}

impl HandOver {
    /// What handing over costs beyond starting a process: serialize +
    /// decode + reopen + first hit.
    fn total(&self) -> f64 {
        self.serialize + self.decode + self.reopen + self.first_hit
    }
}

fn measure_hand_over(store: &'static str, url: &str, samples: usize) -> HandOver {
    let cache = fleche::open(url).unwrap_or_else(|e| panic!("{store}: {url} does not open: {e}"));
    let task: Task<(u64,), u64> = fleche::with_cache(cache, || fleche::task(square)).unwrap();
    assert_eq!(task.call((HIT_X,)), HIT_X * HIT_X); // stored
    let serialize = median_per_op(Duration::from_millis(50), 11, |n| {
        let t = Instant::now();
        for _ in 0..n {
            std::hint::black_box(serde_json::to_string(&task).unwrap());
        }
        t.elapsed()
    });
    let json = serde_json::to_string(&task).unwrap();
    let mut rows: Vec<(InWorker, f64)> = Vec::new();
    for _ in 0..samples {
        let t = Instant::now();
        let worker = procspawn::spawn(json.clone(), hand_over)
            .join()
            .unwrap_or_else(|e| panic!("{store}: the worker failed: {e}"));
        let round_trip = t.elapsed().as_secs_f64();
        assert_eq!((worker.hits, worker.computed), (2, 0), "{store}: two hits");
        rows.push((worker, round_trip));
    }
    let secs =
        |f: fn(&InWorker) -> u64| median(rows.iter().map(|(w, _)| f(w) as f64 / 1e9).collect());
    HandOver {
        store,
        serialize,
        decode: secs(|w| w.decode),
        reopen: secs(|w| w.reopen),
        first_hit: secs(|w| w.first_hit),
        second_hit: secs(|w| w.second_hit),
        round_trip: median(rows.iter().map(|(_, r)| *r).collect()),
    }
}

/// A store on a server, named by a variable; removed at the end.
struct ServerStore {
    store: &'static str,
    url: String,
    destroy: Box<dyn Fn(&str)>,
}

fn unique() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!("{}_{nanos}", std::process::id())
}

/// `base` with one more query option.
fn with_option(base: &str, option: &str) -> String {
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}{option}")
}

fn server_stores() -> (Vec<ServerStore>, Vec<String>) {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let mut stores = Vec::new();
    let mut skipped = Vec::new();
    match var("FLECHE_TEST_POSTGRES_URL") {
        Some(base) => stores.push(ServerStore {
            store: "postgres",
            url: with_option(&base, &format!("schema=fleche_pool_bench_{}", unique())),
            destroy: Box::new(|url| {
                let store = fleche::bridge::block_on(fleche_sql::PgStore::open(url)).unwrap();
                fleche::bridge::block_on(store.destroy()).expect("the bench schema drops");
            }),
        }),
        None => skipped.push("postgres: FLECHE_TEST_POSTGRES_URL is not set".to_owned()),
    }
    match var("FLECHE_TEST_REDIS_URL") {
        Some(base) => stores.push(ServerStore {
            store: "redis",
            url: with_option(&base, &format!("namespace=fleche-pool-bench-{}", unique())),
            destroy: Box::new(|url| {
                let store = fleche::bridge::block_on(fleche_redis::RedisStore::open(url)).unwrap();
                fleche::bridge::block_on(store.destroy()).expect("the bench keys go");
            }),
        }),
        None => skipped.push("redis: FLECHE_TEST_REDIS_URL is not set".to_owned()),
    }
    match var("FLECHE_TEST_S3_URL") {
        Some(endpoint) => {
            let bucket = var("FLECHE_TEST_S3_BUCKET").unwrap_or_else(|| "fleche-test".to_owned());
            let http = if endpoint.starts_with("http://") {
                "&allow_http=true"
            } else {
                ""
            };
            stores.push(ServerStore {
                store: "s3",
                url: format!(
                    "s3://{bucket}/pool-bench-{}?endpoint={endpoint}{http}",
                    unique()
                ),
                destroy: Box::new(|url| {
                    let store = fleche::bridge::block_on(fleche_s3::S3Store::open(url)).unwrap();
                    fleche::bridge::block_on(store.destroy()).expect("the bench objects go");
                }),
            })
        }
        None => skipped.push("s3: FLECHE_TEST_S3_URL is not set".to_owned()),
    }
    (stores, skipped)
}

/// Medians of the sweep cases, seconds per sweep.
struct Sweeps {
    items: u64,
    cached: f64,
    dispatched_hits: f64,
    uncached: f64,
    /// Calls dispatched by the cached sweeps (0: the short-circuit).
    cached_dispatched: u64,
}

fn measure_sweeps(url: &str, items: u64, runs: usize) -> Sweeps {
    let cache = fleche::open(url).unwrap();
    type Square = Task<(u64,), u64>;
    let (cached_task, plain_task, via_worker): (Square, Square, Square) =
        fleche::with_cache(cache, || {
            (
                fleche::task(square).unwrap(),
                fleche::task(plain_square).unwrap(),
                fleche::task(square_in_worker).unwrap(),
            )
        });
    let args = || (0..items).map(|x| (x,));
    let expected: Vec<u64> = args().map(|(x,)| x * x).collect();
    let _ = cached_task.par_map(args().collect::<Vec<_>>()); // all stored
    let pool = Pool::new(2).expect("the workers start");
    // Warm the workers: each has reopened the cache before timing.
    assert_eq!(pool.map(&via_worker, args()).unwrap(), expected);

    let sweep = |task: &Task<(u64,), u64>| -> (f64, u64) {
        let before = pool.dispatched();
        let t = Instant::now();
        let results = pool.map(task, args()).expect("the sweep runs");
        let secs = t.elapsed().as_secs_f64();
        assert_eq!(results, expected);
        (secs, pool.dispatched() - before)
    };
    let (mut cached, mut hits, mut uncached) = (Vec::new(), Vec::new(), Vec::new());
    let mut cached_dispatched = 0;
    for _ in 0..runs {
        let (secs, dispatched) = sweep(&cached_task);
        cached.push(secs);
        cached_dispatched += dispatched;
        hits.push(sweep(&via_worker).0);
        uncached.push(sweep(&plain_task).0);
    }
    Sweeps {
        items,
        cached: median(cached),
        dispatched_hits: median(hits),
        uncached: median(uncached),
        cached_dispatched,
    }
}

fn main() {
    // The workers are this benchmark again; they stop here.
    fleche_pool::init();
    let mode = RunMode::from_args();
    let (samples, runs, items) = match mode {
        RunMode::List => return,
        RunMode::Smoke => (1, 1, 20),
        RunMode::Bench { quick: true } => (7, 3, 1000),
        RunMode::Bench { quick: false } => (15, 7, 1000),
    };

    let dir = tempfile::tempdir().expect("a temp dir");
    let file_url = format!("file://{}", dir.path().join("file-store").display());
    let sqlite_url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let mut hand_overs = vec![
        measure_hand_over("file", &file_url, samples),
        measure_hand_over("sqlite", &sqlite_url, samples),
    ];
    let (servers, skipped) = server_stores();
    for skip in &skipped {
        if std::env::var("FLECHE_TEST_REQUIRE_ALL").is_ok_and(|v| v == "1") {
            panic!("fleche-pool bench: {skip}");
        }
        eprintln!("SKIPPED {skip}; run `eval \"$(scripts/services up)\"` first");
    }
    for server in &servers {
        hand_overs.push(measure_hand_over(server.store, &server.url, samples));
        (server.destroy)(&server.url);
    }
    let sweeps = measure_sweeps(&file_url, items, runs);

    if mode == RunMode::Smoke {
        println!("fleche-pool bench: every case ran once (test mode; no figures)");
        return;
    }
    println!();
    println!("fleche-pool: handing a bound call to a fresh worker process (medians of {samples})");
    println!(
        "  {:<9} {:>10} {:>10} {:>10} {:>10} {:>10} {:>11} | {:>10} {:>10}",
        "store",
        "serialize",
        "decode",
        "reopen",
        "1st hit",
        "= total",
        "round trip",
        "2nd hit",
        "reopen+1st/2nd"
    );
    for h in &hand_overs {
        println!(
            "  {:<9} {:>10} {:>10} {:>10} {:>10} {:>10} {:>11} | {:>10} {:>10}",
            h.store,
            human(h.serialize),
            human(h.decode),
            human(h.reopen),
            human(h.first_hit),
            human(h.total()),
            human(h.round_trip),
            human(h.second_hit),
            times((h.reopen + h.first_hit) / h.second_hit),
        );
    }
    for skip in &skipped {
        println!("  SKIPPED {skip}");
    }
    println!(
        "  (serialize in the parent; decode, reopen and the hits in the worker; the round trip"
    );
    println!(
        "   adds starting the process. The last column: what the first call costs over a warm one.)"
    );
    println!();
    println!(
        "fleche-pool: a sweep of {} calls through a pool of 2 workers, file store (medians of {runs})",
        sweeps.items
    );
    let per = |s: f64| human(s / sweeps.items as f64);
    println!(
        "  all cached, short-circuit     {:>10}  ({:>10} a call; dispatched {})",
        human(sweeps.cached),
        per(sweeps.cached),
        sweeps.cached_dispatched
    );
    println!(
        "  all cached, sent to workers   {:>10}  ({:>10} a call; {} faster with the short-circuit)",
        human(sweeps.dispatched_hits),
        per(sweeps.dispatched_hits),
        times(sweeps.dispatched_hits / sweeps.cached)
    );
    println!(
        "  uncached, trivial body        {:>10}  ({:>10} a call; {} faster with the short-circuit)",
        human(sweeps.uncached),
        per(sweeps.uncached),
        times(sweeps.uncached / sweeps.cached)
    );
}
