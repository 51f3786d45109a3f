//! What a cached call does: hits, misses, errors, damage, strictness,
//! versions, helpers, metadata and queries.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use fleche::memory::MemoryStore;
use fleche::{
    Bytes, Cache, CallRecord, CallStore, Capabilities, Digest, ErrorKind, Order, Query, StoreError,
    ValueRef, ValueStore, async_trait, fleche,
};
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};

fn memory_cache() -> (Arc<MemoryStore>, Cache) {
    let store = Arc::new(MemoryStore::new());
    (store.clone(), Cache::builder(store.clone(), store).build())
}

static RESULT_RUNS: AtomicUsize = AtomicUsize::new(0);

#[fleche]
fn checked_div(a: i64, b: i64) -> Result<i64, String> {
    RESULT_RUNS.fetch_add(1, Ordering::SeqCst);
    if b == 0 {
        Err("division by zero".into())
    } else {
        Ok(a / b)
    }
}

#[test]
fn errors_are_returned_never_stored() {
    let (store, cache) = memory_cache();
    fleche::with_cache(cache, || {
        assert!(checked_div(1, 0).is_err());
        assert!(checked_div(1, 0).is_err());
        assert_eq!(
            RESULT_RUNS.load(Ordering::SeqCst),
            2,
            "an error must not be cached"
        );
        assert_eq!(store.call_count(), 0);
        assert_eq!(checked_div(9, 3), Ok(3));
        assert_eq!(checked_div(9, 3), Ok(3));
        assert_eq!(RESULT_RUNS.load(Ordering::SeqCst), 3);
        assert_eq!(checked_div::load(&9, &3).unwrap(), Some(3));
    });
}

static BIG_RUNS: AtomicUsize = AtomicUsize::new(0);

#[fleche]
fn big(n: usize) -> Vec<u8> {
    BIG_RUNS.fetch_add(1, Ordering::SeqCst);
    vec![7u8; n]
}

#[test]
fn small_results_inline_large_ones_in_the_value_store() {
    let (store, cache) = memory_cache();
    fleche::with_cache(cache.clone(), || {
        big(10);
        assert_eq!(store.value_count(), 0, "a small result lives in the record");
        big(100_000);
        assert_eq!(
            store.value_count(),
            1,
            "a large result goes to the value store"
        );
        assert_eq!(big(100_000).len(), 100_000);
        assert_eq!(BIG_RUNS.load(Ordering::SeqCst), 2);
    });
}

static DAMAGE_RUNS: AtomicUsize = AtomicUsize::new(0);

#[fleche]
fn damaged(n: usize) -> Vec<u8> {
    DAMAGE_RUNS.fetch_add(1, Ordering::SeqCst);
    vec![1u8; n]
}

/// Damage of every kind reads as a miss and is repaired by the next call.
#[tokio::test]
async fn damaged_entries_are_misses_and_get_repaired() {
    let (store, cache) = memory_cache();
    let scope = fleche::Scope::current().with_cache(cache.clone());
    let runs = || DAMAGE_RUNS.load(Ordering::SeqCst);
    scope.run(|| damaged(8));
    scope.run(|| damaged(100_000));
    assert_eq!(runs(), 2);
    let small = scope.run(|| damaged::digest(&8));
    let large = scope.run(|| damaged::digest(&100_000));

    // 1. Inline bytes that do not match their digest.
    let mut rec = CallStore::get(&*store, small).await.unwrap().unwrap();
    rec.result.inline = Some(Bytes::from_static(b"\x48garbage!"));
    CallStore::put(&*store, rec).await.unwrap();
    assert_eq!(scope.run(|| damaged(8)), vec![1u8; 8]);
    assert_eq!(runs(), 3, "a digest mismatch is a miss");
    assert_eq!(scope.run(|| damaged(8)), vec![1u8; 8]);
    assert_eq!(runs(), 3, "and it was repaired");

    // 2. A value in the value store altered behind the cache's back.
    let rec = CallStore::get(&*store, large).await.unwrap().unwrap();
    ValueStore::put(&*store, rec.result.digest, Bytes::from(vec![0u8; 10]))
        .await
        .unwrap();
    assert_eq!(scope.run(|| damaged(100_000)).len(), 100_000);
    assert_eq!(runs(), 4);

    // 3. A record pointing at a value that is gone.
    ValueStore::delete(&*store, rec.result.digest)
        .await
        .unwrap();
    assert_eq!(scope.run(|| damaged(100_000)).len(), 100_000);
    assert_eq!(runs(), 5);
    assert_eq!(scope.run(|| damaged(100_000)).len(), 100_000);
    assert_eq!(runs(), 5);

    // 4. A verified value of another type (the function's type changed
    // without a version bump).
    let text = fleche::codec::encode(&"not bytes").unwrap();
    let mut rec = CallStore::get(&*store, small).await.unwrap().unwrap();
    rec.result = ValueRef {
        digest: Digest::of(&text),
        inline: Some(text.into()),
    };
    CallStore::put(&*store, rec).await.unwrap();
    assert_eq!(scope.run(|| damaged(8)), vec![1u8; 8]);
    assert_eq!(runs(), 6);
    assert_eq!(
        cache.get::<Vec<u8>>(small).await.unwrap(),
        Some(vec![1u8; 8])
    );
}

