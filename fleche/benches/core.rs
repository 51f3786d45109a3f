//! Core benchmarks: the hit and miss paths of a `#[fleche]` function on the
//! memory store, and argument digests of large values, with baselines
//! measured in the same run.
//!
//! `cargo bench -p fleche --bench core` runs criterion, then prints a
//! summary table of medians against the targets. Useful flags after
//! `--`: `--quick` (criterion's quick mode; the summary uses shorter batches
//! too), a name filter (applies to criterion's cases only; the summary
//! always measures everything, so a filter that matches nothing, such as
//! `-- summary-only`, prints just the table in about 15 s), `--noplot`.
//! `cargo test --benches` runs each case once as a smoke test and prints no
//! table.
//!
//! The summary measures each case on its own: the operation is run in
//! batches long enough to time reliably, 31 batches, and the median time per
//! operation is reported. Nothing here asserts on timings.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{BenchmarkGroup, Criterion, SamplingMode, Throughput, measurement::WallTime};
use fleche::{Cache, Digest, Scope, bridge, codec, fleche};
use fleche_bench_support::{RunMode, fresh_arg, human, timed, times};
use serde_bytes::ByteBuf;

#[fleche]
fn square(x: u64) -> u64 {
    x * x
}

/// The key that the hit cases read (stored before they run).
const HIT_X: u64 = 12;
/// 1 MiB.
const MIB: usize = 1 << 20;
/// Elements of the integer list.
const LIST_LEN: u64 = 1_000_000;

/// A new, empty memory cache.
fn memory_cache() -> Cache {
    fleche::open("memory://").expect("memory:// always opens")
}

/// A memory cache holding `square(HIT_X)`.
fn primed_cache() -> Cache {
    let cache = memory_cache();
    fleche::with_cache(cache.clone(), || {
        assert_eq!(square(HIT_X), HIT_X * HIT_X);
        assert!(square::contains(&HIT_X).unwrap());
        assert_eq!(square(HIT_X), HIT_X * HIT_X);
    });
    cache
}

/// 1 MiB of deterministic, incompressible-looking bytes (xorshift64).
fn mib_of_bytes() -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut out = Vec::with_capacity(MIB);
    while out.len() < MIB {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(MIB);
    out
}

/// `0..10^6`, like Python's `list(range(10**6))`.
fn list_of_u64() -> Vec<u64> {
    (0..LIST_LEN).collect()
}

/// The values the digest cases hash, built once.
struct Inputs {
    raw: Vec<u8>,
    bytes: Bytes,
    byte_buf: ByteBuf,
    list: Vec<u64>,
}

impl Inputs {
    fn new() -> Self {
        let raw = mib_of_bytes();
        Self {
            bytes: Bytes::from(raw.clone()),
            byte_buf: ByteBuf::from(raw.clone()),
            list: list_of_u64(),
            raw,
        }
    }
}

fn digest<T: serde::Serialize + ?Sized>(v: &T) -> Digest {
    codec::digest(v).expect("encodes")
}

/// One call of `square` on a key that is never stored before.
fn one_miss() -> u64 {
    let x = fresh_arg();
    let y = square(black_box(x));
    debug_assert_eq!(y, x.wrapping_mul(x));
    y
}

// ---------------------------------------------------------------- criterion

fn calls_group(c: &mut Criterion) {
    let cache = primed_cache();
    let key = square::digest(&HIT_X);
    let calls = Arc::clone(cache.calls());

    let mut g = c.benchmark_group("call");
    g.measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));

    fleche::with_cache(cache.clone(), || {
        g.bench_function("hit", |b| b.iter(|| square(black_box(HIT_X))));
    });

    // Each criterion sample gets a new store, so the store does not grow
    // without bound; opening and dropping it is not timed.
    g.bench_function("miss", |b| {
        b.iter_custom(|iters| {
            Scope::current().with_cache(memory_cache()).run(|| {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(one_miss());
                }
                start.elapsed()
            })
        })
    });

    g.bench_function("baseline/raw_get_result", |b| {
        b.iter(|| bridge::block_on(calls.get_result(black_box(key))))
    });

    g.bench_function("baseline/uncached_body", |b| {
        b.iter(|| {
            let x = black_box(HIT_X);
            black_box(x * x)
        })
    });
    g.finish();
}

fn configure_big(g: &mut BenchmarkGroup<'_, WallTime>) {
    g.measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(50)
        .sampling_mode(SamplingMode::Flat);
}

