//! Redis-store benchmarks: the hit and miss paths of `square(u64)` through
//! a cache on a [`RedisStore`], next to a raw `GET` through the same
//! connection, and hits per second from 64 concurrent tasks next to
//! `redis-benchmark -t get -c 64` — all measured in the same run.
//!
//! `cargo bench -p fleche-redis` (or `backends/redis/benches/run.sh`, which
//! starts the server first) runs against `$FLECHE_TEST_REDIS_URL`, else
//! `redis://127.0.0.1:6379`, in a namespace of its own that is deleted at
//! the end, and prints a table against the issue's targets. Nothing here
//! asserts on timings. `cargo test -p fleche-redis --benches` runs each case
//! once as a smoke test (and skips redis-benchmark).
//!
//! Medians: each case runs in batches long enough to time reliably (31
//! batches of at least 20 ms), and the median time per operation is
//! reported. The hit and its baselines are interleaved — each round times
//! one batch of each, back to back — and the hit/GET ratio is the median
//! of the rounds' ratios, so that a shared machine's changing load does not
//! fall on one of them only. The 64-task throughput counts hits completed in 3 s by 64
//! Tokio tasks sharing the store's one multiplexed connection.

use std::hint::black_box;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use fleche::{Cache, CallStore, ClaimPolicy, Scope, bridge};
use fleche_bench_support::{RunMode, fresh_arg, human, median_per_op, timed, verdict};
use fleche_core::bridge::on_fleche_runtime;
use fleche_redis::{RedisOptions, RedisStore};

#[fleche::fleche]
fn square(x: u64) -> u64 {
    x * x
}

/// `square` for async callers: the same body, awaited by the 64 tasks.
#[fleche::fleche]
async fn square_async(x: u64) -> u64 {
    x * x
}

/// The key the hit cases read (stored before they run).
const HIT_X: u64 = 12;

/// How the summary measures.
struct Plan {
    batches: usize,
    batch_time: Duration,
    throughput_time: Duration,
    redis_benchmark: bool,
}

const BENCH_PLAN: Plan = Plan {
    batches: 31,
    batch_time: Duration::from_millis(20),
    throughput_time: Duration::from_secs(3),
    redis_benchmark: true,
};
const SMOKE_PLAN: Plan = Plan {
    batches: 1,
    batch_time: Duration::ZERO,
    throughput_time: Duration::from_millis(50),
    redis_benchmark: false,
};

/// Issue targets.
mod target {
    pub(super) const HIT_OVER_GET: f64 = 1.5;
    pub(super) const TASKS_OVER_REDIS_BENCHMARK: f64 = 0.5;
}

struct Fixture {
    store: Arc<RedisStore>,
    cache: Cache,
    unclaimed: Cache,
    url: String,
}

fn fixture(url: &str) -> Result<Fixture, Box<dyn std::error::Error>> {
    let namespace = format!("fleche-bench-{}", std::process::id());
    let store = Arc::new(bridge::block_on(RedisStore::open_with(
        url,
        RedisOptions::default().namespace(namespace),
    ))?);
    bridge::block_on(store.destroy())?;
    let cache = Cache::new(store.clone(), store.clone());
    let unclaimed = Cache::builder(store.clone(), store.clone())
        .claims(ClaimPolicy::Never)
        .build();
    Ok(Fixture {
        store,
        cache,
        unclaimed,
        url: url.to_owned(),
    })
}