/// A store that fails on demand, to test fail-open and strict mode.
#[derive(Debug, Default)]
struct Flaky {
    inner: MemoryStore,
    down: AtomicBool,
}

impl Flaky {
    fn check(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            Err(StoreError::new(
                ErrorKind::Unavailable,
                "flaky",
                "server is down",
            ))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl CallStore for Flaky {
    async fn put(&self, record: CallRecord) -> Result<(), StoreError> {
        self.check()?;
        CallStore::put(&self.inner, record).await
    }
    async fn get(&self, key: Digest) -> Result<Option<CallRecord>, StoreError> {
        self.check()?;
        CallStore::get(&self.inner, key).await
    }
    async fn delete(&self, key: Digest) -> Result<bool, StoreError> {
        self.check()?;
        CallStore::delete(&self.inner, key).await
    }
    fn query<'a>(&'a self, q: &'a Query) -> BoxStream<'a, Result<CallRecord, StoreError>> {
        self.inner.query(q)
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }
}

/// A call store whose records of one key read as damaged until rewritten.
#[derive(Debug, Default)]
struct Damaged {
    inner: MemoryStore,
    damaged: std::sync::Mutex<Option<Digest>>,
}

#[async_trait]
impl CallStore for Damaged {
    async fn put(&self, record: CallRecord) -> Result<(), StoreError> {
        {
            let mut damaged = self.damaged.lock().unwrap();
            if *damaged == Some(record.key) {
                *damaged = None; // rewriting repairs it
            }
        }
        CallStore::put(&self.inner, record).await
    }
    async fn get(&self, key: Digest) -> Result<Option<CallRecord>, StoreError> {
        let is_damaged = *self.damaged.lock().unwrap() == Some(key);
        if is_damaged {
            return Err(
                StoreError::new(ErrorKind::Corrupt, "damaged", "record does not decode")
                    .with_key(key),
            );
        }
        CallStore::get(&self.inner, key).await
    }
    async fn delete(&self, key: Digest) -> Result<bool, StoreError> {
        CallStore::delete(&self.inner, key).await
    }
    fn query<'a>(&'a self, q: &'a Query) -> BoxStream<'a, Result<CallRecord, StoreError>> {
        self.inner.query(q)
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }
}

static DAMAGED_RUNS: AtomicUsize = AtomicUsize::new(0);

#[fleche]
fn damaged_in_store(x: u64) -> u64 {
    DAMAGED_RUNS.fetch_add(1, Ordering::SeqCst);
    x + 1
}

/// Data the store itself reports as corrupt is a miss, and the
/// recomputation's write repairs it, also in strict mode.
#[test]
fn store_reported_corruption_is_a_miss_and_gets_repaired() {
    let calls = Arc::new(Damaged::default());
    let cache = Cache::builder(Arc::new(MemoryStore::new()), calls.clone())
        .strict(true)
        .build();
    fleche::with_cache(cache, || {
        assert_eq!(damaged_in_store(1), 2);
        *calls.damaged.lock().unwrap() = Some(damaged_in_store::digest(&1));
        assert_eq!(damaged_in_store(1), 2);
        assert_eq!(DAMAGED_RUNS.load(Ordering::SeqCst), 2, "damage is a miss");
        assert!(
            calls.damaged.lock().unwrap().is_none(),
            "the recomputation rewrote the record"
        );
        assert_eq!(damaged_in_store(1), 2);
        assert_eq!(DAMAGED_RUNS.load(Ordering::SeqCst), 2, "and then it hits");
    });
}

static FLAKY_RUNS: AtomicUsize = AtomicUsize::new(0);

#[fleche]
fn flaky_square(x: u64) -> u64 {
    FLAKY_RUNS.fetch_add(1, Ordering::SeqCst);
    x * x
}

#[test]
fn store_failures_run_uncached_by_default_and_fail_in_strict_mode() {
    let flaky = Arc::new(Flaky::default());
    let values = Arc::new(MemoryStore::new());
    let lenient = Cache::new(values.clone(), flaky.clone());
    let strict = Cache::builder(values, flaky.clone()).strict(true).build();

    flaky.down.store(true, Ordering::SeqCst);
    assert_eq!(fleche::with_cache(lenient.clone(), || flaky_square(4)), 16);
    assert_eq!(fleche::with_cache(lenient.clone(), || flaky_square(4)), 16);
    assert_eq!(
        FLAKY_RUNS.load(Ordering::SeqCst),
        2,
        "ran uncached while the store was down"
    );

    let s = strict.clone();
    let strict_call = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        fleche::with_cache(s, || flaky_square(4))
    }));
    let msg = *strict_call.unwrap_err().downcast::<String>().unwrap();
    assert!(
        msg.contains("strict mode") && msg.contains("server is down"),
        "{msg}"
    );
    let err = fleche::with_cache(strict.clone(), || flaky_square::contains(&4)).unwrap_err();
    assert!(err.to_string().contains("flaky: unavailable"), "{err}");

    // Caching resumes when the store is back, without a restart.
    flaky.down.store(false, Ordering::SeqCst);
    assert_eq!(fleche::with_cache(lenient.clone(), || flaky_square(4)), 16);
    assert_eq!(fleche::with_cache(strict, || flaky_square(4)), 16);
    assert_eq!(FLAKY_RUNS.load(Ordering::SeqCst), 3);
}

