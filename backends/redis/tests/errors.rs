//! Clear errors, nothing lost: malformed URLs, a server that is not there
//! or does not answer, passwords that never show, damaged records that
//! read as corrupt (and as a miss to the cache), and expiry.

mod support;

use std::time::{Duration, Instant};

use fleche::{
    Cache, CallRecord, CallStore, Digest, ErrorKind, FnSpec, Query, ValueRef, ValueStore,
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
    let store = block_on(RedisStore::connect_with(url, options.namespace(namespace)))
        .expect("the test server is reachable");
    block_on(store.delete_namespace()).unwrap();
    store
}

/// Deletes a test's namespace when the test ends, failed or not.
struct CleanUp(RedisStore);

impl Drop for CleanUp {
    fn drop(&mut self) {
        let _ = block_on(self.0.delete_namespace());
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

#[test]
fn malformed_urls_are_clear_errors() {
    for (url, says) in [
        ("redis://h?colour=blue", "unknown option `colour`"),
        ("redis://h?ttl_ms=soon", "milliseconds"),
        ("redis://h?namespace=a%7Bb%7D", "namespace"),
        ("http://h:6379", "expected redis://"),
        ("h:6379", "expected redis://"),
        ("redis://u:hunter2@h:notaport/0", "bad URL"),
        ("redis://u:hunter2@h:6379/notadb", "bad URL"),
    ] {
        let e = block_on(RedisStore::connect(url)).unwrap_err();
        let text = e.to_string();
        assert!(text.contains(says), "{url}: {text}");
        assert!(!text.contains("hunter2"), "{url}: {text}");
        assert_eq!(e.kind(), ErrorKind::Backend, "{url}: {text}");
    }
    #[cfg(not(feature = "tls"))]
    {
        let e = block_on(RedisStore::connect("rediss://:hunter2@h:6380/0")).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("`tls` feature") && !text.contains("hunter2"),
            "{text}"
        );
    }
}

#[test]
fn an_unreachable_server_is_unavailable_quickly_and_shows_no_password() {
    let port = support::free_port();
    let start = Instant::now();
    let e = block_on(RedisStore::connect(&format!(
        "redis://me:hunter2@127.0.0.1:{port}/0?connect_timeout_ms=300"
    )))
    .unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
    let (text, debug) = (e.to_string(), format!("{e:?}"));
    assert!(text.contains("me:***@127.0.0.1"), "{text}");
    eprintln!("an unreachable server: {text}");
    assert!(
        !text.contains("hunter2") && !debug.contains("hunter2"),
        "{text} {debug}"
    );
}

#[test]
fn a_server_that_does_not_answer_is_unavailable_within_the_timeouts() {
    // Accepts connections (the kernel does) but never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let start = Instant::now();
    let e = block_on(RedisStore::connect(&format!(
        "redis://:hunter2@127.0.0.1:{port}/0?connect_timeout_ms=300&response_timeout_ms=300"
    )))
    .unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
    assert!(!format!("{e} {e:?}").contains("hunter2"));
    drop(listener);
}

#[test]
fn passwords_never_show() {
    if !support::available() {
        return;
    }
    let server = support::Server::start(&["--requirepass", "hunter2"]);
    let store =
        block_on(RedisStore::connect(&server.url(":hunter2@"))).expect("the password is right");
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
    let cache = fleche::open(&server.url(":hunter2@")).unwrap();
    let config = format!("{:?}", cache.config());
    assert!(!config.contains("hunter2"), "{config}");
    let e = block_on(RedisStore::connect(&server.url(":wrong-pw@"))).unwrap_err();
    let text = format!("{e} {e:?}");
    assert!(!text.contains("wrong-pw"), "{text}");
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
    block_on(store.delete_namespace()).unwrap();
}

#[test]
fn expired_records_and_values_are_gone_and_queries_skip_them() {
    let Some(url) = shared_url() else { return };
    let lasting = fresh(&url, "ttl", RedisOptions::default());
    let _clean_up = CleanUp(lasting.clone());
    let brief = block_on(RedisStore::connect_with(
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
    block_on(lasting.delete_namespace()).unwrap();
}
