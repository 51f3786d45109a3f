//! File-store benchmarks: the hit and miss paths of a `#[fleche]` function
//! on a [`FileStore`] in a temp directory, with a plain `std::fs::read` of
//! the call-record file measured in the same run as the baseline.
//!
//! `cargo bench -p fleche-file --bench file` measures the summary's cases,
//! runs criterion, then prints the summary: a table of medians against the
//! issue's targets. Useful flags after
//! `--`: `--quick` (criterion's quick mode; the summary uses shorter batches
//! too), a name filter (applies to criterion's cases only; the summary
//! always measures everything, so a filter that matches nothing, such as
//! `-- summary-only`, prints just the table in about 10 s), `--noplot`.
//! `cargo test -p fleche-file --benches` runs each case once as a smoke test
//! and prints no table. The stores live in new directories under
//! `$FLECHE_BENCH_DIR` if set (to compare file systems), else under the
//! system's temp directory.
//!
//! The summary measures each case on its own: the operation is run in
//! batches long enough to time reliably, 31 batches, and the median time per
//! operation is reported. A miss case uses one store for all its batches, so
//! the store grows to a few thousand records, like a young cache in use:
//! most misses create their shard directories. Nothing here asserts on
//! timings.
//!
//! Misses create files, so their times depend on the file system's state.
//! On ext4 without a journal (as in some VMs), creating a file skips the
//! inodes deleted in the last minute or more, so right after many files
//! were deleted (another run's stores, a `cargo clean`) creations, and
//! misses, are many times slower; wait a few minutes between runs there,
//! or compare with `FLECHE_BENCH_DIR=/dev/shm`.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode};
use fleche::{
    Bytes, Cache, CallRecord, CallStore, ClaimPolicy, Digest, Owner, Scope, ValueRef, bridge, codec,
};
use fleche_bench_support::{RunMode, fresh_arg, human, median_per_op, timed, times, verdict};
use fleche_file::{FileOptions, FileStore};
use serde::Deserialize;
use tempfile::TempDir;

#[fleche::fleche]
fn square(x: u64) -> u64 {
    x * x
}

/// The key that the hit cases read (stored before they run).
const HIT_X: u64 = 12;

/// A key no store of this process holds, for the store-level sub-steps.
fn fresh_key() -> Digest {
    Digest::of(&fresh_arg().to_le_bytes())
}

/// Where the stores go: a new directory in `$FLECHE_BENCH_DIR`, else in
/// the system's temp directory.
fn temp_dir() -> TempDir {
    match std::env::var_os("FLECHE_BENCH_DIR") {
        Some(parent) => tempfile::tempdir_in(parent),
        None => tempfile::tempdir(),
    }
    .expect("a temp dir")
}

/// A file store in its own temp directory, and a cache over it.
struct Fixture {
    /// Removed on drop.
    _dir: TempDir,
    store: Arc<FileStore>,
    cache: Cache,
}

impl Fixture {
    fn new(fsync: bool) -> Self {
        Self::with_claims(fsync, ClaimPolicy::default())
    }

    fn with_claims(fsync: bool, claims: ClaimPolicy) -> Self {
        let dir = temp_dir();
        let store = FileStore::open_with(dir.path(), FileOptions::default().fsync(fsync))
            .expect("a new file store opens");
        let store = Arc::new(store);
        let cache = if claims == ClaimPolicy::default() {
            Cache::new(store.clone(), store.clone())
        } else {
            Cache::builder(store.clone(), store.clone())
                .claims(claims)
                .build()
        };
        Self {
            _dir: dir,
            store,
            cache,
        }
    }

    fn root(&self) -> &Path {
        self.store.root()
    }

    fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        fleche::with_cache(self.cache.clone(), f)
    }
}

/// `ROOT/calls/<hex[0..2]>/<hex>`, where the store keeps the
/// record of `key`.
fn record_path(root: &Path, key: Digest) -> PathBuf {
    let hex = key.to_hex();
    root.join("calls").join(&hex[..2]).join(&hex)
}

