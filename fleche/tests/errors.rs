//! One walk over the errors of every backend — a URL that is wrong, a
//! store that cannot be reached, data that is damaged — checking what
//! each error chain says: no error repeats its source's text (so a report
//! of the chain says each cause once), and no message, `Display` or
//! `Debug`, carries a secret of the URL.
//!
//! It needs every store of the facade (`cargo test --workspace` builds the
//! facade with all of them; so does `cargo test -p fleche --all-features`)
//! and the test servers (`eval "$(scripts/services up)"`); without them it
//! says loudly that it did not run, or fails under
//! `FLECHE_TEST_REQUIRE_ALL=1`.

// Without every store, only the loud `require` below is built.
#![cfg_attr(
    not(all(
        feature = "file",
        feature = "sqlite",
        feature = "postgres",
        feature = "redis",
        feature = "s3"
    )),
    allow(dead_code)
)]

use std::error::Error as StdError;

/// What goes into the URLs, and must come out of no error.
const SECRETS: &[&str] = &["hunter2", "AKIAHUNTER"];

/// Checks one error chain; prints it, for the reader of the test's output.
fn check(what: &str, err: &(dyn StdError + 'static)) {
    let chain = fleche::ErrorChain(err).to_string();
    let debug = format!("{err:?}");
    for secret in SECRETS {
        assert!(
            !chain.contains(secret) && !debug.contains(secret),
            "{what}: a secret is shown:\n{chain}\n{debug}"
        );
    }
    let mut link = Some(err);
    while let Some(e) = link {
        if let Some(source) = e.source() {
            let (said, cause) = (e.to_string(), source.to_string());
            assert!(!cause.is_empty(), "{what}: an empty cause in {chain}");
            assert!(
                !said.contains(&cause),
                "{what}: `{said}` says its source `{cause}` again:\n{chain}"
            );
        }
        link = e.source();
    }
    println!("{what}:\n    {chain}");
}

#[cfg(not(all(
    feature = "file",
    feature = "sqlite",
    feature = "postgres",
    feature = "redis",
    feature = "s3"
)))]
#[test]
fn errors_of_every_backend() {
    fleche_conformance::require(
        false,
        "this build of fleche lacks some stores (run it with --all-features, or in the workspace)",
    );
}

#[cfg(all(
    feature = "file",
    feature = "sqlite",
    feature = "postgres",
    feature = "redis",
    feature = "s3"
))]
#[test]
fn errors_of_every_backend() {
    use fleche::{CallRecord, Digest, ErrorKind, RECORD_FORMAT, StoreUrl, ValueRef, bridge};

    let (Some(pg), Some(redis), Some(s3)) = (
        fleche_conformance::server_url("FLECHE_TEST_POSTGRES_URL"),
        fleche_conformance::server_url("FLECHE_TEST_REDIS_URL"),
        fleche_conformance::server_url("FLECHE_TEST_S3_URL"),
    ) else {
        return;
    };
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let open_err = |url: &str| fleche::open(url).expect_err(url);

    // URLs that are wrong: refused before anything is opened.
    for url in [
        "memory://x/y?password=hunter2".to_owned(),
        "file://relative/dir".to_owned(),
        "sqlite://".to_owned(),
        "postgres://me:hunter2@127.0.0.1:notaport/test".to_owned(),
        "redis://:hunter2@127.0.0.1/0?colour=blue".to_owned(),
        "s3://AKIAHUNTER:hunter2@bucket/p".to_owned(),
        "s3://bucket/p?secret_access_key=hunter2&max_retries=lots".to_owned(),
    ] {
        let err = open_err(&url);
        assert_eq!(err.store_kind(), None, "{url}: a URL error, not a store's");
        check(&format!("bad URL {}", fleche::redact_url(&url)), &err);
    }

    // Servers that do not answer, and places that cannot hold a store.
    let s3_down = format!(
        "s3://bucket/p?endpoint=http://127.0.0.1:{free}&allow_http=true&access_key_id=AKIAHUNTER\
         &secret_access_key=hunter2&max_retries=0&retry_timeout_ms=200&connect_timeout_ms=200"
    );
    for (url, kind) in [
        (
            format!("postgres://me:hunter2@127.0.0.1:{free}/test"),
            ErrorKind::Unavailable,
        ),
        (
            format!("redis://:hunter2@127.0.0.1:{free}/0"),
            ErrorKind::Unavailable,
        ),
        (s3_down, ErrorKind::Unavailable),
        ("file:///proc/fleche-errors".to_owned(), ErrorKind::Backend),
        (
            "sqlite:///proc/fleche-errors/cache.db".to_owned(),
            ErrorKind::Backend,
        ),
    ] {
        let err = open_err(&url);
        assert_eq!(err.store_kind(), Some(kind), "{url}");
        check(&format!("cannot open {}", fleche::redact_url(&url)), &err);
    }

    // A file that is not a SQLite database.
    let not_a_db = dir.path().join("not a db");
    std::fs::write(&not_a_db, b"this is not a database, it is a poem").unwrap();
    let err = open_err(&format!("sqlite://{}", not_a_db.display()).replace(' ', "%20"));
    assert_eq!(err.store_kind(), Some(ErrorKind::Corrupt));
    check("a file that is not a database", &err);

    // Damaged data: a record of a format newer than this fleche reads,
    // which each store must report as damaged, naming its key.
    let namespace = fleche_conformance::unique_name("errors");
    let stores = [
        format!("file://{}", dir.path().join("file").display()),
        format!("sqlite://{}", dir.path().join("cache.db").display()),
        format!(
            "{pg}{}schema={namespace}",
            if pg.contains('?') { '&' } else { '?' }
        ),
        format!("{redis}/0?namespace={namespace}"),
        format!(
            "s3://{}/{namespace}?endpoint={s3}&allow_http=true",
            std::env::var("FLECHE_TEST_S3_BUCKET").unwrap_or_else(|_| "fleche-test".into())
        ),
    ];
    let key = Digest::of(b"a call from the future");
    let mut newer = CallRecord::new(
        key,
        "errors::future",
        ValueRef {
            digest: Digest::of(b"v"),
            inline: Some(fleche::Bytes::from_static(b"v")),
        },
    );
    newer.format = RECORD_FORMAT + 1;
    for url in &stores {
        let parsed = StoreUrl::parse(url).unwrap();
        let opened = bridge::block_on(fleche::driver::open_stores(&parsed)).expect(url);
        bridge::block_on(opened.calls.put(newer.clone())).expect(url);
        let err = bridge::block_on(opened.calls.get(key)).expect_err(url);
        assert_eq!(err.kind(), ErrorKind::Corrupt, "{url}: {err}");
        assert_eq!(err.key(), Some(key), "{url}: {err}");
        check(&format!("a newer record in {}", parsed.scheme()), &err);
    }

    // The shared servers keep nothing of this test.
    bridge::block_on(async {
        fleche_sql::PgStore::open(&stores[2])
            .await
            .unwrap()
            .destroy()
            .await
            .unwrap();
        fleche_redis::RedisStore::open(&stores[3])
            .await
            .unwrap()
            .destroy()
            .await
            .unwrap();
        fleche_s3::S3Store::open(&stores[4])
            .await
            .unwrap()
            .destroy()
            .await
            .unwrap();
    });
}
