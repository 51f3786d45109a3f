//! SQL-store benchmarks: the hit and miss paths of `square(u64)` on SQLite
//! (a database file in a temp directory) and PostgreSQL (a schema of its
//! own on the server named by `FLECHE_TEST_POSTGRES_URL`, dropped at the
//! end), each next to a raw sqlx `SELECT` by primary key on the same pool,
//! measured in the same run.
//!
//! SQLite hits read on the calling thread (through rusqlite; see the
//! crate's `sqlite_direct` module), so the SQLite table also shows that
//! select through rusqlite, the floor of a hit.
//!
//! `cargo bench -p fleche-sql --bench sql` prints a table of medians, the
//! issue's targets and the ratios; `-- --quick` uses shorter batches.
//! Without the PostgreSQL variable (`eval "$(scripts/services up)"`) the
//! PostgreSQL rows say they were not measured. `cargo test -p fleche-sql
//! --benches` runs every case once as a smoke test and prints no table.
//!
//! Each case runs in batches long enough to time reliably, 31 batches, and
//! the median time per call is reported. Hits and their baseline are
//! measured twice: from sync code (the sync `square`, and the raw select
//! through the same blocking bridge) and from async code in a Tokio runtime
//! (`square_async`, and the raw select awaited), and then with 32 tasks
//! hitting (or selecting) at once, as rates. A miss computes, claims,
//! stores the record and releases the claim. Nothing here asserts on
//! timings.

use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use fleche::{Cache, ClaimPolicy, Digest, Owner, bridge};
use fleche_bench_support::{RunMode, fresh_arg, human, median_per_op, timed, times, verdict};
use fleche_sql::{PgStore, SqlOptions, SqliteStore};

#[fleche::fleche]
fn square(x: u64) -> u64 {
    x * x
}

#[fleche::fleche]
async fn square_async(x: u64) -> u64 {
    x * x
}

/// Tasks that hit at once in the concurrent case.
const TASKS: u64 = 32;

/// The key the hit cases read (stored before they run).
const HIT_X: u64 = 12;

/// One raw `SELECT result_inline FROM fleche_calls WHERE key = …` on the
/// store's pool.
type RawSelect = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// A database to measure: a cache on it, the same cache without claims,
/// and the raw select of the hit key on the same pool.
struct Subject {
    name: &'static str,
    cache: Cache,
    unclaimed: Cache,
    raw_select: RawSelect,
    /// SQLite: the same select through rusqlite on the calling thread, as
    /// the store's hit path reads.
    direct_select: Option<Box<dyn Fn()>>,
}

/// A [`RawSelect`] of the hit key's inline result by `sql` on `pool` (a
/// macro: the two databases' pools are different types).
macro_rules! raw_select {
    ($pool:expr, $sql:literal) => {{
        let pool = $pool.clone();
        let key = square::digest(&HIT_X);
        let select: RawSelect = Arc::new(move || {
            let pool = pool.clone();
            Box::pin(bridge::on_fleche_runtime(async move {
                let row: Option<(Option<Vec<u8>>,)> = sqlx::query_as($sql)
                    .bind(key.as_bytes().as_slice())
                    .fetch_optional(&pool)
                    .await
                    .expect("the raw select works");
                black_box(row.expect("the hit key is stored"));
            }))
        });
        select
    }};
}

fn sqlite_subject(dir: &tempfile::TempDir) -> Subject {
    let url = format!("sqlite://{}/bench.db", dir.path().display());
    let store = bridge::block_on(SqliteStore::open(&url)).expect("a SQLite file opens");
    let raw_select = raw_select!(
        store.pool(),
        "SELECT result_inline FROM fleche_calls WHERE key = ?"
    );
    let key = square::digest(&HIT_X);
    let conn = rusqlite::Connection::open(dir.path().join("bench.db")).unwrap();
    let direct_select = Box::new(move || {
        let mut stmt = conn
            .prepare_cached("SELECT result_inline FROM fleche_calls WHERE key = ?")
            .unwrap();
        let row: Option<Vec<u8>> = stmt
            .query_row([key.as_bytes().as_slice()], |r| r.get(0))
            .unwrap();
        black_box(row.expect("the hit key is stored"));
    });
    let mut s = subject("SQLite (file)", Arc::new(store), raw_select);
    s.direct_select = Some(direct_select);
    s
}

