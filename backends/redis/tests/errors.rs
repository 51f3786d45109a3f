//! Clear errors, nothing lost: malformed URLs, a server that is not there
//! or does not answer, passwords that never show, damaged records that
//! read as corrupt (and as a miss to the cache), and expiry.

mod support;

use std::time::{Duration, Instant};

use fleche::{
    Cache, CallRecord, CallStore, Digest, ErrorChain, ErrorKind, FnSpec, OpenError, Query,
    ValueRef, ValueStore,
};
use fleche_core::bridge::block_on;
use fleche_redis::{RedisOptions, RedisStore};
use futures::TryStreamExt;

fn shared_url() -> Option<String> {
    fleche_conformance::server_url("FLECHE_TEST_REDIS_URL")
}

/// A store on the shared server in a namespace of its own.
fn fresh(url: &str, what: &str, options: RedisOptions) -> RedisStore {
    let namespace = format!("fleche-errors-{what}-{}", std::process::id());
    let store = block_on(RedisStore::open_with(url, options.namespace(namespace)))
        .expect("the test server is reachable");
    block_on(store.destroy()).unwrap();
    store
}

/// Deletes a test's namespace when the test ends, failed or not.
struct CleanUp(RedisStore);

impl Drop for CleanUp {
    fn drop(&mut self) {
        let _ = block_on(self.0.destroy());
    }
}

fn record(key: Digest, function: &str, n: u64, created: i64) -> CallRecord {
    let result = fleche::codec::encode(&n).unwrap();
    CallRecord::new(
        key,
        function,
        ValueRef {
            digest: Digest::of(&result),
            inline: Some(result.into()),
        },
    )
    .with_created_at(fleche::Timestamp::from_micros(created))
}

/// Every link of `e`'s chain, shown and debugged, for leak checks; and a
/// check that no link repeats its source's text.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut texts = Vec::new();
    let mut link = Some(e);
    while let Some(l) = link {
        let (shown, source) = (l.to_string(), l.source());
        if let Some(source) = source {
            let cause = source.to_string();
            assert!(
                cause.is_empty() || !shown.contains(&cause),
                "`{shown}` repeats its source `{cause}`"
            );
        }
        texts.push(shown);
        texts.push(format!("{l:?}"));
        link = source;
    }
    texts.join(" | ")
}

#[test]
fn malformed_urls_are_clear_errors() {
    for (url, says) in [
        ("redis://h?colour=blue", "unknown option `colour`"),
        // The cache's options are the cache's: a store opened by itself
        // refuses them (fleche::open takes them).
        ("redis://h/0?strict=true", "unknown option `strict`"),
        ("redis://h?ttl_ms=soon", "milliseconds"),
        ("redis://h?namespace=a%7Bb%7D", "namespace"),
        ("http://h:6379", "redis://[user:password@]host"),
        ("h:6379", "redis://[user:password@]host"),
        ("redis://u:hunter2@h:notaport/0", "port is not a number"),
        ("redis://u:hunter2@h:6379/notadb", "database number"),
        ("redis://u:hunter2@h:6379/0#insecure", "rediss:// URLs only"),
    ] {
        let e = block_on(RedisStore::open(url)).unwrap_err();
        let text = chain(&e);
        assert!(text.contains(says), "{url}: {text}");
        assert!(!text.contains("hunter2"), "{url}: {text}");
        assert!(matches!(e, OpenError::Url(_)), "{url}: {text}");
    }
    // The port, through the registry: the URL's problem, not the driver's
    // `InvalidClientConfig`.
    let e = fleche::open("redis://127.0.0.1:notaport/0").unwrap_err();
    let text = ErrorChain(&e).to_string();
    assert!(text.contains("the port is not a number"), "{text}");
    assert_eq!(e.store_kind(), None, "{text}");
    // A namespace given in code is checked as one given in the URL.
    let e = block_on(RedisStore::open_with(
        "redis://h/0",
        RedisOptions::default().namespace("a b"),
    ))
    .unwrap_err();
    assert!(chain(&e).contains("namespace"), "{e}");
    #[cfg(not(feature = "tls"))]
    {
        for url in [
            "rediss://:hunter2@h:6380/0",
            "rediss://:hunter2@h:6380/0?namespace=n#insecure",
        ] {
            let e = block_on(RedisStore::open(url)).unwrap_err();
            let text = chain(&e);
            assert!(
                text.contains("`tls` feature") && !text.contains("hunter2"),
                "{text}"
            );
            // Through the registry too, as a wrong URL (waiting cannot fix it).
            let e = fleche::open(url).unwrap_err();
            let text = ErrorChain(&e).to_string();
            assert!(
                text.contains("`tls` feature") && !text.contains("hunter2"),
                "{text}"
            );
            assert_eq!(e.store_kind(), None, "{text}");
        }
    }
}