/// A store (default options, fsync on) holding `square(HIT_X)`, its key
/// and the path of its record file.
fn primed() -> (Fixture, Digest, PathBuf) {
    let fx = Fixture::new(true);
    let key = square::digest(&HIT_X);
    fx.run(|| {
        assert_eq!(square(HIT_X), HIT_X * HIT_X);
        assert!(square::contains(&HIT_X).unwrap());
        assert_eq!(square(HIT_X), HIT_X * HIT_X);
    });
    let path = record_path(fx.root(), key);
    let bytes = std::fs::read(&path).expect("the hit key's record file is where the layout says");
    let record = CallRecord::from_bytes(&bytes).expect("the record decodes");
    assert_eq!(record.key, key);
    assert!(record.result.inline.is_some(), "square's result is inline");
    (fx, key, path)
}

/// One call of `square` on a key that was never stored.
fn one_miss() -> u64 {
    let x = fresh_arg();
    let y = square(black_box(x));
    debug_assert_eq!(y, x * x);
    y
}

/// The fields `FileStore::get_result` decodes from a record (a copy of the
/// store's private partial decode, to time it alone).
#[derive(Deserialize)]
struct Head {
    key: Digest,
    result: ValueRef,
}

// ---------------------------------------------------------------- criterion

fn calls_group(c: &mut Criterion) {
    let (fx, key, path) = primed();
    let calls: Arc<dyn CallStore> = Arc::clone(fx.cache.calls());

    let mut g = c.benchmark_group("file");
    g.measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));

    fx.run(|| {
        g.bench_function("hit", |b| b.iter(|| square(black_box(HIT_X))));
    });
    g.bench_function("baseline/fs_read_record", |b| {
        b.iter(|| std::fs::read(black_box(&path)).unwrap())
    });
    g.bench_function("baseline/get_result", |b| {
        b.iter(|| bridge::block_on(calls.get_result(black_box(key))).unwrap())
    });

    // One store per miss case; it grows by the records the case writes.
    let off = Fixture::new(false);
    g.bench_function("miss/fsync_off", |b| {
        b.iter_custom(|iters| {
            off.run(|| {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(one_miss());
                }
                start.elapsed()
            })
        })
    });
    g.finish();

    // A miss with fsync lasts milliseconds: fewer, flat samples.
    let mut g = c.benchmark_group("file");
    g.measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat);
    let on = Fixture::new(true);
    g.bench_function("miss/fsync_on", |b| {
        b.iter_custom(|iters| {
            on.run(|| {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(one_miss());
                }
                start.elapsed()
            })
        })
    });
    g.finish();
}

// ---------------------------------------------------------------- summary

/// How the summary measures.
struct Plan {
    /// Batches per case; the median is taken over them.
    batches: usize,
    /// A batch runs the operation until at least this long.
    batch_time: Duration,
    /// Batches of the fsync-on miss case (milliseconds per call).
    fsync_batches: usize,
}

const BENCH_PLAN: Plan = Plan {
    batches: 31,
    batch_time: Duration::from_millis(10),
    fsync_batches: 31,
};
const QUICK_PLAN: Plan = Plan {
    batches: 31,
    batch_time: Duration::from_millis(2),
    fsync_batches: 11,
};
/// For `cargo test --benches`: runs every case's code once, measures nothing.
const SMOKE_PLAN: Plan = Plan {
    batches: 1,
    batch_time: Duration::ZERO,
    fsync_batches: 1,
};

