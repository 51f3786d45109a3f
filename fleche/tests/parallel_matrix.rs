//! The parallel matrix: every store under the load the design promises to
//! carry — many processes and threads calling the same keys at once — and
//! a worker killed mid-body.
//!
//! * **Stampede**: 8 worker processes × 16 threads call the same 20 keys
//!   at once on the file store (a fresh directory), SQLite (a fresh file),
//!   PostgreSQL, Redis and S3; 1 process × 128 threads on the memory
//!   store. Each body runs exactly once per key, across all processes, and
//!   every caller gets the right result. Twice: with the default options
//!   and no explicit open at all — the workers' *default cache*, named only
//!   by `FLECHE_CACHE`, which the 8 processes open at the same moment on a
//!   store that does not exist yet — and with `strict=true`, opened
//!   explicitly, so any store error panics a caller and fails the test.
//! * **SIGKILL takeover**: worker A's body starts (and sleeps), the test
//!   kills A with SIGKILL, worker B calls the same key and must run the
//!   body — taking over the dead worker's claim at once, long before its
//!   lease ends, since the dead holder ran on this host — and then worker
//!   C hits.
//!
//! The workers are this test binary run again (the ignored tests
//! `matrix::stampede_worker` and `matrix::crash_worker`). Every body run,
//! in any process, appends a line to one log file opened with `O_APPEND`,
//! so runs that happen at the same time are all counted. Summaries (body
//! runs, wall times, takeover times) go to stderr, where CI's log shows
//! them. `FLECHE_MATRIX_STORES=file,s3` runs only those stores.
//!
//! It needs every store of the facade (`cargo test --workspace` builds the
//! facade with all of them; so does `cargo test -p fleche --all-features`)
//! and the test servers (`eval "$(scripts/services up)"`); without them it
//! says loudly what did not run, or fails under
//! `FLECHE_TEST_REQUIRE_ALL=1`.

#[cfg(not(all(
    feature = "memory",
    feature = "file",
    feature = "sqlite",
    feature = "postgres",
    feature = "redis",
    feature = "s3"
)))]
#[test]
fn parallel_matrix() {
    fleche_conformance::require(
        false,
        "this build of fleche lacks some stores (run it with --all-features, or in the workspace)",
    );
}

#[cfg(all(
    feature = "memory",
    feature = "file",
    feature = "sqlite",
    feature = "postgres",
    feature = "redis",
    feature = "s3"
))]
mod support;

