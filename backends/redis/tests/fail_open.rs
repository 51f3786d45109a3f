//! `FLECHE_CACHE` names a Redis that is not running: cached calls run
//! uncached — no panic, a single warning — and once the server starts,
//! calls are cached again within a few seconds, in the same process,
//! without anything reopened by hand.
//!
//! The default cache is process-wide and read from the environment, so
//! the scenario runs in a child process (this test binary again) with
//! `FLECHE_CACHE` set. The child starts its own redis-server, on the free
//! loopback port the URL names, halfway through; the shared server of
//! `FLECHE_TEST_REDIS_URL` is left alone. Skips loudly without
//! redis-server, and fails instead under `FLECHE_TEST_REQUIRE_ALL=1`.

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Runs of `square`'s body.
static RUNS: AtomicU64 = AtomicU64::new(0);

#[fleche::fleche]
fn square(x: u64) -> u64 {
    RUNS.fetch_add(1, Ordering::SeqCst);
    x * x
}

fn runs() -> u64 {
    RUNS.load(Ordering::SeqCst)
}

/// The environment variable that carries the port to the child.
const PORT_ENV: &str = "FLECHE_FAIL_OPEN_REDIS_PORT";

#[test]
fn a_stopped_default_redis_runs_calls_uncached_then_caches_once_it_starts() {
    if !support::available() {
        return;
    }
    let port = support::free_port();
    let url = format!(
        "redis://127.0.0.1:{port}/0?namespace={}&connect_timeout_ms=300",
        fleche_conformance::unique_name("fail_open")
    );
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child", "--ignored", "--nocapture"])
        .env("FLECHE_CACHE", &url)
        .env(PORT_ENV, port.to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the child failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("cached again after"), "{stdout}");
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("WARN")).collect();
    assert_eq!(
        warnings.len(),
        1,
        "expected a single warning for the outage:\n{stderr}"
    );
    assert!(
        warnings[0].to_lowercase().contains("connection refused"),
        "the warning says why: {}",
        warnings[0]
    );
}

#[test]
#[ignore = "helper: runs as the child of a_stopped_default_redis_runs_calls_uncached_then_caches_once_it_starts"]
fn child() {
    let Ok(port) = std::env::var(PORT_ENV) else {
        return;
    };
    let port: u16 = port.parse().unwrap();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();

    // Nothing listens: every call runs its body, quickly, without a panic.
    let down = Instant::now();
    for _ in 0..50 {
        assert_eq!(square(4), 16);
    }
    assert_eq!(runs(), 50, "calls ran uncached while the server was down");
    println!("50 calls while down in {:?}", down.elapsed());
    assert!(
        down.elapsed() < Duration::from_secs(5),
        "calls did not wait for a connection each"
    );

    // The server starts; within a few seconds calls are cached again.
    let _server = support::Server::start_on(port, &[]);
    let up = Instant::now();
    loop {
        assert_eq!(square(4), 16);
        if square::contains(&4).is_ok_and(|stored| stored) {
            break;
        }
        assert!(
            up.elapsed() < Duration::from_secs(10),
            "caching did not resume within 10 s of the server starting"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let before = runs();
    assert_eq!(square(4), 16);
    assert_eq!(runs(), before, "a hit once the server is up");
    println!("cached again after {:?}", up.elapsed());

    // The server is the child's own and keeps nothing: dropping it
    // cleans up.
}
