//! A default cache whose store does not open: calls run uncached, with one
//! warning and no panic; fleche opens the store in the background and
//! caching resumes by itself, in the same process.
//!
//! The store is a driver of the test's own (`flaky://`), which refuses to
//! open until the test lets it: the default cache is process-wide, so each
//! scenario runs in a child process (this test binary again) with
//! `FLECHE_CACHE` set. `backends/redis/tests/fail_open.rs` does the same
//! with a real Redis server that is stopped, then started.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use fleche::{Driver, ErrorKind, OpenError, StoreError, StoreUrl, Stores, async_trait, fleche};

/// Whether the flaky store opens.
static UP: AtomicBool = AtomicBool::new(false);
/// How often fleche tried to open it.
static ATTEMPTS: AtomicU64 = AtomicU64::new(0);
/// Runs of `square`'s body.
static RUNS: AtomicU64 = AtomicU64::new(0);

#[derive(Debug)]
struct Flaky;

#[async_trait]
impl Driver for Flaky {
    fn schemes(&self) -> &[&str] {
        &["flaky"]
    }

    fn help(&self) -> &str {
        "flaky://NAME: a memory store that opens once the test lets it"
    }

    async fn open(&self, url: &StoreUrl) -> Result<Stores, OpenError> {
        ATTEMPTS.fetch_add(1, Ordering::SeqCst);
        if !UP.load(Ordering::SeqCst) {
            return Err(
                StoreError::new(ErrorKind::Unavailable, "flaky", "connection refused").into(),
            );
        }
        let name = url.host().unwrap_or_default();
        Ok(Stores::both(fleche::memory::MemoryStore::named(&name)))
    }
}

#[fleche]
fn square(x: u64) -> u64 {
    RUNS.fetch_add(1, Ordering::SeqCst);
    x * x
}

fn runs() -> u64 {
    RUNS.load(Ordering::SeqCst)
}

/// Runs the ignored test `name` in a child process with `FLECHE_CACHE` set
/// to `url`, warnings and above logged to its stderr; (success, stdout,
/// stderr).
fn child(name: &str, url: &str) -> (bool, String, String) {
    child_with(name, url, true)
}

