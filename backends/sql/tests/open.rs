//! Opening SQL caches by URL through the `fleche` facade: what persists,
//! what a bad URL says, and that a password never shows.

use std::time::{Duration, Instant};

use fleche::{ErrorChain, ErrorKind, bridge, fleche};
use fleche_sql::{PgStore, SqlOptions, SqliteStore};

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
    let chain = |url: &str| ErrorChain(&fleche::open(url).unwrap_err()).to_string();
    let err = chain("sqlite:///tmp/x.db?nosuch=1");
    assert!(err.contains("unknown option `nosuch`"), "{err}");
    assert!(
        err.contains("busy_timeout_ms") && err.contains("vfs") && err.contains("strict"),
        "the known options are listed: {err}"
    );
    assert!(
        !err.contains("sslmode"),
        "PostgreSQL's are not SQLite's: {err}"
    );
    let err = chain("postgres://u@h/db?colour=blue");
    assert!(
        err.contains("unknown option `colour`")
            && err.contains("sslmode")
            && err.contains("schema"),
        "{err}"
    );
    let err = chain("postgres://u@h/db?schema=Robert');DROP");
    assert!(err.contains("plain identifier"), "{err}");
    let err = chain("postgres://u@h/db?acquire_timeout_ms=soon");
    assert!(err.contains("takes milliseconds"), "{err}");
    let err = chain("postgres://u@h/db?sslmode=sometimes");
    assert!(err.contains("verify-full, not `sometimes`"), "{err}");
}

#[test]
fn a_sqlite_url_without_an_absolute_path_is_refused_with_the_form_to_write() {
    for url in ["sqlite://", "sqlite:///", "sqlite://?strict=true"] {
        let err = ErrorChain(&fleche::open(url).unwrap_err()).to_string();
        assert!(
            err.contains("names no path") && err.contains("sqlite:///absolute/path"),
            "{url}: {err}"
        );
    }
    let err = ErrorChain(&fleche::open("sqlite://relative.db").unwrap_err()).to_string();
    assert!(err.contains("names a host `relative.db`"), "{err}");
    let cwd = std::env::current_dir().unwrap();
    assert!(
        err.contains(&format!("sqlite://{}/relative.db", cwd.display())),
        "the absolute form is suggested: {err}"
    );
    assert!(!cwd.join("relative.db").exists(), "no file was made");
    let err = ErrorChain(&fleche::open("sqlite:relative.db").unwrap_err()).to_string();
    assert!(err.contains("sqlite:///"), "{err}");
}

#[test]
fn a_store_opens_only_its_own_urls_and_options() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/x.db", dir.path().display());
    // The cache's options are the cache's, not the store's.
    let err = bridge::block_on(SqliteStore::open(&format!("{url}?strict=true"))).unwrap_err();
    assert!(err.to_string().contains("unknown option `strict`"), "{err}");
    let err = bridge::block_on(PgStore::open(&url)).unwrap_err();
    assert!(
        err.to_string()
            .contains("PgStore opens postgres: and postgresql:"),
        "{err}"
    );
    let err = bridge::block_on(SqliteStore::open("sqlite::memory:?cache=private")).unwrap_err();
    assert!(err.to_string().contains("in-memory"), "{err}");
    let store = bridge::block_on(SqliteStore::open_with(
        &format!("{url}?max_connections=3"),
        SqlOptions::default().max_connections(7),
    ))
    .unwrap();
    assert_eq!(
        store.pool().options().get_max_connections(),
        3,
        "the URL's option wins"
    );
}

/// Port 1 on loopback: nothing listens, the connection is refused.
const REFUSED: &str = "postgres://alice:hunter2@127.0.0.1:1/db?password=hunter3";