/// The fragment bug of the old parsers: with a cache option before the
/// `#insecure` fragment, `strict` read as `true#insecure`. The URL is taken
/// now, so opening gets as far as connecting (nothing listens here).
#[cfg(feature = "tls")]
#[test]
fn a_cache_option_before_the_fragment_is_read() {
    let port = support::free_port();
    let url = format!(
        "rediss://127.0.0.1:{port}/0?namespace=n&strict=true&connect_timeout_ms=300#insecure"
    );
    let e = fleche::open(&url).unwrap_err();
    assert_eq!(
        e.store_kind(),
        Some(ErrorKind::Unavailable),
        "{}",
        ErrorChain(&e)
    );
}

#[test]
fn a_refused_connection_fails_fast_with_its_cause() {
    let port = support::free_port();
    for url in [
        // The default connect timeout (1 s): a refusal does not wait for it.
        format!("redis://me:hunter2@127.0.0.1:{port}/0"),
        format!("redis://me:hunter2@127.0.0.1:{port}/0?connect_timeout_ms=300"),
    ] {
        let start = Instant::now();
        let e = block_on(RedisStore::open(&url)).unwrap_err();
        let took = start.elapsed();
        let text = chain(&e);
        assert!(took < Duration::from_secs(1), "{took:?}: {text}");
        let OpenError::Store(store) = &e else {
            panic!("not a store error: {text}")
        };
        assert_eq!(store.kind(), ErrorKind::Unavailable, "{text}");
        assert_eq!(
            store.message(),
            format!("cannot connect to 127.0.0.1:{port}"),
            "{text}"
        );
        assert!(text.contains("Connection refused"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        eprintln!("a refused connection: {}", ErrorChain(&e));
    }
    // Through the registry: the same cause, under the cache's words.
    let start = Instant::now();
    let e = fleche::open(&format!(
        "redis://me:hunter2@127.0.0.1:{port}/0?strict=true"
    ))
    .unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(e.store_kind(), Some(ErrorKind::Unavailable));
    let text = chain(&e);
    assert!(
        text.contains("Connection refused") && text.contains("me:***@127.0.0.1"),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "{text}");
}

#[test]
fn a_server_that_does_not_answer_is_unavailable_within_the_timeouts() {
    // Accepts connections (the kernel does) but never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let start = Instant::now();
    let e = block_on(RedisStore::open(&format!(
        "redis://:hunter2@127.0.0.1:{port}/0?connect_timeout_ms=300&response_timeout_ms=300"
    )))
    .unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    let text = chain(&e);
    assert!(
        matches!(&e, OpenError::Store(s) if s.kind() == ErrorKind::Unavailable),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "{text}");
    drop(listener);
}

#[test]
fn passwords_never_show() {
    if !support::available() {
        return;
    }
    let server = support::Server::start(&["--requirepass", "hunter2"]);
    let store =
        block_on(RedisStore::open(&server.url(":hunter2@"))).expect("the password is right");
    let shown = format!("{store:?} {}", store.url());
    assert!(
        !shown.contains("hunter2") && shown.contains(":***@"),
        "{shown}"
    );
    assert!(
        block_on(CallStore::get(&store, Digest::of(b"x")))
            .unwrap()
            .is_none()
    );
    // A password with the characters URLs escape.
    let odd = support::Server::start(&["--requirepass", "p@ss:w%rd"]);
    let url = odd.url(":p%40ss%3Aw%25rd@");
    let store = block_on(RedisStore::open(&url)).expect("the escaped password is right");
    let shown = format!("{store:?} {}", store.url());
    assert!(
        !shown.contains("p%40ss") && !shown.contains("w%25rd"),
        "{shown}"
    );
    let cache = fleche::open(&server.url(":hunter2@")).unwrap();
    let config = format!("{:?}", cache.config());
    assert!(!config.contains("hunter2"), "{config}");
    for wrong in [
        block_on(RedisStore::open(&server.url(":wrong-pw@"))).unwrap_err(),
        block_on(RedisStore::open(&server.url("me:wrong-pw@"))).unwrap_err(),
    ] {
        let text = chain(&wrong);
        assert!(!text.contains("wrong-pw"), "{text}");
        assert!(matches!(wrong, OpenError::Store(_)), "{text}");
    }
    let e = fleche::open(&server.url(":wrong-pw@")).unwrap_err();
    let text = chain(&e);
    assert!(!text.contains("wrong-pw"), "{text}");
    eprintln!("a wrong password: {}", ErrorChain(&e));
}

#[test]
fn damaged_records_read_as_corrupt_and_the_cache_recomputes() {
    let Some(url) = shared_url() else { return };
    let store = fresh(&url, "corrupt", RedisOptions::default());
    let _clean_up = CleanUp(store.clone());
    let mut conn = store.connection().clone();
    let key = Digest::of(b"damaged");

    // Bytes that are no record, in the record's field.
    block_on(async {
        redis::cmd("HSET")
            .arg(store.record_key(key))
            .arg("r")
            .arg(b"\xff\x00not cbor".as_slice())
            .query_async::<()>(&mut conn)
            .await
    })
    .unwrap();
    let e = block_on(CallStore::get(&store, key)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
    assert_eq!(e.key(), Some(key));
    let e = block_on(store.get_result(key)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");

    // Another record's bytes under this key.
    let other = record(Digest::of(b"other"), "f", 1, 1);
    block_on(async {
        redis::cmd("HSET")
            .arg(store.record_key(key))
            .arg("r")
            .arg(other.to_bytes().unwrap())
            .query_async::<()>(&mut conn)
            .await
    })
    .unwrap();
    let e = block_on(store.get_result(key)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");

    // A string where a hash belongs.
    block_on(async {
        redis::cmd("SET")
            .arg(store.record_key(key))
            .arg("garbage")
            .query_async::<()>(&mut conn)
            .await
    })
    .unwrap();
    let e = block_on(CallStore::get(&store, key)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
    let e = block_on(store.get_result(key)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");

    // The cache takes damage for a miss, recomputes and repairs it.
    static SPEC: FnSpec = FnSpec::new("errors::damaged").with_version(1);
    let args = [("x", fleche::arg_digest(&7u64).unwrap())];
    let k = SPEC.key(&args);
    block_on(async {
        redis::cmd("SET")
            .arg(store.record_key(k))
            .arg("garbage")
            .query_async::<()>(&mut conn)
            .await
    })
    .unwrap();
    let store = std::sync::Arc::new(store);
    let cache = Cache::builder(store.clone(), store.clone())
        .strict(true)
        .build();
    let mut runs = 0;
    let n: u64 = cache
        .get_or_compute_blocking(&SPEC, &args, || {
            runs += 1;
            49
        })
        .unwrap();
    assert_eq!((n, runs), (49, 1));
    let n: u64 = cache
        .get_or_compute_blocking(&SPEC, &args, || {
            runs += 1;
            0
        })
        .unwrap();
    assert_eq!((n, runs), (49, 1), "the damaged record was not repaired");
    block_on(store.destroy()).unwrap();
}

#[test]
fn expired_records_and_values_are_gone_and_queries_skip_them() {
    let Some(url) = shared_url() else { return };
    let lasting = fresh(&url, "ttl", RedisOptions::default());
    let _clean_up = CleanUp(lasting.clone());
    let brief = block_on(RedisStore::open_with(
        &url,
        RedisOptions::default()
            .namespace(lasting.namespace())
            .ttl(Some(Duration::from_millis(300))),
    ))
    .unwrap();
    assert!(brief.capabilities().ttl && !lasting.capabilities().ttl);

    let keep = record(Digest::of(b"keep"), "ttl::f", 1, 1_000);
    let go = record(Digest::of(b"go"), "ttl::f", 2, 2_000);
    let alone = record(Digest::of(b"alone"), "ttl::alone", 3, 3_000);
    block_on(CallStore::put(&lasting, keep.clone())).unwrap();
    block_on(CallStore::put(&brief, go.clone())).unwrap();
    block_on(CallStore::put(&brief, alone.clone())).unwrap();
    let value = fleche::Bytes::from_static(b"short-lived");
    block_on(ValueStore::put(&brief, Digest::of(&value), value.clone())).unwrap();
    assert_eq!(
        block_on(CallStore::get(&lasting, go.key)).unwrap(),
        Some(go.clone())
    );
    assert_eq!(
        block_on(ValueStore::get(&lasting, Digest::of(&value))).unwrap(),
        Some(value.clone())
    );
    let all = |q: Query| -> Vec<CallRecord> { block_on(lasting.query(&q).try_collect()).unwrap() };
    assert_eq!(all(Query::new()).len(), 3);

    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(block_on(CallStore::get(&lasting, go.key)).unwrap(), None);
    assert_eq!(
        block_on(ValueStore::get(&lasting, Digest::of(&value))).unwrap(),
        None
    );
    assert_eq!(
        block_on(CallStore::get(&lasting, keep.key)).unwrap(),
        Some(keep.clone())
    );
    assert_eq!(all(Query::new()), vec![keep.clone()]);
    assert_eq!(all(Query::new().function("ttl::f")), vec![keep.clone()]);
    assert!(all(Query::new().function("ttl::alone")).is_empty());

    // The expired entries were pruned from the indexes (or expired with
    // them): what is left is the lasting record's.
    let mut conn = lasting.connection().clone();
    let left: Vec<String> = block_on(async {
        redis::cmd("SCAN")
            .arg(0)
            .arg("MATCH")
            .arg(format!("{{{}}}:*", lasting.namespace()))
            .arg("COUNT")
            .arg(10_000)
            .query_async::<(u64, Vec<String>)>(&mut conn)
            .await
    })
    .unwrap()
    .1;
    let mut left = left;
    left.sort();
    let ns = lasting.namespace();
    let mut expected = vec![
        format!("{{{ns}}}:i"),
        format!("{{{ns}}}:f:ttl::f"),
        lasting.record_key(keep.key),
    ];
    expected.sort();
    assert_eq!(left, expected);
    let members: Vec<String> = block_on(async {
        redis::cmd("ZRANGE")
            .arg(format!("{{{ns}}}:i"))
            .arg(0)
            .arg(-1)
            .query_async(&mut conn)
            .await
    })
    .unwrap();
    assert_eq!(members, vec![keep.key.to_hex()]);
    block_on(lasting.destroy()).unwrap();
}