/// A value whose Serialize fails: the call still runs (uncached).
struct Unencodable;

impl Serialize for Unencodable {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("refuses to be encoded"))
    }
}

#[fleche]
fn takes_unencodable(_x: Unencodable, y: u64) -> u64 {
    y
}

#[test]
fn unencodable_arguments_run_uncached() {
    let (store, cache) = memory_cache();
    assert_eq!(
        fleche::with_cache(cache, || takes_unencodable(Unencodable, 5)),
        5
    );
    assert_eq!(store.call_count(), 0);
}

static VERSIONED: AtomicUsize = AtomicUsize::new(0);

mod v1 {
    use super::*;
    #[fleche(name = "tests::versioned", version = 1)]
    pub fn versioned(x: u64) -> u64 {
        VERSIONED.fetch_add(1, Ordering::SeqCst);
        x
    }
}

mod v2 {
    use super::*;
    #[fleche(name = "tests::versioned", version = 2)]
    pub fn versioned(x: u64) -> u64 {
        VERSIONED.fetch_add(1, Ordering::SeqCst);
        x + 1000
    }
}

mod moved {
    use super::*;
    // Same name and version as v1, in another module: shares v1's entries.
    #[fleche(name = "tests::versioned", version = 1)]
    pub fn versioned(x: u64) -> u64 {
        VERSIONED.fetch_add(1, Ordering::SeqCst);
        x
    }
}

#[test]
fn name_and_version_define_the_entry() {
    let (_, cache) = memory_cache();
    fleche::with_cache(cache, || {
        assert_eq!(v1::versioned(1), 1);
        assert_eq!(
            v2::versioned(1),
            1001,
            "a new version does not see old results"
        );
        assert_eq!(moved::versioned(1), 1, "the explicit name survives a move");
        assert_eq!(VERSIONED.load(Ordering::SeqCst), 2);
        assert_eq!(v1::versioned::digest(&1), moved::versioned::digest(&1));
        assert_ne!(v1::versioned::digest(&1), v2::versioned::digest(&1));
        assert_eq!(v1::versioned::spec().name(), "tests::versioned");
    });
}

#[fleche(hash_code)]
fn hashed(x: u64) -> u64 {
    x
}

#[fleche]
fn unhashed(x: u64) -> u64 {
    x
}

#[test]
fn hash_code_puts_the_code_in_the_key() {
    assert!(hashed::spec().code().is_some());
    assert!(unhashed::spec().code().is_none());
    assert!(
        unhashed::spec().name().ends_with("semantics::unhashed"),
        "{}",
        unhashed::spec().name()
    );
}

static RERUNS: AtomicUsize = AtomicUsize::new(0);

#[fleche]
fn counted(x: u64) -> usize {
    RERUNS.fetch_add(1, Ordering::SeqCst) + x as usize
}

#[test]
fn rerun_recomputes_and_overwrites() {
    let (_, cache) = memory_cache();
    fleche::with_cache(cache, || {
        let first = counted(0);
        assert_eq!(counted(0), first);
        let second = counted::rerun(0);
        assert_ne!(second, first);
        assert_eq!(
            counted(0),
            second,
            "the rerun's result replaced the old one"
        );
        assert_eq!(counted::load(&0).unwrap(), Some(second));
    });
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Clone)]
struct Params {
    steps: u32,
    label: String,
}

