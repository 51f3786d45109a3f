//! Eight processes hammer the same 20 keys of one database in a tight
//! loop — hits, forced recomputations (concurrent upserts of one record),
//! deletions and the claims they lead to — and no error reaches any caller.
//!
//! The caches are strict, so any store error would reach the caller instead
//! of being logged and papered over. (The Python original's SQL store lets
//! two processes that insert one key collide on an integrity error that
//! reaches the caller of the cached function.)
//!
//! The parent re-runs this test binary as children (`hammer_child`, ignored
//! unless started by a parent), one per worker, with the cache URL in the
//! environment; each prints one line with its counts and exits non-zero on
//! any error or wrong result.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use fleche::{Cache, bridge, fleche};

mod common;
use common::PgSchema;

const URL_ENV: &str = "FLECHE_SQL_HAMMER_URL";
const WORKER_ENV: &str = "FLECHE_SQL_HAMMER_WORKER";
const PROCESSES: u64 = 8;
const KEYS: u64 = 20;
/// Rounds over all keys per worker; each worker also stops after
/// [`CHILD_TIME`], having done at least one round.
const ROUNDS: u64 = 40;
const CHILD_TIME: Duration = Duration::from_secs(30);
/// What a child prints before its counts.
const REPORT: &str = "hammer worker";

#[fleche]
fn square(x: u64) -> u64 {
    x * x
}

/// What a worker saw.
#[derive(Debug, Default)]
struct Counts {
    calls: u64,
    reruns: u64,
    deletes: u64,
    errors: Vec<String>,
}

/// One worker's loop over the keys, on a strict cache.
fn hammer(cache: Cache, worker: u64) -> Counts {
    let mut counts = Counts::default();
    let start = Instant::now();
    fleche::with_cache(cache.clone(), || {
        for round in 0..ROUNDS {
            if round > 0 && start.elapsed() > CHILD_TIME {
                break;
            }
            for k in 0..KEYS {
                let step = (round + k + worker) % 4;
                // A strict cache panics on a store error: the caller sees it.
                let outcome =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match step {
                        0 => ("rerun", square::rerun(k)),
                        1 => {
                            let deleted = bridge::block_on(cache.delete(square::digest(&k)));
                            if let Err(e) = deleted {
                                panic!("delete failed: {e}");
                            }
                            ("delete", square(k))
                        }
                        _ => ("call", square(k)),
                    }));
                match outcome {
                    Ok((what, y)) if y == k * k => match what {
                        "rerun" => counts.reruns += 1,
                        "delete" => counts.deletes += 1,
                        _ => counts.calls += 1,
                    },
                    Ok((what, y)) => counts.errors.push(format!("{what} {k} gave {y}")),
                    Err(panic) => counts.errors.push(panic_message(panic)),
                }
            }
        }
    });
    counts
}

fn panic_message(panic: Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

#[test]
#[ignore = "a worker process of the hammer tests, started by them"]
fn hammer_child() {
    let url = std::env::var(URL_ENV).expect("started by a hammer test");
    let worker: u64 = std::env::var(WORKER_ENV).unwrap().parse().unwrap();
    let cache = fleche::open(&url).expect("the child opens the cache");
    assert!(cache.options().strict);
    let counts = hammer(cache, worker);
    println!(
        "{REPORT} {worker}: {} calls, {} reruns, {} deletes, {} errors",
        counts.calls,
        counts.reruns,
        counts.deletes,
        counts.errors.len()
    );
    for e in counts.errors.iter().take(10) {
        println!("{REPORT} {worker} error: {e}");
    }
    assert!(
        counts.errors.is_empty(),
        "{} errors reached the caller",
        counts.errors.len()
    );
}

/// Runs [`PROCESSES`] children on the cache at `url` (strict), all at
/// once, and checks that each finished with no error.
fn run_children(url: &str) {
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..PROCESSES)
        .map(|worker| {
            Command::new(&exe)
                .args(["hammer_child", "--exact", "--ignored", "--nocapture"])
                .env(URL_ENV, url)
                .env(WORKER_ENV, worker.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("a child starts")
        })
        .collect();
    let outputs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let mut failed = Vec::new();
    for (worker, out) in outputs.iter().enumerate() {
        let stdout = String::from_utf8_lossy(&out.stdout);
        let report: Vec<&str> = stdout.lines().filter(|l| l.starts_with(REPORT)).collect();
        println!("{}", report.join("\n"));
        let clean = report.iter().any(|l| l.ends_with(" 0 errors"));
        if !out.status.success() || !clean {
            failed.push(format!(
                "worker {worker} ({}):\n{stdout}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n---\n"));
}

#[test]
fn eight_sqlite_processes_on_the_same_keys_see_no_errors() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/hammer.db?strict=true", dir.path().display());
    // Set the database up once, so the children time their work, not the
    // race to create the tables (which the conformance suite covers).
    drop(fleche::open(&url).unwrap());
    run_children(&url);
}

#[test]
fn eight_postgres_processes_on_the_same_keys_see_no_errors() {
    let Some(schema) = PgSchema::new("hammer") else {
        return;
    };
    let url = schema.url("strict=true&max_connections=4");
    drop(fleche::open(&url).unwrap());
    run_children(&url);
}