fn digest_group(c: &mut Criterion, inputs: &Inputs) {
    let mut g = c.benchmark_group("digest_1MiB");
    configure_big(&mut g);
    g.throughput(Throughput::Bytes(MIB as u64));
    g.bench_function("bytes::Bytes", |b| b.iter(|| digest(&inputs.bytes)));
    g.bench_function("serde_bytes::ByteBuf", |b| {
        b.iter(|| digest(&inputs.byte_buf))
    });
    g.bench_function("Vec<u8>", |b| b.iter(|| digest(&inputs.raw)));
    g.bench_function("baseline/blake3::hash", |b| {
        b.iter(|| blake3::hash(black_box(&inputs.raw)))
    });
    g.finish();

    let mut g = c.benchmark_group("digest_list");
    configure_big(&mut g);
    g.throughput(Throughput::Elements(LIST_LEN));
    g.bench_function("Vec<u64>_1e6", |b| b.iter(|| digest(&inputs.list)));
    g.finish();
}

// ---------------------------------------------------------------- summary

/// How the summary measures.
struct Plan {
    /// Batches per case; the median is taken over them.
    batches: usize,
    /// A batch runs the operation until at least this long.
    batch_time: Duration,
}

const BENCH_PLAN: Plan = Plan {
    batches: 31,
    batch_time: Duration::from_millis(10),
};
const QUICK_PLAN: Plan = Plan {
    batches: 31,
    batch_time: Duration::from_millis(2),
};
/// For `cargo test --benches`: runs every case's code once, measures nothing.
const SMOKE_PLAN: Plan = Plan {
    batches: 1,
    batch_time: Duration::ZERO,
};

/// Median seconds per operation with this plan.
fn median(plan: &Plan, batch: impl FnMut(u64) -> Duration) -> f64 {
    fleche_bench_support::median_per_op(plan.batch_time, plan.batches, batch)
}