#[fleche(ignore(verbose))]
fn simulate(params: Params, seed: u64, verbose: bool) -> f64 {
    if verbose {
        eprintln!("simulating");
    }
    f64::from(params.steps) * seed as f64
}

#[derive(Debug)]
struct Commit;

impl fleche::metadata::MetadataProvider for Commit {
    fn namespace(&self) -> &str {
        "git"
    }
    fn collect(&self, call: &fleche::metadata::CallInfo<'_>) -> Option<serde_json::Value> {
        Some(serde_json::json!({ "commit": "abc123", "function": call.function }))
    }
}

#[tokio::test]
async fn metadata_and_queries() {
    let (_, cache) = memory_cache();
    let p = |steps| Params {
        steps,
        label: "a".into(),
    };
    let before = fleche::Timestamp::now();
    fleche::Scope::current()
        .with_cache(cache.clone())
        .with_tags([("project", "demo")])
        .with_metadata(Commit)
        .run(|| {
            simulate(p(1), 1, true);
            simulate(p(2), 1, false);
        });
    std::thread::sleep(std::time::Duration::from_millis(5));
    let middle = fleche::Timestamp::now();
    fleche::with_cache(cache.clone(), || simulate(p(3), 2, false));

    let all = simulate::query();
    assert_eq!(cache.count(&all).await.unwrap(), 3);
    assert_eq!(
        cache.count(&all.clone().arg("seed", &1u64)).await.unwrap(),
        2
    );
    assert_eq!(
        cache
            .count(&all.clone().arg("params", &p(3)))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        cache
            .count(&all.clone().metadata("tags.project", "demo"))
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        cache
            .count(&all.clone().metadata("git.commit", "abc123"))
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        cache
            .count(&all.clone().created_after(middle))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        cache
            .count(&all.clone().created_before(middle))
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        cache
            .count(&all.clone().created_before(before))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        cache.count(&Query::new().function("nope")).await.unwrap(),
        0
    );

    let newest = cache.latest(&all).await.unwrap().unwrap();
    assert_eq!(newest.value::<f64>().await.unwrap(), Some(6.0));
    let oldest = cache.oldest(&all).await.unwrap().unwrap();
    assert_eq!(oldest.value::<f64>().await.unwrap(), Some(1.0));
    let limited: Vec<_> = futures::TryStreamExt::try_collect::<Vec<_>>(
        cache.query(&all.clone().order(Order::NewestFirst).limit(2)),
    )
    .await
    .unwrap();
    assert_eq!(limited.len(), 2);

    let rec = oldest.record();
    assert_eq!(
        rec.args.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(),
        ["params", "seed"]
    );
    let runtime = &rec.metadata["runtime"];
    assert!(runtime["wall_s"].as_f64().unwrap() >= 0.0);
    assert!(runtime["cpu_s"].as_f64().is_some());
    assert!(rec.metadata_at("runtime.start").is_some());
    let env = &rec.metadata["environment"];
    assert_eq!(env["pid"].as_u64().unwrap(), u64::from(std::process::id()));
    assert_eq!(env["package"], "fleche");
    assert_eq!(env["os"], std::env::consts::OS);
    assert_eq!(rec.metadata["git"]["function"], rec.function.as_str());

    // Prefix expansion over call keys.
    let key = oldest.key();
    assert_eq!(cache.expand(&key.to_hex()[..12]).await.unwrap(), key);
    let err = cache.expand("zz").await.unwrap_err().to_string();
    assert!(err.contains("4 to 64 hex digits"), "{err}");
}

#[fleche(isolate)]
fn isolated(name: String) -> (String, bool) {
    let dir = fleche::isolate::scratch_dir().expect("an isolated call has a scratch directory");
    std::fs::write(dir.join(&name), b"side effect").unwrap();
    (dir.display().to_string(), dir.join(&name).exists())
}

#[fleche(isolate = "chdir")]
fn isolated_chdir(name: String) -> String {
    std::fs::write(&name, b"side effect in cwd").unwrap();
    let cwd = std::env::current_dir().unwrap().canonicalize().unwrap();
    let scratch = fleche::isolate::scratch_dir()
        .unwrap()
        .canonicalize()
        .unwrap();
    assert_eq!(cwd, scratch, "the body runs in its scratch directory");
    assert!(std::path::Path::new(&name).exists());
    cwd.display().to_string()
}