/// Medians of every case, in seconds per operation.
struct Figures {
    hit: f64,
    miss_off: f64,
    miss_on: f64,
    fs_read: f64,
    get_result: f64,
    /// Records in the fsync-off miss store at the end.
    miss_records: u64,
    /// Directories and files in that store at the end (the root excluded).
    miss_inodes: (u64, u64),
    /// Sub-steps of a hit, for where its time goes.
    hit_steps: Vec<(&'static str, f64)>,
    /// Sub-steps of a miss (fsync off), for where its time goes.
    miss_steps: Vec<(&'static str, f64)>,
    /// The stores and scratch directory, removed when the figures are
    /// dropped, after criterion: removing thousands of files first would
    /// slow criterion's misses on some file systems (see the top).
    _dirs: (Vec<Fixture>, TempDir),
}

fn measure(plan: &Plan) -> Figures {
    let med = |f: &mut dyn FnMut(u64) -> Duration| median_per_op(plan.batch_time, plan.batches, f);
    let step =
        |f: &mut dyn FnMut()| median_per_op(plan.batch_time, plan.batches, |n| timed(n, &mut *f));

    let (fx, key, path) = primed();
    let calls: Arc<dyn CallStore> = Arc::clone(fx.cache.calls());
    let record_bytes = std::fs::read(&path).unwrap();
    let inline: Bytes = CallRecord::from_bytes(&record_bytes)
        .unwrap()
        .result
        .inline
        .expect("square's result is stored inline");

    let hit = fx.run(|| {
        med(&mut |n| {
            timed(n, || {
                black_box(square(black_box(HIT_X)));
            })
        })
    });
    let fs_read = step(&mut || {
        black_box(std::fs::read(black_box(&path)).unwrap());
    });
    let get_result = step(&mut || {
        black_box(bridge::block_on(calls.get_result(black_box(key))).unwrap());
    });

    let off = Fixture::new(false);
    let before = fresh_arg();
    let miss_off = off.run(|| {
        med(&mut |n| {
            timed(n, || {
                black_box(one_miss());
            })
        })
    });
    // The arguments handed out in between, one per miss.
    let miss_records = fresh_arg() - before - 1;
    let miss_inodes = count_entries(off.root());
    let unclaimed = Fixture::with_claims(false, ClaimPolicy::Never);
    let miss_unclaimed = unclaimed.run(|| {
        med(&mut |n| {
            timed(n, || {
                black_box(one_miss());
            })
        })
    });
    let on = Fixture::new(true);
    let miss_on = on.run(|| {
        median_per_op(plan.batch_time, plan.fsync_batches, |n| {
            timed(n, || {
                black_box(one_miss());
            })
        })
    });

    let hit_steps = fx.run(|| {
        let spec = square::spec();
        let cache = fx.cache.clone();
        vec![
            (
                "Scope::current() + cache_or_default",
                step(&mut || {
                    black_box(Scope::current().cache_or_default().unwrap());
                }),
            ),
            (
                "arg_digest(&u64) + FnSpec::key",
                step(&mut || {
                    let a = [("x", fleche::arg_digest(black_box(&HIT_X)).unwrap())];
                    black_box(spec.key(&a));
                }),
            ),
            (
                "record path (to_hex + 4 joins)",
                step(&mut || {
                    black_box(record_path(black_box(fx.root()), black_box(key)));
                }),
            ),
            (
                "std::fs::read(record)",
                step(&mut || {
                    black_box(std::fs::read(black_box(&path)).unwrap());
                }),
            ),
            (
                "decode Head {key, result} (get_result's)",
                step(&mut || {
                    let h = codec::decode::<Head>(black_box(&record_bytes)).unwrap();
                    assert!(h.key == key);
                    black_box(h.result);
                }),
            ),
            (
                "CallRecord::from_bytes (full decode)",
                step(&mut || {
                    black_box(CallRecord::from_bytes(black_box(&record_bytes)).unwrap());
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
            ("the whole hit, square(k)", hit),
        ]
    });

    // Store-level pieces of a miss, on the fsync-off store, fresh keys.
    let store = Arc::clone(&off.store);
    let template = CallRecord::from_bytes(&record_bytes).unwrap();
    let owner = Owner::new();
    let ttl = Duration::from_secs(30);
    let scratch = temp_dir();
    let mut counter = 0u64;
    let miss_steps = vec![
        (
            "get_result of an absent key (ENOENT)",
            step(&mut || {
                let k = fresh_key();
                black_box(bridge::block_on(CallStore::get_result(&*store, k)).unwrap());
            }),
        ),
        (
            "claim + release, fresh key",
            step(&mut || {
                let k = fresh_key();
                let c = bridge::block_on(store.claim(k, &owner, ttl)).unwrap();
                assert!(c.is_acquired());
                assert!(bridge::block_on(store.release(k, &owner)).unwrap());
            }),
        ),
        (
            "CallRecord::to_bytes (full record)",
            step(&mut || {
                black_box(black_box(&template).to_bytes().unwrap());
            }),
        ),
        (
            "CallStore::put(record), fresh key",
            step(&mut || {
                let mut r = template.clone();
                r.key = fresh_key();
                bridge::block_on(CallStore::put(&*store, r)).unwrap();
            }),
        ),
        (
            "plain write: tmp file + rename, one dir (baseline)",
            step(&mut || {
                counter += 1;
                let dst = scratch.path().join(format!("f{counter}"));
                let tmp = scratch.path().join(format!(".tmp-{counter}"));
                std::fs::write(&tmp, black_box(&record_bytes)).unwrap();
                std::fs::rename(&tmp, &dst).unwrap();
            }),
        ),
        (
            "create a new empty file (one inode; baseline)",
            step(&mut || {
                counter += 1;
                let p = scratch.path().join(format!("e{counter}"));
                std::fs::File::create_new(p).unwrap();
            }),
        ),
        (
            "mkdir a new directory (one inode; baseline)",
            step(&mut || {
                counter += 1;
                std::fs::create_dir(scratch.path().join(format!("m{counter}"))).unwrap();
            }),
        ),
        (
            "plain write: mkdir -p ab/cd + tmp + rename (baseline)",
            step(&mut || {
                counter += 1;
                let d = scratch
                    .path()
                    .join(format!("d{counter}"))
                    .join(format!("{:02x}", counter & 0xff));
                std::fs::create_dir_all(&d).unwrap();
                let tmp = d.join(".tmp");
                std::fs::write(&tmp, black_box(&record_bytes)).unwrap();
                std::fs::rename(&tmp, d.join("f")).unwrap();
            }),
        ),
        (
            "the whole miss without claims (ClaimPolicy::Never)",
            miss_unclaimed,
        ),
        ("the whole miss, square(x) (fsync off)", miss_off),
    ];

    Figures {
        hit,
        miss_off,
        miss_on,
        fs_read,
        get_result,
        miss_records,
        miss_inodes,
        hit_steps,
        miss_steps,
        _dirs: (vec![fx, off, unclaimed, on], scratch),
    }
}

/// Directories and files under `dir`, recursively.
fn count_entries(dir: &Path) -> (u64, u64) {
    let (mut dirs, mut files) = (0, 0);
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            let (d, f) = count_entries(&entry.path());
            dirs += d + 1;
            files += f;
        } else {
            files += 1;
        }
    }
    (dirs, files)
}

/// Python fleche's pickle-file cache on this machine, for scale.
mod python {
    pub(super) const HIT: f64 = 130e-6;
    pub(super) const MISS: f64 = 600e-6;
}

/// Issue targets.
mod target {
    pub(super) const HIT: f64 = 20e-6;
    pub(super) const HIT_OVER_READ: f64 = 3.0;
    pub(super) const MISS: f64 = 300e-6;
}

fn print_summary(f: &Figures, plan: &Plan) {
    println!();
    println!(
        "fleche file-store benchmarks: median per operation over {} batches of >= {:?} each \
         ({} for the fsync-on miss)",
        plan.batches, plan.batch_time, plan.fsync_batches
    );
    println!();
    println!(
        "| case | median | target | result | Python fleche (pickle files) | speedup vs Python |"
    );
    println!("|---|---:|---:|:---:|---:|---:|");
    println!(
        "| hit: square(k), k stored | {} | <= {} | {} | {} | {} |",
        human(f.hit),
        human(target::HIT),
        verdict(f.hit <= target::HIT),
        human(python::HIT),
        times(python::HIT / f.hit)
    );
    let ratio = f.hit / f.fs_read;
    println!(
        "| hit / plain fs::read of its record | {ratio:.2}x | <= {:.0}x | {} | - | - |",
        target::HIT_OVER_READ,
        verdict(ratio <= target::HIT_OVER_READ)
    );
    println!(
        "| miss: square(x), x new, fsync off | {} | <= {} | {} | {} | {} |",
        human(f.miss_off),
        human(target::MISS),
        verdict(f.miss_off <= target::MISS),
        human(python::MISS),
        times(python::MISS / f.miss_off)
    );
    println!(
        "| miss: square(x), x new, fsync on (default; for information) | {} | - | - | {} | {} |",
        human(f.miss_on),
        human(python::MISS),
        times(python::MISS / f.miss_on)
    );
    println!();
    println!("Baselines (same run):");
    println!();
    println!("| baseline | median |");
    println!("|---|---:|");
    println!(
        "| std::fs::read of the hit's record file (calls/ab/<hex>) | {} |",
        human(f.fs_read)
    );
    println!(
        "| FileStore get_result (dyn CallStore, bridge::block_on) | {} |",
        human(f.get_result)
    );
    println!();
    println!("Ratios:");
    println!();
    println!("- hit / plain fs::read = {:.2}", f.hit / f.fs_read);
    println!("- hit / get_result = {:.2}", f.hit / f.get_result);
    println!(
        "- miss fsync on / miss fsync off = {:.1}",
        f.miss_on / f.miss_off
    );
    // A miss must make the record's file: one new inode, whose cost on ext4
    // swings by two orders of magnitude with recent deletions. Measured in
    // the same run, this ratio says what the store adds on top.
    if let Some((_, inode)) = f
        .miss_steps
        .iter()
        .find(|(name, _)| name.starts_with("create a new empty file"))
    {
        println!(
            "- miss fsync off / creating one empty file = {:.2} (the store's own work: {} per miss)",
            f.miss_off / inode,
            human(f.miss_off - inode)
        );
    }
    println!();
    println!("Where a hit's time goes (each sub-step measured alone; they overlap):");
    println!();
    println!("| sub-step | median |");
    println!("|---|---:|");
    for (name, t) in &f.hit_steps {
        println!("| {name} | {} |", human(*t));
    }
    println!();
    println!("Where a miss's time goes (fsync off; each sub-step measured alone):");
    println!();
    println!("| sub-step | median |");
    println!("|---|---:|");
    for (name, t) in &f.miss_steps {
        println!("| {name} | {} |", human(*t));
    }
    println!();
    let (dirs, files) = f.miss_inodes;
    let per = |n: u64| n as f64 / f.miss_records.max(1) as f64;
    println!(
        "The fsync-off miss store ended with {} records in {dirs} directories and {files} files: \
         per miss {:.2} new directories and {:.2} files kept, plus a claim file created and \
         deleted.",
        f.miss_records,
        per(dirs),
        per(files)
    );
    println!();
}

// ---------------------------------------------------------------- main

fn main() {
    let mode = RunMode::from_args();
    let profiling = std::env::args().any(|a| a.starts_with("--profile-time"));
    let plan = match mode {
        // Exercises the summary's code once; its figures mean nothing.
        RunMode::Smoke | RunMode::List => &SMOKE_PLAN,
        RunMode::Bench { quick: true } => &QUICK_PLAN,
        RunMode::Bench { quick: false } => &BENCH_PLAN,
    };

    // The summary measures before criterion, whose misses create and delete
    // thousands of files: on some file systems that slows later file
    // creations for minutes (see the top). It is printed at the end.
    let figures = (mode != RunMode::List && !profiling).then(|| measure(plan));

    let mut c = Criterion::default().configure_from_args();
    calls_group(&mut c);
    c.final_summary();

    match figures {
        Some(f) if mode != RunMode::Smoke => print_summary(&f, plan),
        Some(_) => println!("fleche file bench: summary skipped (test mode)"),
        None => {}
    }
}