/// [`child`], with or without a `tracing` subscriber in the child.
fn child_with(name: &str, url: &str, subscriber: bool) -> (bool, String, String) {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--ignored", "--nocapture"])
        .env("FLECHE_CACHE", url)
        .env(
            "FLECHE_FAIL_OPEN_CHILD",
            if subscriber { "1" } else { "quiet" },
        )
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// In a child: logs warnings to stderr (unless told to stay quiet) and
/// registers the flaky driver; `false` when not a child.
fn set_up_child() -> bool {
    let Ok(how) = std::env::var("FLECHE_FAIL_OPEN_CHILD") else {
        return false;
    };
    if how == "quiet" {
        fleche::register_driver(Flaky);
        return true;
    }
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    fleche::register_driver(Flaky);
    true
}

#[test]
fn calls_run_uncached_with_one_warning_until_the_store_opens() {
    let (ok, out, err) = child("child_store_comes_up_later", "flaky://later");
    assert!(ok, "the child failed:\n{out}\n{err}");
    assert!(out.contains("resumed"), "{out}");
    let warnings = err.lines().filter(|l| l.contains("WARN")).count();
    assert_eq!(
        warnings, 1,
        "expected one warning for the whole outage:\n{err}"
    );
    assert!(
        err.contains("connection refused"),
        "the warning says why: {err}"
    );
}

/// A program that installed no `tracing` subscriber still hears of the
/// outage: fleche prints the warning to stderr itself, once.
#[test]
fn without_a_subscriber_the_warning_reaches_stderr() {
    let (ok, out, err) = child_with("child_store_comes_up_later", "flaky://quiet", false);
    assert!(ok, "the child failed:\n{out}\n{err}");
    let warnings: Vec<_> = err
        .lines()
        .filter(|l| l.starts_with("fleche warning:"))
        .collect();
    assert_eq!(warnings.len(), 1, "one warning for the outage:\n{err}");
    assert!(warnings[0].contains("connection refused"), "{err}");
}

#[test]
#[ignore = "helper: runs as a child of calls_run_uncached_with_one_warning_until_the_store_opens"]
fn child_store_comes_up_later() {
    if !set_up_child() {
        return;
    }
    // The store is down: every call runs its body, none panics.
    for _ in 0..20 {
        assert_eq!(square(3), 9);
    }
    assert_eq!(runs(), 20, "calls ran uncached");
    assert!(!square::contains(&3).is_ok_and(|stored| stored));

    // The store comes up: within a few seconds a call is cached again.
    UP.store(true, Ordering::SeqCst);
    let up = Instant::now();
    loop {
        assert_eq!(square(3), 9);
        if square::contains(&3).is_ok_and(|stored| stored) {
            break;
        }
        assert!(
            up.elapsed() < Duration::from_secs(8),
            "caching did not resume"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let before = runs();
    assert_eq!(square(3), 9);
    assert_eq!(runs(), before, "a hit after the store opened");
    println!(
        "resumed {:?} after the store came up; {} attempts to open",
        up.elapsed(),
        ATTEMPTS.load(Ordering::SeqCst)
    );
}

#[test]
fn strict_caches_fail_while_the_store_is_down() {
    let (ok, out, err) = child("child_strict", "flaky://strict?strict=true");
    assert!(ok, "the child failed:\n{out}\n{err}");
    assert!(out.contains("strict: unavailable"), "{out}");
}

#[test]
#[ignore = "helper: runs as a child of strict_caches_fail_while_the_store_is_down"]
fn child_strict() {
    if !set_up_child() {
        return;
    }
    // The default cache opens (its URL is fine) ...
    let cache = fleche::current_cache().unwrap();
    assert!(cache.options().strict);
    // ... and its store's failure is an error, not a warning.
    let err = square::contains(&3).unwrap_err();
    assert_eq!(err.store_kind(), Some(ErrorKind::Unavailable));
    let shown = fleche::ErrorChain(&err).to_string();
    assert!(shown.contains("connection refused"), "{shown}");
    let panicked = std::panic::catch_unwind(|| square(3)).is_err();
    assert!(
        panicked,
        "a strict cached call fails while the store is down"
    );
    println!("strict: unavailable");
}

/// A caller that waits long for another worker's claim says so once —
/// which key, which host and process hold it — even with no subscriber.
#[test]
fn a_long_wait_names_the_holder() {
    let (ok, out, err) = child_with("child_waits_long", "memory://", false);
    assert!(ok, "the child failed:\n{out}\n{err}");
    let said: Vec<_> = err.lines().filter(|l| l.contains("waiting")).collect();
    assert_eq!(said.len(), 1, "one notice of the long wait:\n{err}");
    let pid = out
        .lines()
        .find_map(|l| l.strip_prefix("holder pid="))
        .expect("the child names the holder's pid");
    assert!(said[0].contains(&format!("process {pid}")), "{err}");
    assert!(said[0].contains("since 20"), "a date: {err}");
}

#[test]
#[ignore = "helper: runs as a child of a_long_wait_names_the_holder"]
fn child_waits_long() {
    use fleche::{CallStore, ClaimPolicy, Owner};
    if !set_up_child() {
        return;
    }
    let store = std::sync::Arc::new(fleche::memory::MemoryStore::new());
    let cache = fleche::Cache::builder(store.clone(), store.clone())
        .claims(ClaimPolicy::Always)
        .claim_timing(Duration::from_secs(60), Duration::from_millis(6500))
        .build();
    // Another worker (here: a live owner of this process) holds the claim
    // and never finishes.
    let holder = Owner::new();
    let key = square::digest(&11);
    let claimed = fleche::bridge::block_on(store.claim(key, &holder, Duration::from_secs(60)));
    assert!(claimed.unwrap().is_acquired());
    println!("holder pid={}", holder.pid().unwrap());
    assert_eq!(fleche::with_cache(cache.clone(), || square(11)), 121);
    assert_eq!(cache.stats().gave_up, 1);
}
