//! The server goes away and comes back while cached calls run — killed and
//! restarted, then frozen and thawed: no panic, calls during the outage run
//! uncached (or fail as unavailable in strict mode) within the timeouts,
//! and caching resumes without reopening the cache.
//!
//! Runs its own redis-server on a free loopback port (the shared one on
//! 6379 is left alone); skips loudly if redis-server is not installed,
//! and fails instead under `FLECHE_TEST_REQUIRE_ALL=1`.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use fleche::{Error, ErrorKind, FnSpec};

/// Runs of `square`'s body.
static RUNS: AtomicU64 = AtomicU64::new(0);

#[fleche::fleche]
fn square(x: u64) -> u64 {
    RUNS.fetch_add(1, Ordering::SeqCst);
    x * x
}

/// Called over and over by a background thread while the server restarts.
#[fleche::fleche]
fn cube(x: u64) -> u64 {
    x * x * x
}

static STRICT: FnSpec = FnSpec::new("restart::strict").with_version(1);

fn runs() -> u64 {
    RUNS.load(Ordering::SeqCst)
}

/// The longest a call may take while the server is down.
const FALLBACK: Duration = Duration::from_secs(4);

#[test]
fn caching_resumes_after_a_server_restart() {
    if !support::available() {
        return;
    }
    let mut server = support::Server::start(&[]);
    let url = format!(
        "{}?namespace=restart-test&connect_timeout_ms=300&response_timeout_ms=1000",
        server.url("")
    );
    let cache = fleche::open(&url).expect("the cache opens");
    let strict = fleche::open(&format!("{url}&strict=true")).expect("the strict cache opens");
    let call = |x: u64| fleche::with_cache(cache.clone(), || square(x));
    let strict_call = |x: u64| {
        let args = [("x", fleche::arg_digest(&x).unwrap())];
        strict.get_or_compute_blocking(&STRICT, &args, || x * x)
    };
    let test_start = Instant::now();

    // A background thread calls through the same cache the whole time.
    let stop = Arc::new(AtomicBool::new(false));
    let background = {
        let (cache, stop) = (cache.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::SeqCst) && n < 100_000 {
                let x = n % 16;
                assert_eq!(fleche::with_cache(cache.clone(), || cube(x)), x * x * x);
                n += 1;
                std::thread::sleep(Duration::from_millis(2));
            }
            n
        })
    };

    // Up: a miss, then a hit.
    assert_eq!(call(3), 9);
    let before = runs();
    assert_eq!(call(3), 9);
    assert_eq!(runs(), before, "the second call should be a hit");
    assert_eq!(strict_call(3).unwrap(), 9);

    // Down: every call is right and runs its body (default), or fails as
    // unavailable (strict), quickly.
    server.kill();
    let outage = Instant::now();
    let mut round = 0;
    while round < 8 || (outage.elapsed() < Duration::from_secs(1) && round < 200) {
        round += 1;
        let before = runs();
        let t = Instant::now();
        assert_eq!(call(3), 9);
        assert!(t.elapsed() < FALLBACK, "round {round}: {:?}", t.elapsed());
        assert_eq!(
            runs(),
            before + 1,
            "round {round}: the body should run uncached"
        );
        let t = Instant::now();
        match strict_call(3) {
            Err(Error::Store(e)) => {
                assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
            }
            other => panic!("round {round}: a strict call while the server is down gave {other:?}"),
        }
        assert!(t.elapsed() < FALLBACK, "round {round}: {:?}", t.elapsed());
    }

    // Up again, on the same port, empty: caching resumes in the same
    // cache, without reopening it.
    server.restart();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut resumed = false;
    for _ in 0..400 {
        assert_eq!(call(4), 16);
        let before = runs();
        assert_eq!(call(4), 16);
        if runs() == before {
            resumed = true;
            break;
        }
        assert!(Instant::now() < deadline, "caching did not resume in 20 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(resumed, "caching did not resume");
    assert_eq!(strict_call(5).unwrap(), 25);
    assert_eq!(strict_call(5).unwrap(), 25);

    // Frozen: the connection stays open but nothing answers. A call falls
    // back after the response timeout (1 s here), not later.
    server.pause();
    for round in 0..2 {
        let before = runs();
        let t = Instant::now();
        assert_eq!(call(6), 36);
        assert!(
            t.elapsed() < FALLBACK,
            "frozen round {round}: {:?}",
            t.elapsed()
        );
        assert_eq!(
            runs(),
            before + 1,
            "frozen round {round}: the body should run uncached"
        );
        let t = Instant::now();
        match strict_call(6) {
            Err(Error::Store(e)) => assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}"),
            other => panic!("frozen round {round}: a strict call gave {other:?}"),
        }
        assert!(
            t.elapsed() < FALLBACK,
            "frozen round {round}: {:?}",
            t.elapsed()
        );
    }
    server.resume();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        assert_eq!(call(7), 49);
        let before = runs();
        assert_eq!(call(7), 49);
        if runs() == before {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "caching did not resume after the freeze"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    stop.store(true, Ordering::SeqCst);
    let background_calls = background
        .join()
        .expect("the background caller did not panic");
    assert!(background_calls > 0);
    eprintln!(
        "restart test: {background_calls} background calls, {:?} in all",
        test_start.elapsed()
    );
}