#[test]
fn isolated_runs_get_fresh_directories_that_are_removed() {
    let (_, cache) = memory_cache();
    let cwd_before = std::env::current_dir().unwrap();
    let bound = fleche::with_cache(cache, || fleche::bind(isolated));
    let results: Vec<(String, bool)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let bound = bound.clone();
                s.spawn(move || bound.call((format!("file{i}"),)))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut dirs: Vec<_> = results.iter().map(|(d, _)| d.clone()).collect();
    assert!(results.iter().all(|(_, existed)| *existed));
    dirs.sort();
    dirs.dedup();
    assert_eq!(dirs.len(), 8, "each run had its own directory");
    assert!(
        dirs.iter().all(|d| !std::path::Path::new(d).exists()),
        "scratch directories are removed"
    );
    assert!(fleche::isolate::scratch_dir().is_none());

    let bound = bound.scope().run(|| fleche::bind(isolated_chdir));
    let dirs: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let bound = bound.clone();
                s.spawn(move || bound.call((format!("c{i}"),)))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(dirs.iter().all(|d| !std::path::Path::new(d).exists()));
    assert_eq!(
        std::env::current_dir().unwrap(),
        cwd_before,
        "the working directory is restored"
    );
}

#[test]
fn scope_config_travels_and_reopens_the_same_store() {
    let cache = fleche::open("memory://travel?inline_limit=100").unwrap();
    let scope = fleche::tags([("run", "42")]).with_cache(cache.clone());
    let config = scope.to_config().unwrap();
    let json = serde_json::to_string(&config).unwrap();
    let back: fleche::ScopeConfig = serde_json::from_str(&json).unwrap();
    let reopened = fleche::reopen(&back).unwrap();
    assert_eq!(reopened.tags()["run"], "42");
    let c = reopened.cache().unwrap();
    assert_eq!(c.options().inline_limit, 100);
    assert_eq!(
        format!("{:?}", c.values()),
        format!("{:?}", cache.values()),
        "memory://NAME reopens the same store"
    );

    let (_, raw) = memory_cache();
    let err = fleche::Scope::current()
        .with_cache(raw)
        .to_config()
        .unwrap_err();
    assert!(err.to_string().contains("cannot be reopened"), "{err}");
}

/// Runs this test binary again, only the named ignored test, with these
/// environment variables (and `FLECHE_CACHE` removed unless given);
/// returns (success, output).
fn child(test: &str, env: &[(&str, &str)]) -> (bool, String) {
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        test,
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env_remove("FLECHE_CACHE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[fleche]
fn env_square(x: u64) -> u64 {
    x * x
}

#[test]
#[ignore = "run by the default-cache tests in a child process"]
fn child_uses_default_cache() {
    let was_stored = env_square::contains(&3).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(env_square(3), 9);
    let cache = fleche::current_cache().unwrap();
    println!("default cache url: {}", cache.config().unwrap().url);
    println!("strict: {}", cache.options().strict);
    println!("hit: {was_stored}");
    assert!(env_square::contains(&3).unwrap());
}

#[test]
fn default_cache_comes_from_fleche_cache() {
    let (ok, out) = child(
        "child_uses_default_cache",
        &[("FLECHE_CACHE", "memory://from-env?strict=true")],
    );
    assert!(ok, "{out}");
    assert!(
        out.contains("default cache url: memory://from-env?strict=true")
            && out.contains("strict: true"),
        "{out}"
    );

    let (ok, out) = child(
        "child_uses_default_cache",
        &[("FLECHE_CACHE", "memry:/oops")],
    );
    assert!(!ok);
    assert!(
        out.contains("cannot open cache memry:/oops") && out.contains("$FLECHE_CACHE"),
        "{out}"
    );
}

/// With nothing configured the default is the file store under the user's
/// cache directory, so a second process finds the first one's result.
#[test]
fn the_default_cache_is_a_file_store_shared_by_processes() {
    let home = tempfile::tempdir().unwrap();
    let xdg = home.path().join("cache dir");
    let env = [("XDG_CACHE_HOME", xdg.to_str().unwrap())];
    let (ok, first) = child("child_uses_default_cache", &env);
    assert!(ok, "{first}");
    // A proper file URL: the space escaped.
    let url = format!("file://{}", xdg.join("fleche").display()).replace(' ', "%20");
    assert!(
        first.contains(&format!("default cache url: {url}\n")),
        "{first}"
    );
    assert!(first.contains("hit: false"), "{first}");
    assert!(xdg.join("fleche").join("FLECHE-STORE").exists());
    let (ok, second) = child("child_uses_default_cache", &env);
    assert!(ok, "{second}");
    assert!(
        second.contains("hit: true"),
        "the second process did not find the result: {second}"
    );
}