/// The PostgreSQL store and the schema to drop at the end, if the server
/// is named.
fn postgres_subject() -> Option<(Subject, PgStore)> {
    let Ok(base) = std::env::var("FLECHE_TEST_POSTGRES_URL") else {
        eprintln!(
            "NOTE: FLECHE_TEST_POSTGRES_URL is not set, so PostgreSQL is not measured; \
             run `eval \"$(scripts/services up)\"` first"
        );
        return None;
    };
    let schema = format!("fleche_bench_{}", std::process::id());
    let store = bridge::block_on(PgStore::open_with(
        &base,
        SqlOptions::default().schema(schema),
    ))
    .expect("the PostgreSQL server named by FLECHE_TEST_POSTGRES_URL answers");
    let raw_select = raw_select!(
        store.pool(),
        "SELECT result_inline FROM fleche_calls WHERE key = $1"
    );
    Some((
        subject("PostgreSQL", Arc::new(store.clone()), raw_select),
        store,
    ))
}

fn subject<S>(name: &'static str, store: Arc<S>, raw_select: RawSelect) -> Subject
where
    S: fleche::ValueStore + fleche::CallStore + 'static,
{
    let cache = Cache::new(store.clone(), store.clone());
    let unclaimed = Cache::builder(store.clone(), store)
        .claims(ClaimPolicy::Never)
        .build();
    fleche::with_cache(cache.clone(), || {
        assert_eq!(square(HIT_X), HIT_X * HIT_X);
        assert!(square::contains(&HIT_X).unwrap(), "the hit key is stored");
    });
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(
        fleche::Scope::current()
            .with_cache(cache.clone())
            .run_async(async { assert_eq!(square_async(HIT_X).await, HIT_X * HIT_X) }),
    );
    Subject {
        name,
        cache,
        unclaimed,
        raw_select,
        direct_select: None,
    }
}

/// How the summary measures.
struct Plan {
    batches: usize,
    batch_time: Duration,
}

const BENCH_PLAN: Plan = Plan {
    batches: 31,
    batch_time: Duration::from_millis(20),
};
const QUICK_PLAN: Plan = Plan {
    batches: 15,
    batch_time: Duration::from_millis(5),
};
/// For `cargo test --benches`: every case's code once; the figures mean
/// nothing.
const SMOKE_PLAN: Plan = Plan {
    batches: 1,
    batch_time: Duration::ZERO,
};

/// Medians of one subject, in seconds per call.
struct Figures {
    name: &'static str,
    hit: f64,
    raw_select: f64,
    hit_async: f64,
    raw_select_async: f64,
    /// SQLite: the raw select through rusqlite on the calling thread.
    direct_select: Option<f64>,
    /// Per hit, with [`TASKS`] tasks hitting at once.
    concurrent_hits: f64,
    /// Per raw select, with [`TASKS`] tasks selecting at once.
    concurrent_selects: f64,
    miss: f64,
    miss_unclaimed: f64,
    /// Store operations of a miss, each timed alone on fresh keys.
    miss_steps: Vec<(&'static str, f64)>,
}

fn measure(s: &Subject, plan: &Plan) -> Figures {
    let med = |f: &mut dyn FnMut(u64) -> Duration| median_per_op(plan.batch_time, plan.batches, f);
    let run_sync = |cache: &Cache, op: &mut dyn FnMut()| {
        fleche::with_cache(cache.clone(), || med(&mut |n| timed(n, &mut *op)))
    };

    let hit = run_sync(&s.cache, &mut || {
        black_box(square(black_box(HIT_X)));
    });
    let raw_select = med(&mut |n| timed(n, || bridge::block_on((s.raw_select)())));

    let rt = tokio::runtime::Runtime::new().unwrap();
    let scope = fleche::Scope::current().with_cache(s.cache.clone());
    let hit_async = med(&mut |n| {
        rt.block_on(scope.run_async(async move {
            let start = std::time::Instant::now();
            for _ in 0..n {
                black_box(square_async(black_box(HIT_X)).await);
            }
            start.elapsed()
        }))
    });
    let raw_select_async = med(&mut |n| {
        rt.block_on(async {
            let start = std::time::Instant::now();
            for _ in 0..n {
                (s.raw_select)().await;
            }
            start.elapsed()
        })
    });

    // Many tasks at once: hits per second against raw selects per second.
    let concurrent_hits = med(&mut |n| {
        let per_task = n.div_ceil(TASKS);
        let start = std::time::Instant::now();
        rt.block_on(async {
            let tasks: Vec<_> = (0..TASKS)
                .map(|_| {
                    tokio::spawn(scope.run_async(async move {
                        for _ in 0..per_task {
                            black_box(square_async(black_box(HIT_X)).await);
                        }
                    }))
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        });
        start
            .elapsed()
            .mul_f64(n as f64 / (per_task * TASKS) as f64)
    });
    let concurrent_selects = med(&mut |n| {
        let per_task = n.div_ceil(TASKS);
        let start = std::time::Instant::now();
        rt.block_on(async {
            let tasks: Vec<_> = (0..TASKS)
                .map(|_| {
                    let select = s.raw_select.clone();
                    tokio::spawn(async move {
                        for _ in 0..per_task {
                            select().await;
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        });
        start
            .elapsed()
            .mul_f64(n as f64 / (per_task * TASKS) as f64)
    });

    let direct_select = s
        .direct_select
        .as_ref()
        .map(|select| med(&mut |n| timed(n, select)));

    let miss = run_sync(&s.cache, &mut || {
        black_box(square(fresh_arg()));
    });
    let miss_unclaimed = run_sync(&s.unclaimed, &mut || {
        black_box(square(fresh_arg()));
    });
    let miss_steps = miss_steps(s, plan);
    Figures {
        name: s.name,
        hit,
        raw_select,
        hit_async,
        raw_select_async,
        direct_select,
        concurrent_hits,
        concurrent_selects,
        miss,
        miss_unclaimed,
        miss_steps,
    }
}

/// The store operations a miss makes, each timed alone on fresh keys.
fn miss_steps(s: &Subject, plan: &Plan) -> Vec<(&'static str, f64)> {
    let med = |f: &mut dyn FnMut(u64) -> Duration| median_per_op(plan.batch_time, plan.batches, f);
    let calls = s.cache.calls().clone();
    let template = bridge::block_on(s.cache.record(square::digest(&HIT_X)))
        .unwrap()
        .expect("the hit key's record");
    let owner = Owner::new();
    let ttl = Duration::from_secs(30);
    let fresh_key = || Digest::of(&fresh_arg().to_le_bytes());
    vec![
        (
            "get_result of an absent key",
            med(&mut |n| {
                timed(n, || {
                    black_box(bridge::block_on(calls.get_result(fresh_key())).unwrap());
                })
            }),
        ),
        (
            "claim + release",
            med(&mut |n| {
                timed(n, || {
                    let k = fresh_key();
                    assert!(
                        bridge::block_on(calls.claim(k, &owner, ttl))
                            .unwrap()
                            .is_acquired()
                    );
                    assert!(bridge::block_on(calls.release(k, &owner)).unwrap());
                })
            }),
        ),
        (
            "CallStore::put of a record",
            med(&mut |n| {
                timed(n, || {
                    let mut record = template.clone();
                    record.key = fresh_key();
                    bridge::block_on(calls.put(record)).unwrap();
                })
            }),
        ),
    ]
}

/// The targets.
mod target {
    /// A hit against a raw select by primary key on the same pool.
    pub(super) const HIT_OVER_SELECT: f64 = 1.5;
    /// A SQLite hit.
    pub(super) const SQLITE_HIT: f64 = 30e-6;
}

/// Python fleche with a SQLite call store on this machine, for scale.
mod python {
    pub(super) const HIT: f64 = 700e-6;
    pub(super) const MISS: f64 = 4e-3;
}

fn print_summary(all: &[Figures], plan: &Plan) {
    println!();
    println!(
        "fleche SQL-store benchmarks: square(u64), median per call over {} batches of >= {:?}",
        plan.batches, plan.batch_time
    );
    println!();
    println!("| store | case | median | baseline (same run) | ratio | target | result |");
    println!("|---|---|---:|---:|---:|---:|:---:|");
    for f in all {
        // A hit against the raw select on the same pool, driven the same way.
        let against_select = |case: &str, hit: f64, how: &str, select: f64| {
            let ratio = hit / select;
            println!(
                "| {} | {case} | {} | raw SELECT by key, {how}: {} | {ratio:.2}x | <= {:.1}x | {} |",
                f.name,
                human(hit),
                human(select),
                target::HIT_OVER_SELECT,
                verdict(ratio <= target::HIT_OVER_SELECT),
            );
        };
        against_select("hit, sync", f.hit, "sync", f.raw_select);
        against_select("hit, async", f.hit_async, "awaited", f.raw_select_async);
        let ratio = f.concurrent_selects / f.concurrent_hits;
        println!(
            "| {} | hits/s, {TASKS} tasks at once | {:.0}/s | raw SELECTs/s, {TASKS} tasks: {:.0}/s | {ratio:.2}x the rate | - | - |",
            f.name,
            1.0 / f.concurrent_hits,
            1.0 / f.concurrent_selects,
        );
        // SQLite's hits read on the calling thread: their floor, and the
        // absolute target the issue sets for SQLite.
        if let Some(direct) = f.direct_select {
            let ratio = f.hit / direct;
            println!(
                "| {} | hit, sync | {} | raw rusqlite SELECT by key, same thread: {} | {ratio:.2}x | - | - |",
                f.name,
                human(f.hit),
                human(direct),
            );
            println!(
                "| {} | hit, sync | {} | - | - | <= {} | {} |",
                f.name,
                human(f.hit),
                human(target::SQLITE_HIT),
                verdict(f.hit <= target::SQLITE_HIT),
            );
        }
        println!(
            "| {} | miss (claim, store, release) | {} | - | - | - | - |",
            f.name,
            human(f.miss)
        );
        println!(
            "| {} | miss without claims | {} | - | - | - | - |",
            f.name,
            human(f.miss_unclaimed)
        );
    }
    println!();
    println!("Where a miss's time goes (store operations, each timed alone on fresh keys):");
    println!();
    println!("| store | operation | median |");
    println!("|---|---|---:|");
    for f in all {
        for (step, t) in &f.miss_steps {
            println!("| {} | {step} | {} |", f.name, human(*t));
        }
    }
    println!();
    println!(
        "For scale, Python fleche with a SQLite call store on this machine: {} per hit, \
         {}-8 ms per miss.",
        human(python::HIT),
        human(python::MISS)
    );
    for f in all {
        println!(
            "- {}: hit {} faster than Python's, miss {} faster than Python's best",
            f.name,
            times(python::HIT / f.hit),
            times(python::MISS / f.miss)
        );
    }
    println!();
}

fn main() {
    let mode = RunMode::from_args();
    let plan = match mode {
        RunMode::List => return,
        RunMode::Smoke => &SMOKE_PLAN,
        RunMode::Bench { quick: true } => &QUICK_PLAN,
        RunMode::Bench { quick: false } => &BENCH_PLAN,
    };

    let dir = tempfile::tempdir().expect("a temp dir");
    let mut figures = vec![measure(&sqlite_subject(&dir), plan)];
    if let Some((pg, store)) = postgres_subject() {
        figures.push(measure(&pg, plan));
        bridge::block_on(store.destroy()).expect("the bench schema drops");
    }
    if mode != RunMode::Smoke {
        print_summary(&figures, plan);
    } else {
        println!("fleche SQL bench: every case ran once (test mode; no figures)");
    }
}