/// One `redis-benchmark -t get -c 64 -n 100000 -q -P <pipeline>` run
/// against the same server: its GET requests per second, or why there is
/// none.
fn run_redis_benchmark(url: &str, pipeline: u32) -> Result<f64, String> {
    let url = fleche::StoreUrl::parse(url).map_err(|e| e.to_string())?;
    if url.username().is_some() || url.password().is_some() {
        return Err("the server URL has credentials; run redis-benchmark by hand".into());
    }
    let host = url.host().unwrap_or_else(|| "127.0.0.1".to_owned());
    let port = url.port().unwrap_or(6379).to_string();
    let out = Command::new("redis-benchmark")
        .args([
            "-h", &host, "-p", &port, "-t", "get", "-c", "64", "-n", "100000", "-q",
        ])
        .args(["-P", &pipeline.to_string()])
        .output()
        .map_err(|e| format!("cannot run redis-benchmark: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    // "GET: 98231.83 requests per second, p50=0.327 msec" (after \r updates).
    text.rsplit(['\r', '\n'])
        .find_map(|line| {
            let rest = line.trim().strip_prefix("GET: ")?;
            rest.split_whitespace().next()?.parse().ok()
        })
        .ok_or_else(|| format!("unexpected redis-benchmark output: {text}"))
}

/// Seconds per operation of each of `steps`, per round: `batches` rounds,
/// each timing one batch of every step in turn. The batch size is grown
/// first until the slowest step's batch lasts `batch_time`.
fn interleaved(
    batch_time: Duration,
    batches: usize,
    steps: &mut [&mut dyn FnMut()],
) -> Vec<Vec<f64>> {
    let mut n = 1u64;
    loop {
        let slowest = steps
            .iter_mut()
            .map(|step| timed(n, &mut **step))
            .max()
            .unwrap_or_default();
        if slowest >= batch_time || n >= 1 << 32 {
            break;
        }
        n = (n * 2)
            .max((n as f64 * batch_time.as_secs_f64() / slowest.as_secs_f64().max(1e-9)) as u64);
    }
    let mut per_op = vec![Vec::with_capacity(batches); steps.len()];
    for _ in 0..batches.max(1) {
        for (i, step) in steps.iter_mut().enumerate() {
            per_op[i].push(timed(n, &mut **step).as_secs_f64() / n as f64);
        }
    }
    per_op
}

/// The median of `xs`.
fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Hits per second from 64 tasks calling `square_async(HIT_X)` for `time`.
fn tasks_throughput(cache: &Cache, time: Duration) -> f64 {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let scope = Scope::current().with_cache(cache.clone());
    runtime.block_on(async {
        // Warm up: every task's first call, and the connection.
        assert_eq!(scope.run_async(square_async(HIT_X)).await, HIT_X * HIT_X);
        let tasks: Vec<_> = (0..64)
            .map(|_| {
                let (scope, done, stop) = (scope.clone(), done.clone(), stop.clone());
                tokio::spawn(scope.run_async(async move {
                    while !stop.load(Ordering::Relaxed) {
                        black_box(square_async(black_box(HIT_X)).await);
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                }))
            })
            .collect();
        let start = Instant::now();
        let before = done.load(Ordering::Relaxed);
        tokio::time::sleep(time).await;
        let after = done.load(Ordering::Relaxed);
        let elapsed = start.elapsed();
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            t.await.expect("a task did not panic");
        }
        (after - before) as f64 / elapsed.as_secs_f64()
    })
}

struct Figures {
    hit: f64,
    /// The median over rounds of (hit / raw GET) in the same round.
    hit_over_get: f64,
    raw_get: f64,
    raw_hget: f64,
    get_result: f64,
    miss: f64,
    miss_unclaimed: f64,
    record_bytes: usize,
    tasks: f64,
    redis_benchmark: Vec<Result<f64, String>>,
    redis_benchmark_pipelined: Option<Result<f64, String>>,
}

fn measure(fx: &Fixture, plan: &Plan) -> Figures {
    let med =
        |f: &mut dyn FnMut()| median_per_op(plan.batch_time, plan.batches, |n| timed(n, &mut *f));
    let key = square::digest(&HIT_X);
    let calls: Arc<dyn CallStore> = fx.store.clone();

    // Prime the hit key, and copy its record's bytes to a plain string key
    // for the raw GET: the same payload, the same connection.
    fleche::with_cache(fx.cache.clone(), || {
        assert_eq!(square(HIT_X), HIT_X * HIT_X);
        assert_eq!(square(HIT_X), HIT_X * HIT_X);
    });
    let record_key = fx.store.record_key(key);
    let raw_key = format!("{{{}}}:bench-raw", fx.store.namespace());
    let conn = fx.store.connection().clone();
    let record: Vec<u8> = bridge::block_on(on_fleche_runtime({
        let mut conn = conn.clone();
        let record_key = record_key.clone();
        async move {
            redis::cmd("HGET")
                .arg(record_key)
                .arg("r")
                .query_async(&mut conn)
                .await
        }
    }))
    .expect("the hit's record is there");
    bridge::block_on(on_fleche_runtime({
        let mut conn = conn.clone();
        let (raw_key, record) = (raw_key.clone(), record.clone());
        async move {
            redis::cmd("SET")
                .arg(raw_key)
                .arg(record)
                .query_async::<()>(&mut conn)
                .await
        }
    }))
    .expect("SET works");

    let raw = |cmd: redis::Cmd| {
        let mut conn = conn.clone();
        move || {
            let got: Option<Vec<u8>> =
                bridge::block_on(on_fleche_runtime(cmd.query_async(&mut conn))).unwrap();
            black_box(got.expect("the key is there"));
        }
    };
    let mut get = redis::cmd("GET");
    get.arg(&raw_key);
    let mut hget = redis::cmd("HGET");
    hget.arg(&record_key).arg("r");
    // The hit and its baselines, interleaved: each round times one batch
    // of every step back to back, so that the load of a shared machine,
    // which swings from second to second, falls on all of them alike.
    let mut raw_get = raw(get);
    let mut raw_hget = raw(hget);
    let mut get_result = || {
        black_box(bridge::block_on(calls.get_result(black_box(key))).unwrap());
    };
    let mut hit = || {
        black_box(square(black_box(HIT_X)));
    };
    // Inside the cache's scope, as a caller of cached functions runs.
    let steps = fleche::with_cache(fx.cache.clone(), || {
        interleaved(
            plan.batch_time,
            plan.batches,
            &mut [&mut raw_get, &mut raw_hget, &mut get_result, &mut hit],
        )
    });
    let [raw_get, raw_hget, get_result, hit] = [0, 1, 2, 3].map(|i| median(&steps[i]));
    let hit_over_get = median(
        &steps[3]
            .iter()
            .zip(&steps[0])
            .map(|(h, g)| h / g)
            .collect::<Vec<f64>>(),
    );
    let miss = fleche::with_cache(fx.cache.clone(), || {
        med(&mut || {
            black_box(square(black_box(fresh_arg())));
        })
    });
    let miss_unclaimed = fleche::with_cache(fx.unclaimed.clone(), || {
        med(&mut || {
            black_box(square(black_box(fresh_arg())));
        })
    });

    // Throughput, with redis-benchmark just before and just after it.
    let mut redis_benchmark = Vec::new();
    if plan.redis_benchmark {
        redis_benchmark.push(run_redis_benchmark(&fx.url, 1));
    }
    let tasks = tasks_throughput(&fx.cache, plan.throughput_time);
    if plan.redis_benchmark {
        redis_benchmark.push(run_redis_benchmark(&fx.url, 1));
    }
    // For scale: the server's GET rate when each connection pipelines.
    let redis_benchmark_pipelined = plan
        .redis_benchmark
        .then(|| run_redis_benchmark(&fx.url, 16));
    Figures {
        hit,
        raw_get,
        raw_hget,
        get_result,
        hit_over_get,
        miss,
        miss_unclaimed,
        record_bytes: record.len(),
        tasks,
        redis_benchmark,
        redis_benchmark_pipelined,
    }
}

fn print_summary(f: &Figures, plan: &Plan) {
    println!();
    println!(
        "fleche Redis-store benchmarks: median per operation over {} batches of >= {:?} each",
        plan.batches, plan.batch_time
    );
    println!();
    println!("| case | median | target | result |");
    println!("|---|---:|---:|:---:|");
    let ratio = f.hit_over_get;
    println!(
        "| hit: square(k), k stored | {} | <= {:.1}x raw GET | {} |",
        human(f.hit),
        target::HIT_OVER_GET,
        verdict(ratio <= target::HIT_OVER_GET)
    );
    println!(
        "| raw GET of the record's bytes, same connection | {} | - | - |",
        human(f.raw_get)
    );
    println!(
        "| hit / raw GET | {ratio:.2}x | <= {:.1}x | {} |",
        target::HIT_OVER_GET,
        verdict(ratio <= target::HIT_OVER_GET)
    );
    println!(
        "| miss: square(x), x new (claim, record, release) | {} | - | - |",
        human(f.miss)
    );
    println!(
        "| miss without claims (ClaimPolicy::Never) | {} | - | - |",
        human(f.miss_unclaimed)
    );
    println!("| 64 tasks: hits per second | {:.0}/s | - | - |", f.tasks);
    let best = f
        .redis_benchmark
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .copied()
        .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))));
    for (i, run) in f.redis_benchmark.iter().enumerate() {
        match run {
            Ok(rps) => println!(
                "| redis-benchmark -t get -c 64 -n 100000 ({}) | {rps:.0}/s | - | - |",
                if i == 0 { "before" } else { "after" }
            ),
            Err(why) => println!("| redis-benchmark | {why} | - | - |"),
        }
    }
    if let Some(best) = best {
        let share = f.tasks / best;
        println!(
            "| 64 tasks / redis-benchmark GET (the better run) | {:.0} % | >= {:.0} % | {} |",
            share * 100.0,
            target::TASKS_OVER_REDIS_BENCHMARK * 100.0,
            verdict(share >= target::TASKS_OVER_REDIS_BENCHMARK)
        );
    }
    if let Some(Ok(rps)) = &f.redis_benchmark_pipelined {
        println!(
            "| redis-benchmark -t get -c 64 -P 16 (pipelined; for scale) | {rps:.0}/s | - | - |"
        );
    }
    println!();
    println!(
        "redis-benchmark's default sends one request at a time on each of its 64 connections; \
         the 64 tasks share the store's one multiplexed connection, which pipelines them."
    );
    println!();
    println!("Where a hit's time goes (the steps interleaved, round by round; medians):");
    println!();
    println!("| step | median |");
    println!("|---|---:|");
    println!(
        "| raw GET, {} bytes (the record's) | {} |",
        f.record_bytes,
        human(f.raw_get)
    );
    println!("| raw HGET of the record's field | {} |", human(f.raw_hget));
    println!(
        "| RedisStore::get_result (one EVALSHA, decode) | {} |",
        human(f.get_result)
    );
    println!("| the whole hit, square(k) | {} |", human(f.hit));
    println!();
}

fn main() {
    let mode = RunMode::from_args();
    let plan = match mode {
        RunMode::List => return,
        RunMode::Smoke => &SMOKE_PLAN,
        RunMode::Bench { .. } => &BENCH_PLAN,
    };
    let url = std::env::var("FLECHE_TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "redis://127.0.0.1:6379".to_owned());
    let fx = match fixture(&url) {
        Ok(fx) => fx,
        Err(e) => {
            if std::env::var("FLECHE_TEST_REQUIRE_ALL").is_ok_and(|v| v == "1") {
                panic!("fleche redis bench: no server: {}", fleche::ErrorChain(&*e));
            }
            eprintln!(
                "SKIPPED fleche redis bench: no server ({}); run `eval \"$(scripts/services up)\"`",
                fleche::ErrorChain(&*e)
            );
            return;
        }
    };
    let figures = measure(&fx, plan);
    let _ = bridge::block_on(fx.store.destroy());
    if mode != RunMode::Smoke {
        print_summary(&figures, plan);
    } else {
        println!("fleche redis bench: every case ran once (test mode; no figures)");
    }
}