#[cfg(all(
    feature = "memory",
    feature = "file",
    feature = "sqlite",
    feature = "postgres",
    feature = "redis",
    feature = "s3"
))]
mod matrix {
    use std::collections::BTreeMap;
    use std::fs::OpenOptions;
    use std::io::Write;
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Barrier, Mutex};
    use std::time::{Duration, Instant};

    use fleche::fleche;

    use crate::support::{Kind, Place, Worker, now_ns, show, wait_for_file};

    /// Worker processes per shared store, threads per process, keys.
    const PROCESSES: usize = 8;
    const THREADS: usize = 16;
    const KEYS: u64 = 20;
    /// The memory store lives in one process: all threads there.
    const MEMORY_THREADS: usize = 128;
    /// How long a body takes, so that the calls overlap.
    const BODY: Duration = Duration::from_millis(100);
    /// The longest a whole stampede may take, and a worker may take to
    /// get ready.
    const STAMPEDE_DEADLINE: Duration = Duration::from_secs(240);
    const READY_DEADLINE: Duration = Duration::from_secs(60);

    /// A dead holder on this host is seen at once, on every store: the
    /// takeover comes far below the (default, 10 s) lease. The bound is
    /// for a loaded test machine.
    const TAKEOVER_BOUND: Duration = Duration::from_secs(5);

    // What the parent tells a worker.
    const DIR_ENV: &str = "FLECHE_MATRIX_DIR";
    const RUNS_ENV: &str = "FLECHE_MATRIX_RUNS";
    const WORKER_ENV: &str = "FLECHE_MATRIX_WORKER";
    const THREADS_ENV: &str = "FLECHE_MATRIX_THREADS";
    const OPEN_ENV: &str = "FLECHE_MATRIX_OPEN";
    const ROLE_ENV: &str = "FLECHE_MATRIX_ROLE";
    const STARTED_ENV: &str = "FLECHE_MATRIX_STARTED";

    /// The workers' reports on stdout start with this.
    const REPORT: &str = "matrix worker";

    /// Runs only the stores it names (`file,s3`), when set: for rerunning
    /// one store's case.
    const STORES_ENV: &str = "FLECHE_MATRIX_STORES";

    /// The tests of this file take the machine's cores; one at a time.
    static SERIAL: Mutex<()> = Mutex::new(());

    fn serial() -> std::sync::MutexGuard<'static, ()> {
        SERIAL.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The stores of `kinds` that `$FLECHE_MATRIX_STORES` lets run (all
    /// when it is unset).
    fn chosen(kinds: &[Kind]) -> Vec<Kind> {
        let Ok(wanted) = std::env::var(STORES_ENV) else {
            return kinds.to_vec();
        };
        let wanted: Vec<&str> = wanted.split(',').map(str::trim).collect();
        let picked: Vec<Kind> = kinds
            .iter()
            .copied()
            .filter(|k| wanted.contains(&k.name()))
            .collect();
        show(&format!(
            "{STORES_ENV}={}: only {picked:?}",
            wanted.join(",")
        ));
        picked
    }

    // -----------------------------------------------------------------
    // The cached functions

    /// Body runs in this process.
    static RUNS: AtomicU64 = AtomicU64::new(0);

    /// Records one body run: a line in the shared log (one `write` to a
    /// file opened with `O_APPEND`, so lines of processes that write at
    /// the same time neither overwrite nor tear each other), and this
    /// process's counter. Panics if it cannot record, so no run goes
    /// uncounted.
    fn record_run(what: &str, key: u64) {
        RUNS.fetch_add(1, Ordering::SeqCst);
        let Some(log) = std::env::var_os(RUNS_ENV) else {
            return;
        };
        let role = std::env::var(ROLE_ENV).unwrap_or_default();
        let line = format!("{what} {key} {role} {}\n", std::process::id());
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap_or_else(|e| panic!("cannot open the log of body runs: {e}"));
        file.write_all(line.as_bytes())
            .unwrap_or_else(|e| panic!("cannot log a body run: {e}"));
    }

    /// The body runs of `what`, by key, from the log at `path`.
    fn logged_runs(path: &Path, what: &str) -> BTreeMap<u64, Vec<String>> {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let mut runs: BTreeMap<u64, Vec<String>> = BTreeMap::new();
        for line in text.lines() {
            let mut parts = line.split(' ');
            if parts.next() != Some(what) {
                continue;
            }
            let key = parts.next().and_then(|k| k.parse().ok()).expect(line);
            runs.entry(key).or_default().push(line.to_owned());
        }
        runs
    }

    /// What `stampede(key)` returns: small results for even keys (inline in
    /// the record), results over the inline limit for odd ones (in the
    /// value store).
    fn expected(key: u64) -> String {
        let base = format!("value of key {key};");
        if key.is_multiple_of(2) {
            base
        } else {
            base.repeat(8192 / base.len() + 1)
        }
    }

    #[fleche]
    fn stampede(key: u64) -> String {
        record_run("stampede", key);
        std::thread::sleep(BODY);
        expected(key)
    }

    /// Worker A's body never ends by itself; B's and C's return at once.
    /// Each writes when it started (wall clock) to `$FLECHE_MATRIX_STARTED`.
    #[fleche]
    fn victim(key: u64) -> String {
        let started = now_ns();
        record_run("victim", key);
        if let Some(path) = std::env::var_os(STARTED_ENV) {
            std::fs::write(path, started.to_string()).expect("write the started file");
        }
        if std::env::var(ROLE_ENV).as_deref() == Ok("A") {
            std::thread::sleep(Duration::from_secs(600));
        }
        format!("victim {key}")
    }

    /// In a worker: warnings go to its stderr, where the parent counts
    /// them.
    fn log_warnings() {
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .init();
    }

    fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "a panic without a message".to_owned())
    }

    // -----------------------------------------------------------------
    // The stampede

    /// One stampede worker: `THREADS` threads that, at the parent's
    /// signal, all call `stampede` on every key. The cache is the default
    /// one (`FLECHE_CACHE`), or the one at `FLECHE_MATRIX_OPEN`, opened
    /// explicitly at the signal. Prints its counts; fails on any error or
    /// wrong result.
    #[test]
    #[ignore = "helper: a worker process of the stampede tests, started by them"]
    fn stampede_worker() {
        let Some(dir) = std::env::var_os(DIR_ENV).map(PathBuf::from) else {
            return;
        };
        log_warnings();
        let worker: usize = std::env::var(WORKER_ENV).unwrap().parse().unwrap();
        let threads: usize = std::env::var(THREADS_ENV).unwrap().parse().unwrap();
        let explicit = std::env::var(OPEN_ENV).ok();

        let barrier = Arc::new(Barrier::new(threads + 1));
        let cache = Arc::new(std::sync::OnceLock::<Option<fleche::Cache>>::new());
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (barrier, cache) = (barrier.clone(), cache.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    let cache = cache.get().cloned().flatten();
                    // Two groups of threads walk the keys in step, one
                    // from key 0, one from key 10: every key has half of
                    // all callers of all processes at once, and two keys
                    // are computed at a time.
                    let first = (t as u64 % 2) * (KEYS / 2);
                    let mut errors = Vec::new();
                    for i in 0..KEYS {
                        let key = (first + i) % KEYS;
                        let call = || match &cache {
                            Some(c) => fleche::with_cache(c.clone(), || stampede(key)),
                            None => stampede(key),
                        };
                        let got = std::panic::catch_unwind(std::panic::AssertUnwindSafe(call));
                        match got {
                            Ok(v) if v == expected(key) => {}
                            Ok(v) => errors
                                .push(format!("key {key}: a wrong result ({} bytes)", v.len())),
                            Err(p) => errors.push(format!("key {key}: {}", panic_message(&*p))),
                        }
                    }
                    errors
                })
            })
            .collect();

        std::fs::write(dir.join(format!("ready-{worker}")), b"").unwrap();
        assert!(
            wait_for_file(&dir.join("go"), Instant::now() + STAMPEDE_DEADLINE),
            "no go signal"
        );
        // The strict variant opens its cache now, at the same moment as
        // the other workers; the default cache opens at the first call.
        let opened = explicit.map(|url| {
            fleche::open(&url).unwrap_or_else(|e| {
                panic!(
                    "worker {worker} cannot open the cache: {}",
                    fleche::ErrorChain(&e)
                )
            })
        });
        cache.set(opened).unwrap();
        barrier.wait();
        let mut errors: Vec<String> = handles
            .into_iter()
            .flat_map(|h| h.join().expect("a caller thread"))
            .collect();

        // Every key is stored, as every process sees it.
        for key in 0..KEYS {
            let loaded = match cache.get().cloned().flatten() {
                Some(c) => fleche::with_cache(c, || stampede::load(&key)),
                None => stampede::load(&key),
            };
            match loaded {
                Ok(Some(v)) if v == expected(key) => {}
                Ok(Some(_)) => errors.push(format!("key {key}: a wrong result is stored")),
                Ok(None) => errors.push(format!("key {key}: no result is stored")),
                Err(e) => errors.push(format!(
                    "key {key}: cannot load: {}",
                    fleche::ErrorChain(&e)
                )),
            }
        }
        println!(
            "{REPORT} {worker}: {} calls, {} body runs, {} errors",
            threads as u64 * KEYS,
            RUNS.load(Ordering::SeqCst),
            errors.len()
        );
        for e in errors.iter().take(20) {
            println!("{REPORT} {worker} error: {e}");
        }
        assert!(errors.is_empty(), "{} errors reached callers", errors.len());
    }

    /// What one stampede showed.
    struct Stampede {
        kind: Kind,
        shape: String,
        /// Body runs in the shared log, and as the workers counted them.
        logged: u64,
        counted: u64,
        /// Keys whose body ran other than once: (key, runs).
        wrong: Vec<(u64, usize)>,
        warnings: usize,
        failed_workers: usize,
        /// From the go signal to the last worker's exit; from the first
        /// spawn.
        matrix: Duration,
        total: Duration,
        failures: Vec<String>,
    }

    /// Runs one stampede on `kind`: the default cache (`strict` false) or
    /// a strict one opened explicitly.
    fn stampede_on(kind: Kind, strict: bool) -> Option<Stampede> {
        let variant = if strict { "strict" } else { "default" };
        let place = Place::new(kind, &format!("stampede_{variant}"))?;
        let (processes, threads) = match kind {
            Kind::Memory => (1, MEMORY_THREADS),
            _ => (PROCESSES, THREADS),
        };
        let sync = place.file("sync");
        std::fs::create_dir(&sync).unwrap();
        let runs = place.file("runs.log");
        let url = place.url(if strict { "strict=true" } else { "" });

        let started = Instant::now();
        let mut workers: Vec<Worker> = (0..processes)
            .map(|w| {
                let mut env = vec![
                    (DIR_ENV, sync.display().to_string()),
                    (RUNS_ENV, runs.display().to_string()),
                    (WORKER_ENV, w.to_string()),
                    (THREADS_ENV, threads.to_string()),
                    // Should the default cache ever be taken from
                    // elsewhere, it is not the user's.
                    (
                        "XDG_CACHE_HOME",
                        place.file("xdg-cache").display().to_string(),
                    ),
                ];
                if strict {
                    env.push((OPEN_ENV, url.clone()));
                } else {
                    env.push(("FLECHE_CACHE", url.clone()));
                }
                Worker::start(
                    place.scratch.path(),
                    &format!("{kind}-{variant}-{w}"),
                    "matrix::stampede_worker",
                    &env,
                )
            })
            .collect();

        // All workers ready (threads made, waiting), then go.
        let mut failures = Vec::new();
        let ready_by = Instant::now() + READY_DEADLINE;
        'ready: for (w, worker) in workers.iter_mut().enumerate() {
            let ready = sync.join(format!("ready-{w}"));
            while !ready.exists() {
                if worker.exited() || Instant::now() >= ready_by {
                    failures.push(format!(
                        "worker {} was not ready in time or ended before the start (its report follows)",
                        worker.name
                    ));
                    break 'ready;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        let go = Instant::now();
        std::fs::write(sync.join("go"), b"").unwrap();
        let deadline = go + STAMPEDE_DEADLINE;
        let mut counted = 0;
        let mut warnings = 0;
        let mut failed_workers = 0;
        for worker in &mut workers {
            worker.wait(deadline);
        }
        let matrix = go.elapsed();
        let total = started.elapsed();
        for worker in &workers {
            let out = worker.stdout();
            // The harness may print the test's name on the same line.
            let report = out.lines().find_map(|l| l.find(REPORT).map(|at| &l[at..]));
            counted += report
                .and_then(|l| l.split(", ").nth(1))
                .and_then(|s| s.split(' ').next())
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0);
            let stderr = worker.stderr();
            let warned: Vec<&str> = stderr
                .lines()
                .filter(|l| l.contains("WARN"))
                .map(|l| &l[..l.len().min(300)])
                .collect::<Vec<_>>();
            warnings += warned.len();
            if !worker.succeeded() || report.is_none() {
                failed_workers += 1;
                failures.push(worker.report());
            } else if !warned.is_empty() {
                show(&format!(
                    "  {kind} {variant}: worker {} logged {} warnings, first: {}",
                    worker.name,
                    warned.len(),
                    warned[0]
                ));
            }
        }

        let logged = logged_runs(&runs, "stampede");
        let mut wrong = Vec::new();
        for key in 0..KEYS {
            let n = logged.get(&key).map_or(0, Vec::len);
            if n != 1 {
                wrong.push((key, n));
            }
        }
        let logged_total: u64 = logged.values().map(|v| v.len() as u64).sum();
        if !wrong.is_empty() {
            failures.push(format!(
                "bodies did not run exactly once per key (key, runs): {wrong:?}"
            ));
        }
        if logged_total != counted {
            failures.push(format!(
                "the log has {logged_total} body runs, the workers counted {counted}"
            ));
        }

        // The workers' cache was the store the URL names: every result is
        // there for a new process (the memory store died with its worker).
        if kind != Kind::Memory {
            match fleche::open(&place.url("")) {
                Ok(cache) => fleche::with_cache(cache, || {
                    for key in 0..KEYS {
                        match stampede::load(&key) {
                            Ok(Some(v)) if v == expected(key) => {}
                            other => failures.push(format!(
                                "key {key} read back from the store: {:?}",
                                other.map(|o| o.map(|v| v.len()))
                            )),
                        }
                    }
                }),
                Err(e) => failures.push(format!(
                    "cannot reopen the store: {}",
                    fleche::ErrorChain(&e)
                )),
            }
        }
        drop(workers);
        Some(Stampede {
            kind,
            shape: format!("{processes}x{threads}x{KEYS}"),
            logged: logged_total,
            counted,
            wrong,
            warnings,
            failed_workers,
            matrix,
            total,
            failures,
        })
    }

    /// Runs the stampede on every store; prints the summary; fails with
    /// every store's failures.
    fn stampede_matrix(strict: bool) {
        let _serial = serial();
        let variant = if strict {
            "strict, opened explicitly"
        } else {
            "default options, default cache from FLECHE_CACHE"
        };
        let mut rows = Vec::new();
        for kind in chosen(&Kind::ALL) {
            if let Some(row) = stampede_on(kind, strict) {
                show(&format!(
                    "stampede {kind}: {} body runs ({} counted by workers) in {:.2?} ({:.2?} with start-up){}",
                    row.logged,
                    row.counted,
                    row.matrix,
                    row.total,
                    if row.failures.is_empty() {
                        ""
                    } else {
                        " FAILED"
                    }
                ));
                rows.push(row);
            }
        }
        show(&format!(
            "\nstampede matrix ({variant}): processes x threads x keys, {} ms bodies",
            BODY.as_millis()
        ));
        show(&format!(
            "  {:<9} {:<10} {:>9} {:>8} {:>9} {:>10} {:>10}  result",
            "store", "shape", "body runs", "counted", "warnings", "matrix", "total"
        ));
        for r in &rows {
            show(&format!(
                "  {:<9} {:<10} {:>9} {:>8} {:>9} {:>10.2?} {:>10.2?}  {}",
                r.kind,
                r.shape,
                r.logged,
                r.counted,
                r.warnings,
                r.matrix,
                r.total,
                if r.failures.is_empty() {
                    "ok".to_owned()
                } else {
                    format!(
                        "FAILED (keys not run once: {}, workers failed: {})",
                        r.wrong.len(),
                        r.failed_workers
                    )
                }
            ));
        }
        assert_no_failures(
            &format!("the stampede ({variant})"),
            rows.iter().map(|r| (r.kind, &r.failures)),
        );
    }

    /// 8 processes × 16 threads (memory: 1 × 128) on 20 keys; default
    /// options; the workers' default cache, named only by `FLECHE_CACHE`
    /// — for the file store, a directory that does not exist yet.
    #[test]
    fn stampede_with_default_options_on_the_default_cache() {
        stampede_matrix(false);
    }

    /// The same with `strict=true`: any store error fails a caller.
    #[test]
    fn stampede_strict() {
        stampede_matrix(true);
    }

    /// Fails with every store's failures, if any store has some.
    fn assert_no_failures<'a>(what: &str, rows: impl Iterator<Item = (Kind, &'a Vec<String>)>) {
        let failed: Vec<String> = rows
            .filter(|(_, failures)| !failures.is_empty())
            .map(|(kind, failures)| format!("== {kind} ==\n{}", failures.join("\n")))
            .collect();
        assert!(
            failed.is_empty(),
            "{what} failed on {} store(s):\n{}",
            failed.len(),
            failed.join("\n\n")
        );
    }

    // -----------------------------------------------------------------
    // SIGKILL mid-body

    /// Worker A, B or C of the crash test: calls `victim(1)` on the cache
    /// at `FLECHE_MATRIX_OPEN` and prints the result.
    #[test]
    #[ignore = "helper: a worker process of the SIGKILL test, started by it"]
    fn crash_worker() {
        let Some(url) = std::env::var_os(OPEN_ENV) else {
            return;
        };
        log_warnings();
        let cache = fleche::open(url.to_str().unwrap())
            .unwrap_or_else(|e| panic!("cannot open the cache: {}", fleche::ErrorChain(&e)));
        let calling = now_ns();
        let got = fleche::with_cache(cache, || victim(1));
        println!(
            "{REPORT}: calling at {calling}; got {got}; {} body runs",
            RUNS.load(Ordering::SeqCst)
        );
    }

    struct Takeover {
        kind: Kind,
        lease: String,
        /// From SIGKILL to B's body starting, and to B's call.
        takeover: Option<Duration>,
        called: Option<Duration>,
        failures: Vec<String>,
    }

    fn read_ns(path: &Path) -> Option<u128> {
        std::fs::read_to_string(path).ok()?.trim().parse().ok()
    }

    fn crash_on(kind: Kind) -> Option<Takeover> {
        let place = Place::new(kind, "crash")?;
        // Strict: a store error in any worker fails it. Every store keeps
        // its default lease (10 s): the killed holder runs on this host,
        // so the next caller sees that its process is gone and takes over
        // at once — the lease is for holders on other hosts.
        let (url, lease, bound) = (
            place.url("strict=true"),
            "10 s, default".to_owned(),
            TAKEOVER_BOUND,
        );
        let runs = place.file("runs.log");
        let worker = |role: &str| {
            Worker::start(
                place.scratch.path(),
                &format!("{kind}-crash-{role}"),
                "matrix::crash_worker",
                &[
                    (OPEN_ENV, url.clone()),
                    (ROLE_ENV, role.to_owned()),
                    (RUNS_ENV, runs.display().to_string()),
                    (
                        STARTED_ENV,
                        place.file(&format!("started-{role}")).display().to_string(),
                    ),
                ],
            )
        };
        let mut row = Takeover {
            kind,
            lease,
            takeover: None,
            called: None,
            failures: Vec::new(),
        };

        // A starts the body, holding the claim; it is killed mid-body.
        let mut a = worker("A");
        if !wait_for_file(&place.file("started-A"), Instant::now() + READY_DEADLINE) {
            a.kill();
            row.failures
                .push(format!("A's body did not start: {}", a.report()));
            return Some(row);
        }
        std::thread::sleep(Duration::from_millis(200));
        if a.exited() {
            row.failures
                .push(format!("A ended before the kill: {}", a.report()));
            return Some(row);
        }
        let killed = now_ns();
        a.kill();

        // B calls the same key: it takes the dead worker's claim over.
        let mut b = worker("B");
        b.wait(Instant::now() + bound + READY_DEADLINE);
        let b_out = b.stdout();
        if !b.succeeded() || !b_out.contains("got victim 1") {
            row.failures.push(format!("B failed: {}", b.report()));
            return Some(row);
        }
        let since_kill = |ns: u128| Duration::from_nanos(ns.saturating_sub(killed) as u64);
        let b_body = read_ns(&place.file("started-B"));
        row.takeover = b_body.map(since_kill);
        row.called = b_out
            .split("calling at ")
            .nth(1)
            .and_then(|s| s.split(';').next())
            .and_then(|n| n.parse().ok())
            .map(since_kill);
        match row.takeover {
            None => row
                .failures
                .push("B did not run the body (no takeover)".to_owned()),
            Some(t) if t > bound => row.failures.push(format!(
                "B took over {t:.2?} after the kill, more than the bound {bound:?}"
            )),
            Some(_) => {}
        }

        // C hits: the body does not run again.
        let mut c = worker("C");
        c.wait(Instant::now() + READY_DEADLINE);
        if !c.succeeded() || !c.stdout().contains("got victim 1; 0 body runs") {
            row.failures
                .push(format!("C did not hit B's result: {}", c.report()));
        }
        let logged = logged_runs(&runs, "victim");
        let roles: Vec<&str> = logged
            .values()
            .flatten()
            .map(|l| l.split(' ').nth(2).unwrap_or("?"))
            .collect();
        if roles != ["A", "B"] {
            row.failures.push(format!(
                "the body ran in {roles:?}, expected in A (killed) and B only"
            ));
        }
        Some(row)
    }

    /// Per store with claims: SIGKILL the worker that runs a body; the
    /// next caller takes over at once (not after the lease), and the one
    /// after it hits.
    #[test]
    fn a_worker_killed_mid_body_is_taken_over() {
        let _serial = serial();
        let rows: Vec<Takeover> = chosen(&Kind::SHARED)
            .into_iter()
            .filter_map(crash_on)
            .collect();
        show("\nSIGKILL mid-body: from the kill to the next caller's body (takeover)");
        show(&format!(
            "  {:<9} {:<14} {:>12} {:>12}  result",
            "store", "lease", "B called", "takeover"
        ));
        let shown = |d: Option<Duration>| d.map_or("-".to_owned(), |d| format!("{d:.2?}"));
        for r in &rows {
            show(&format!(
                "  {:<9} {:<14} {:>12} {:>12}  {}",
                r.kind,
                r.lease,
                shown(r.called),
                shown(r.takeover),
                if r.failures.is_empty() {
                    "ok"
                } else {
                    "FAILED"
                }
            ));
        }
        assert_no_failures("takeover", rows.iter().map(|r| (r.kind, &r.failures)));
    }
}
