//! Opening SQL caches by URL through the `fleche` facade: what persists,
//! what a bad URL says, and that a password never shows.

use std::time::{Duration, Instant};

use fleche::fleche;

mod common;
use common::PgSchema;

#[fleche]
fn square(x: u64) -> u64 {
    x * x
}

#[test]
fn a_sqlite_url_opens_a_cache_that_persists() {
    let dir = tempfile::tempdir().unwrap();
    // A space in the path, a directory that does not exist yet, and a
    // cache option among the store's.
    let url = format!(
        "sqlite://{}/sub dir/cache.db?strict=true&busy_timeout_ms=1000",
        dir.path().display()
    );
    let cache = fleche::open(&url).unwrap();
    assert!(cache.options().strict);
    fleche::with_cache(cache, || {
        assert!(!square::contains(&7).unwrap());
        assert_eq!(square(7), 49);
    });
    assert!(dir.path().join("sub dir/cache.db").is_file());

    let reopened = fleche::open(&url).unwrap();
    fleche::with_cache(reopened, || {
        assert!(
            square::contains(&7).unwrap(),
            "the record survives reopening"
        );
        assert_eq!(square::load(&7).unwrap(), Some(49));
    });
}

#[test]
fn sqlite_memory_is_private_to_its_cache() {
    let a = fleche::open("sqlite::memory:").unwrap();
    let b = fleche::open("sqlite::memory:").unwrap();
    assert!(!a.calls().capabilities().persistent);
    fleche::with_cache(a, || {
        assert_eq!(square(3), 9);
        assert!(square::contains(&3).unwrap());
    });
    fleche::with_cache(b, || assert!(!square::contains(&3).unwrap()));
}

#[test]
fn bad_sql_urls_say_what_is_wrong() {
    let err = fleche::open("sqlite:///tmp/x.db?nosuch=1").unwrap_err();
    assert!(err.to_string().contains("unknown option `nosuch`"), "{err}");
    let err = fleche::open("postgres://u@h/db?schema=Robert');DROP").unwrap_err();
    assert!(err.to_string().contains("not a plain identifier"), "{err}");
    let err = fleche::open("postgres://u@h/db?acquire_timeout_ms=soon").unwrap_err();
    assert!(err.to_string().contains("takes milliseconds"), "{err}");
}

#[test]
fn an_unreachable_server_fails_fast_without_showing_the_password() {
    // Port 1 on loopback: nothing listens, the connection is refused.
    let url = "postgres://alice:hunter2@127.0.0.1:1/db?acquire_timeout_ms=2000";
    let start = Instant::now();
    let err = fleche::open(url).unwrap_err();
    let shown = format!("{err} / {err:?}");
    assert!(!shown.contains("hunter2"), "the password leaked: {shown}");
    assert!(shown.contains("127.0.0.1:1"), "{shown}");
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn a_postgres_url_opens_a_cache_in_its_schema() {
    let (Some(schema), Some(other)) = (PgSchema::new("open"), PgSchema::new("open_other")) else {
        return;
    };
    let cache = fleche::open(&schema.url("strict=true&max_connections=2")).unwrap();
    assert!(cache.options().strict);
    assert!(cache.calls().capabilities().claims);
    fleche::with_cache(cache, || {
        assert_eq!(square(5), 25);
        assert!(square::contains(&5).unwrap());
    });
    // A cache in another schema of the same database sees nothing.
    let other_cache = fleche::open(&other.url("")).unwrap();
    fleche::with_cache(other_cache, || assert!(!square::contains(&5).unwrap()));
}

#[test]
fn the_password_never_shows_in_debug_or_configuration() {
    let Some(schema) = PgSchema::new("password") else {
        return;
    };
    // The test server trusts loopback, so any password connects.
    let url = schema
        .url("")
        .replacen("postgres://postgres@", "postgres://postgres:s3cret-pw@", 1);
    assert!(
        url.contains("s3cret-pw"),
        "the test URL names user postgres: {url}"
    );
    let store = fleche::bridge::block_on(fleche_sql::PgStore::connect(&url)).unwrap();
    let cache = fleche::open(&url).unwrap();
    let shown = format!(
        "{store:?} {} {cache:?} {}",
        store.url(),
        cache.config().unwrap().redacted_url()
    );
    assert!(!shown.contains("s3cret-pw"), "{shown}");
}