#[test]
fn an_unreachable_server_fails_at_once_with_the_cause_and_no_password() {
    let start = Instant::now();
    let err = fleche::open(REFUSED).unwrap_err();
    let elapsed = start.elapsed();
    let shown = format!("{err} / {err:?} / {}", ErrorChain(&err));
    assert!(
        !shown.contains("hunter2") && !shown.contains("hunter3"),
        "the password leaked: {shown}"
    );
    assert!(shown.contains("127.0.0.1:1"), "{shown}");
    assert!(
        shown.to_lowercase().contains("connection refused"),
        "the driver's cause: {shown}"
    );
    assert_eq!(err.store_kind(), Some(ErrorKind::Unavailable), "{shown}");
    assert!(elapsed < Duration::from_millis(800), "{elapsed:?}");

    // The store's own constructor says the same, with the cause once.
    let start = Instant::now();
    let err = match bridge::block_on(PgStore::open(REFUSED)).unwrap_err() {
        fleche::OpenError::Store(e) => e,
        other => panic!("not a store error: {other}"),
    };
    let elapsed = start.elapsed();
    assert!(elapsed < Duration::from_millis(800), "{elapsed:?}");
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    let chain = ErrorChain(&err).to_string();
    assert!(
        chain.starts_with("postgres: unavailable: cannot connect to 127.0.0.1:1: "),
        "{chain}"
    );
    assert_eq!(
        chain.to_lowercase().matches("refused").count(),
        1,
        "{chain}"
    );
    assert!(!format!("{chain} {err:?}").contains("hunter"), "{chain}");
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
fn a_postgresql_url_opens_the_same_store() {
    let Some(schema) = PgSchema::new("postgresql") else {
        return;
    };
    let url = schema.url("").replacen("postgres://", "postgresql://", 1);
    assert!(url.starts_with("postgresql://"), "{url}");
    let cache = fleche::open(&url).unwrap();
    fleche::with_cache(cache, || assert_eq!(square(6), 36));
    let store = bridge::block_on(PgStore::open(&schema.url(""))).unwrap();
    let cache = fleche::Cache::new(
        std::sync::Arc::new(store.clone()),
        std::sync::Arc::new(store),
    );
    fleche::with_cache(cache, || assert!(square::contains(&6).unwrap()));
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
    let store = bridge::block_on(PgStore::open(&url)).unwrap();
    let cache = fleche::open(&url).unwrap();
    let shown = format!(
        "{store:?} {} {cache:?} {}",
        store.url(),
        cache.config().unwrap().redacted_url()
    );
    assert!(!shown.contains("s3cret-pw"), "{shown}");
    // A password given as an option is hidden too.
    let url = format!("{}&password=s3cret-pw", schema.url(""));
    let store = bridge::block_on(PgStore::open(&url)).unwrap();
    let shown = format!("{store:?} {}", store.url());
    assert!(
        !shown.contains("s3cret-pw") && shown.contains("password=***"),
        "{shown}"
    );
}

#[test]
fn sqlite_options_reach_the_database() {
    use fleche::{Bytes, Digest, ValueStore};
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/opts.db", dir.path().display());
    let open = |url: &str| bridge::block_on(SqliteStore::open(url));
    let chain = |e: fleche::OpenError| ErrorChain(&e).to_string();

    // rw: the file must exist.
    let err = chain(open(&format!("{url}?mode=rw")).unwrap_err());
    assert!(err.contains("unable to open"), "{err}");
    let writer = open(&url).unwrap();
    let (key, bytes) = (Digest::of(b"v"), Bytes::from_static(b"v"));
    bridge::block_on(writer.put(key, bytes.clone())).unwrap();

    // ro, immutable and a named VFS read what the writer wrote; ro refuses
    // to write. An immutable file is read without its WAL: fold it in.
    let checkpoint = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)");
    bridge::block_on(checkpoint.execute(writer.pool())).unwrap();
    for options in ["mode=ro", "immutable=true", "vfs=unix", "cache=shared"] {
        let store = open(&format!("{url}?{options}")).expect(options);
        let got = bridge::block_on(store.get(key)).unwrap();
        assert_eq!(got, Some(bytes.clone()), "{options}");
    }
    let ro = open(&format!("{url}?mode=ro")).unwrap();
    let err = bridge::block_on(ro.put(Digest::of(b"w"), Bytes::from_static(b"w"))).unwrap_err();
    assert!(ErrorChain(&err).to_string().contains("readonly"), "{err}");

    let err = chain(open(&format!("{url}?mode=memory")).unwrap_err());
    assert!(err.contains("sqlite::memory:), not `memory`"), "{err}");
}