/// Medians of every case, in seconds per operation.
struct Figures {
    hit: f64,
    miss: f64,
    get_result: f64,
    body: f64,
    bytes: f64,
    byte_buf: f64,
    vec_u8: f64,
    blake3: f64,
    list: f64,
    /// Sub-steps of a hit, for where its time goes.
    steps: Vec<(&'static str, f64)>,
}

fn measure(plan: &Plan, inputs: &Inputs) -> Figures {
    let cache = primed_cache();
    let key = square::digest(&HIT_X);
    let calls = Arc::clone(cache.calls());
    let arg = fleche::arg_digest(&HIT_X).unwrap();
    let inline: Bytes = bridge::block_on(calls.get_result(key))
        .unwrap()
        .and_then(|r| r.inline)
        .expect("square's result is stored inline");

    let hit = fleche::with_cache(cache.clone(), || {
        median(plan, |n| {
            timed(n, || {
                black_box(square(black_box(HIT_X)));
            })
        })
    });
    let miss = median(plan, |n| {
        Scope::current().with_cache(memory_cache()).run(|| {
            timed(n, || {
                black_box(one_miss());
            })
        })
    });
    let get_result = median(plan, |n| {
        timed(n, || {
            black_box(bridge::block_on(calls.get_result(black_box(key))).unwrap());
        })
    });
    let body = median(plan, |n| {
        timed(n, || {
            let x = black_box(HIT_X);
            black_box(x * x);
        })
    });

    let steps = fleche::with_cache(cache.clone(), || {
        let spec = square::spec();
        let args = [("x", arg)];
        let step = |f: &mut dyn FnMut()| median(plan, |n| timed(n, &mut *f));
        vec![
            (
                "__private::prepare()",
                step(&mut || fleche::__private::prepare()),
            ),
            (
                "Scope::current() + cache_or_default",
                step(&mut || {
                    let s = Scope::current();
                    black_box(s.cache_or_default().unwrap());
                }),
            ),
            (
                "arg_digest(&u64)",
                step(&mut || {
                    black_box(fleche::arg_digest(black_box(&HIT_X)).unwrap());
                }),
            ),
            (
                "FnSpec::key (1 arg)",
                step(&mut || {
                    black_box(spec.key(black_box(&args)));
                }),
            ),
            (
                "block_on(ready future)",
                step(&mut || {
                    black_box(bridge::block_on(async { black_box(1u8) }));
                }),
            ),
            (
                "block_on(get_result)",
                step(&mut || {
                    black_box(bridge::block_on(calls.get_result(black_box(key))).unwrap());
                }),
            ),
            (
                "Digest::of(result bytes)",
                step(&mut || {
                    black_box(Digest::of(black_box(&inline)));
                }),
            ),
            (
                "codec::decode::<u64>",
                step(&mut || {
                    black_box(codec::decode::<u64>(black_box(&inline)).unwrap());
                }),
            ),
            (
                "Cache::get::<u64> (fetch+verify+decode)",
                step(&mut || {
                    black_box(bridge::block_on(cache.get::<u64>(black_box(key))).unwrap());
                }),
            ),
        ]
    });

    let dig = |v: &dyn Fn() -> Digest| {
        median(plan, |n| {
            timed(n, || {
                black_box(v());
            })
        })
    };
    Figures {
        hit,
        miss,
        get_result,
        body,
        bytes: dig(&|| digest(black_box(&inputs.bytes))),
        byte_buf: dig(&|| digest(black_box(&inputs.byte_buf))),
        vec_u8: dig(&|| digest(black_box(&inputs.raw))),
        blake3: dig(&|| blake3::hash(black_box(&inputs.raw)).into()),
        list: dig(&|| digest(black_box(&inputs.list))),
        steps,
    }
}

/// Python fleche 0.22.2 on this machine, for scale.
mod python {
    pub(super) const HIT: f64 = 80e-6;
    pub(super) const MISS: f64 = 188e-6;
    pub(super) const MIB_BYTES: f64 = 0.58e-3;
    pub(super) const LIST: f64 = 1.1;
}

fn print_summary(f: &Figures, plan: &Plan) {
    println!();
    println!(
        "fleche core benchmarks: median per operation over {} batches of >= {:?} each",
        plan.batches, plan.batch_time
    );
    println!();
    println!("| case | median | target | result | Python fleche 0.22.2 | speedup vs Python |");
    println!("|---|---:|---:|:---:|---:|---:|");
    let rows: [(&str, f64, Option<f64>, Option<f64>); 6] = [
        (
            "hit: square(k), k stored",
            f.hit,
            Some(1e-6),
            Some(python::HIT),
        ),
        (
            "miss: square(x), x new",
            f.miss,
            Some(10e-6),
            Some(python::MISS),
        ),
        (
            "digest 1 MiB bytes::Bytes",
            f.bytes,
            Some(0.3e-3),
            Some(python::MIB_BYTES),
        ),
        (
            "digest 1 MiB serde_bytes::ByteBuf",
            f.byte_buf,
            Some(0.3e-3),
            Some(python::MIB_BYTES),
        ),
        (
            "digest 1 MiB Vec<u8> (a serde sequence) *",
            f.vec_u8,
            Some(0.3e-3),
            Some(python::MIB_BYTES),
        ),
        (
            "digest Vec<u64>, 10^6 elements",
            f.list,
            Some(15e-3),
            Some(python::LIST),
        ),
    ];
    for (name, t, target, py) in rows {
        let (target_s, verdict) = match target {
            Some(limit) => (
                format!("<= {}", human(limit)),
                if t <= limit { "PASS" } else { "FAIL" },
            ),
            None => ("-".into(), "-"),
        };
        let (py_s, speedup) = match py {
            Some(p) => (human(p), times(p / t)),
            None => ("-".into(), "-".into()),
        };
        println!(
            "| {name} | {} | {target_s} | {verdict} | {py_s} | {speedup} |",
            human(t)
        );
    }
    println!();
    println!(
        "* the issue states the 1 MiB target for bytes; a Vec<u8> is held to it for comparison."
    );
    println!();
    println!("Baselines (same run):");
    println!();
    println!("| baseline | median |");
    println!("|---|---:|");
    println!(
        "| raw MemoryStore get_result (dyn CallStore, bridge::block_on) | {} |",
        human(f.get_result)
    );
    println!("| un-cached body x*x | {} |", human(f.body));
    println!(
        "| blake3::hash of 1 MiB (issue: ~0.16 ms here) | {} |",
        human(f.blake3)
    );
    println!();
    println!("Ratios:");
    println!();
    println!("- hit / raw get_result = {:.2}", f.hit / f.get_result);
    println!(
        "- digest(1 MiB Bytes) / blake3::hash(1 MiB) = {:.2}",
        f.bytes / f.blake3
    );
    println!(
        "- digest(1 MiB ByteBuf) / blake3::hash(1 MiB) = {:.2}",
        f.byte_buf / f.blake3
    );
    println!(
        "- digest(1 MiB Vec<u8>) / blake3::hash(1 MiB) = {:.2}",
        f.vec_u8 / f.blake3
    );
    println!("- hit / un-cached body = {:.0}", f.hit / f.body);
    println!();
    println!("Where a hit's time goes (each sub-step measured alone; they overlap):");
    println!();
    println!("| sub-step | median |");
    println!("|---|---:|");
    for (name, t) in &f.steps {
        println!("| {name} | {} |", human(*t));
    }
    println!();
}

// ---------------------------------------------------------------- main

fn main() {
    let mode = RunMode::from_args();
    let profiling = std::env::args().any(|a| a.starts_with("--profile-time"));

    let inputs = Inputs::new();
    let mut c = Criterion::default().configure_from_args();
    calls_group(&mut c);
    digest_group(&mut c, &inputs);
    c.final_summary();

    if profiling {
        return;
    }
    match mode {
        RunMode::List => {}
        RunMode::Bench { quick } => {
            let plan = if quick { &QUICK_PLAN } else { &BENCH_PLAN };
            let figures = measure(plan, &inputs);
            print_summary(&figures, plan);
        }
        RunMode::Smoke => {
            // Exercise the summary's code once; its figures mean nothing.
            measure(&SMOKE_PLAN, &inputs);
            println!("fleche core bench: summary skipped (test mode)");
        }
    }
}
