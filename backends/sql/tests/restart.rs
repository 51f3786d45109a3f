//! PostgreSQL stopped and started again while a loop of cached calls runs:
//! during the outage the calls run uncached with a warning (or fail with
//! `Unavailable` in strict mode), and caching resumes when the server is
//! back, without reopening the cache.
//!
//! The server is a private one that this test sets up (`initdb`) and
//! starts on a free loopback port, so stopping it disturbs no other test.
//! It needs PostgreSQL's server binaries (`/usr/lib/postgresql/*/bin`, as
//! `scripts/services up` installs them); without them the test says loudly
//! that it skipped, and fails under `FLECHE_TEST_REQUIRE_ALL=1`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fleche::{Cache, Error, ErrorKind, fleche};

/// Body runs of `counted`, which the background loop calls.
static RUNS: AtomicU64 = AtomicU64::new(0);

#[fleche]
fn counted(x: u64) -> u64 {
    RUNS.fetch_add(1, Ordering::SeqCst);
    x * x
}

#[fleche]
fn strict_square(x: u64) -> u64 {
    x * x
}

/// A PostgreSQL server of this test's own, in a temp directory.
struct PrivatePostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    /// The server refuses to run as root: run its tools as `postgres`.
    run_as_postgres: bool,
}

impl PrivatePostgres {
    /// Sets up a cluster, or `None` (with a loud note) without the binaries.
    fn set_up() -> Option<Self> {
        let bin = server_binaries();
        let missing = "PostgreSQL's server binaries (initdb, pg_ctl) are not installed; \
                       run `scripts/services up`";
        if !fleche_conformance::require(bin.is_some(), missing) {
            return None;
        }
        let bin = bin?;
        let run_as_postgres = is_root();
        let dir = tempfile::Builder::new()
            .prefix("fleche-pg-restart")
            .tempdir()
            .unwrap();
        if run_as_postgres {
            let status = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(status.success(), "chown the cluster directory to postgres");
        }
        let pg = Self {
            port: free_port(),
            dir,
            bin,
            run_as_postgres,
        };
        pg.run(
            "initdb",
            &[
                "-D",
                &pg.data(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        Some(pg)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn url(&self) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/postgres?schema=fleche_restart",
            self.port
        )
    }

    fn start(&self) {
        let log = self.dir.path().join("server.log").display().to_string();
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-l",
                &log,
                "-o",
                &options,
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
    }

    /// Stops at once, as a crash or a kill would: no clean shutdown.
    fn stop(&self) {
        self.run(
            "pg_ctl",
            &["-D", &self.data(), "-m", "immediate", "-w", "stop"],
        );
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let exe = self.bin.join(tool);
        let mut cmd = if self.run_as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        let out = cmd
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{tool} {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        if Path::new(&self.data()).join("postmaster.pid").exists() {
            self.stop();
        }
    }
}

/// The newest `/usr/lib/postgresql/N/bin` that has `initdb` and `pg_ctl`.
fn server_binaries() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("pg_ctl").is_file()).then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Where the loop's log lines go, to check the warnings.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Where the server stood when a call of the loop started and ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Up,
    Down,
    Back,
}

/// One call of the loop.
#[derive(Debug)]
struct Call {
    phase: Phase,
    ran_body: bool,
}

/// Calls `counted` over a few keys until `stop`, recording each call whose
/// start and end fall in one phase.
fn call_loop(
    cache: Cache,
    phase: Arc<Mutex<Phase>>,
    stop: Arc<AtomicBool>,
    log: Captured,
) -> Vec<Call> {
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .with_writer(move || log.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let mut calls = Vec::new();
    fleche::with_cache(cache, || {
        for i in 0u64.. {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            let x = i % 4;
            let before = (*phase.lock().unwrap(), RUNS.load(Ordering::SeqCst));
            assert_eq!(counted(x), x * x, "the right result, stored or not");
            let after = (*phase.lock().unwrap(), RUNS.load(Ordering::SeqCst));
            if before.0 == after.0 {
                calls.push(Call {
                    phase: before.0,
                    ran_body: after.1 > before.1,
                });
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    calls
}

fn unavailable(e: &Error) -> bool {
    matches!(e, Error::Store(s) if s.kind() == ErrorKind::Unavailable)
}

#[test]
fn caching_resumes_after_a_postgres_restart() {
    let Some(pg) = PrivatePostgres::set_up() else {
        return;
    };
    pg.start();
    let url = format!("{}&acquire_timeout_ms=1000", pg.url());
    let cache = fleche::open(&url).unwrap();
    let strict = Cache::builder(cache.values().clone(), cache.calls().clone())
        .strict(true)
        .build();

    let phase = Arc::new(Mutex::new(Phase::Up));
    let stop = Arc::new(AtomicBool::new(false));
    let log = Captured::default();
    let looping = {
        let (cache, phase, stop, log) = (cache.clone(), phase.clone(), stop.clone(), log.clone());
        std::thread::spawn(move || call_loop(cache, phase, stop, log))
    };

    std::thread::sleep(Duration::from_secs(1));
    pg.stop();
    *phase.lock().unwrap() = Phase::Down;

    // Strict mode: the error reaches the caller, typed as Unavailable.
    fleche::with_cache(strict.clone(), || {
        let err = strict_square::contains(&3).unwrap_err();
        assert!(unavailable(&err), "{err:?}");
        // The expected panic, without its backtrace in the test output.
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let call = std::panic::catch_unwind(|| strict_square(3));
        std::panic::set_hook(hook);
        let msg = call
            .unwrap_err()
            .downcast::<String>()
            .map(|m| *m)
            .unwrap_or_default();
        assert!(
            msg.contains("strict mode") && msg.contains("unavailable"),
            "{msg}"
        );
    });
    let err = fleche::bridge::block_on(strict.calls().get(fleche::Digest::of(b"k"))).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(!format!("{err} {err:?}").contains("password"));
    std::thread::sleep(Duration::from_secs(3));

    *phase.lock().unwrap() = Phase::Back;
    pg.start();
    // The loop's keys are hits again once the pool has reconnected.
    let deadline = Instant::now() + Duration::from_secs(60);
    let back_hits = || fleche::with_cache(cache.clone(), || counted::contains(&1).unwrap_or(false));
    while !back_hits() {
        assert!(Instant::now() < deadline, "caching did not resume");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::SeqCst);
    let calls = looping
        .join()
        .expect("the loop of cached calls never panics");

    let count = |p: Phase, ran: bool| {
        calls
            .iter()
            .filter(|c| c.phase == p && c.ran_body == ran)
            .count()
    };
    assert!(
        count(Phase::Up, false) > 0,
        "hits before the outage: {calls:?}"
    );
    assert!(
        count(Phase::Down, true) > 0,
        "calls during the outage: {calls:?}"
    );
    assert_eq!(
        count(Phase::Down, false),
        0,
        "every call during the outage ran uncached: {calls:?}"
    );
    assert!(
        count(Phase::Back, false) > 0,
        "hits after the restart: {calls:?}"
    );
    let log = String::from_utf8_lossy(&log.0.lock().unwrap()).into_owned();
    assert!(
        log.contains("WARN") && log.contains("running uncached"),
        "the outage was logged as a warning: {log}"
    );

    // Strict calls work again on the same cache.
    fleche::with_cache(strict, || assert_eq!(strict_square(3), 9));
    println!(
        "restart: {} calls before, {} during ({} ran uncached), {} after the restart ({} hits)",
        count(Phase::Up, false) + count(Phase::Up, true),
        count(Phase::Down, false) + count(Phase::Down, true),
        count(Phase::Down, true),
        count(Phase::Back, false) + count(Phase::Back, true),
        count(Phase::Back, false)
    );
}
