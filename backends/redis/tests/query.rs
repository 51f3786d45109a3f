//! Queries over more records than one page, with runs of equal creation
//! times across page boundaries: the Redis store returns exactly what
//! `Query::apply` (the reference) returns over the same records, in the
//! same order.

use fleche::{CallRecord, CallStore, Digest, Order, Query, Timestamp, ValueRef};
use fleche_core::bridge::block_on;
use fleche_redis::{RedisOptions, RedisStore};
use futures::TryStreamExt;
use serde_json::json;

fn record(i: u64) -> CallRecord {
    let result = fleche::codec::encode(&i).unwrap();
    let mut metadata = fleche::Metadata::new();
    metadata.insert(
        "tags".into(),
        json!({ "parity": if i.is_multiple_of(2) { "even" } else { "odd" } }),
    );
    CallRecord::new(
        Digest::of(format!("query-{i}").as_bytes()),
        if i.is_multiple_of(3) { "q::a" } else { "q::b" },
        ValueRef {
            digest: Digest::of(&result),
            inline: Some(result.into()),
        },
    )
    .with_args(vec![fleche::ArgDigest {
        name: "i".into(),
        digest: fleche::arg_digest(&(i % 5)).unwrap(),
    }])
    .with_metadata(metadata)
    // Runs of 7 records created at the same microsecond.
    .with_created_at(Timestamp::from_micros(1_000_000 + (i / 7) as i64 * 1000))
}

#[test]
fn pages_and_ties_match_the_reference() {
    let Some(url) = fleche_conformance::server_url("FLECHE_TEST_REDIS_URL") else {
        return;
    };
    let namespace = format!("fleche-query-test-{}", std::process::id());
    let store = block_on(RedisStore::open_with(
        &url,
        RedisOptions::default().namespace(namespace),
    ))
    .unwrap();
    block_on(store.destroy()).unwrap();
    let _clean_up = CleanUp(store.clone());
    let records: Vec<CallRecord> = (0..650).map(record).collect();
    for r in &records {
        block_on(CallStore::put(&store, r.clone())).unwrap();
    }
    let t = |n: i64| Timestamp::from_micros(1_000_000 + n * 1000);
    let queries = [
        Query::new(),
        Query::new().order(Order::NewestFirst),
        Query::new().order(Order::OldestFirst),
        Query::new().order(Order::NewestFirst).limit(203),
        Query::new().order(Order::NewestFirst).limit(7),
        Query::new().order(Order::OldestFirst).limit(333),
        Query::new().function("q::b").order(Order::NewestFirst),
        Query::new()
            .function("q::a")
            .order(Order::OldestFirst)
            .limit(50),
        Query::new()
            .function("q::b")
            .created_after(t(10))
            .created_before(t(60))
            .order(Order::NewestFirst),
        Query::new()
            .metadata("tags.parity", "odd")
            .order(Order::NewestFirst)
            .limit(120),
        Query::new().arg("i", &3u64).order(Order::NewestFirst),
        Query::new()
            .arg("i", &3u64)
            .function("q::a")
            .created_after(t(20)),
        Query::new().function("q::none"),
    ];
    for q in &queries {
        let got: Vec<CallRecord> = block_on(store.query(q).try_collect()).unwrap();
        let expected = q.apply(records.clone());
        let keys = |rs: &[CallRecord]| rs.iter().map(|r| r.key).collect::<Vec<_>>();
        if q.order == Order::Any {
            let (mut a, mut b) = (keys(&got), keys(&expected));
            a.sort();
            b.sort();
            assert_eq!(a, b, "{q:?}");
        } else {
            assert_eq!(keys(&got), keys(&expected), "{q:?}");
        }
        assert!(
            got.iter().all(|r| records.contains(r)),
            "{q:?}: a record came back altered"
        );
    }
}

/// Deletes the test's namespace when the test ends, failed or not.
struct CleanUp(RedisStore);

impl Drop for CleanUp {
    fn drop(&mut self) {
        let _ = block_on(self.0.destroy());
    }
}
