//! The call store: exact records, missing keys, deletes, queries.

use futures::TryStreamExt;

use fleche_core::{ArgDigest, CallRecord, Digest, Order, Query, Timestamp, ValueRef, codec};
use serde_json::json;

use super::fixtures::{key, record, value};
use crate::harness::{CaseError, CaseResult, Harness, Stores, ensure};

async fn query(s: &Stores, q: &Query) -> Result<Vec<CallRecord>, crate::CaseError> {
    Ok(s.calls.query(q).try_collect().await?)
}

/// Every field comes back exactly: inline and external results, unicode
/// names, large metadata, code digest, argument order, creation time.
pub(crate) async fn calls_round_trip_every_field(h: &Harness) -> CaseResult {
    let (_, s) = h.fresh().await?;
    let inline = record(
        key("round-trip", 1),
        "conformance::rundtrip_ünïcødé_计算",
        1,
    );
    let (digest, _) = value(7, 10_000);
    let mut big = serde_json::Map::new();
    for i in 0..500 {
        big.insert(
            format!("key-{i}-ключ"),
            json!({ "i": i, "text": "x".repeat(100), "f": i as f64 / 3.0 }),
        );
    }
    let mut external = record(key("round-trip", 2), "conformance::external", 2)
        .with_args(vec![
            ArgDigest {
                name: "zeta".into(),
                digest: Digest::of(b"z"),
            },
            ArgDigest {
                name: "ålpha".into(),
                digest: Digest::of(b"a"),
            },
        ])
        .with_code(None);
    external.result = ValueRef {
        digest,
        inline: None,
    };
    external
        .metadata
        .insert("custom".into(), serde_json::Value::Object(big));
    external.metadata.insert("empty".into(), json!({}));
    for rec in [inline, external] {
        s.calls.put(rec.clone()).await?;
        let got = s.calls.get(rec.key).await?;
        let Some(got) = got else {
            return Err(CaseError::fail(format!(
                "record {} was put, but get returned None",
                rec.key
            )));
        };
        ensure!(
            got == rec,
            "record {} came back different: {}",
            rec.key,
            differences(&rec, &got)
        );
        let result = s.calls.get_result(rec.key).await?;
        ensure!(
            result.as_ref() == Some(&rec.result),
            "get_result disagrees with the record: {result:?}"
        );
    }
    Ok(())
}

/// A missing record is `Ok(None)`, never an error.
pub(crate) async fn calls_missing_key_is_none(h: &Harness) -> CaseResult {
    let (_, s) = h.fresh().await?;
    let k = key("missing", 0);
    match s.calls.get(k).await {
        Ok(None) => {}
        Ok(Some(_)) => {
            return Err(crate::CaseError::fail(
                "get of a missing key returned a record",
            ));
        }
        Err(e) => {
            return Err(crate::CaseError::fail(format!(
                "get of a missing key is an error: {e}"
            )));
        }
    }
    match s.calls.get_result(k).await {
        Ok(None) => {}
        other => {
            return Err(crate::CaseError::fail(format!(
                "get_result of a missing key: {other:?}"
            )));
        }
    }
    Ok(())
}

/// Deleting removes the record once; deleting again is harmless.
pub(crate) async fn calls_delete_is_idempotent(h: &Harness) -> CaseResult {
    let (_, s) = h.fresh().await?;
    let rec = record(key("delete", 1), "conformance::delete", 1);
    let other = record(key("delete", 2), "conformance::delete", 2);
    s.calls.put(rec.clone()).await?;
    s.calls.put(other.clone()).await?;
    ensure!(
        s.calls.delete(rec.key).await?,
        "delete of a stored record said it was not there"
    );
    ensure!(
        !s.calls.delete(rec.key).await?,
        "a second delete said the record was still there"
    );
    ensure!(
        s.calls.get(rec.key).await?.is_none(),
        "the record is still there after delete"
    );
    ensure!(
        s.calls.get(other.key).await? == Some(other),
        "delete touched another record"
    );
    let left = query(&s, &Query::new().function("conformance::delete")).await?;
    ensure!(
        left.len() == 1,
        "query still sees {} records after one of two was deleted",
        left.len()
    );
    Ok(())
}

/// Writes a few records of two functions; returns them.
async fn populate(s: &Stores, case: &str) -> Result<Vec<CallRecord>, crate::CaseError> {
    let mut written = Vec::new();
    for n in 0..12 {
        let function = if n % 3 == 0 {
            "conformance::other"
        } else {
            "conformance::main"
        };
        let rec = record(key(case, n), function, n);
        s.calls.put(rec.clone()).await?;
        written.push(rec);
    }
    Ok(written)
}

/// Which fields of two records differ, each shown briefly: records can be
/// too big to print whole.
fn differences(put: &CallRecord, got: &CallRecord) -> String {
    fn brief(value: impl std::fmt::Debug) -> String {
        let text = format!("{value:?}");
        match text.char_indices().nth(200) {
            Some((cut, _)) => format!("{}…", &text[..cut]),
            None => text,
        }
    }
    let mut out = Vec::new();
    let mut field = |name: &str, same: bool, put: String, got: String| {
        if !same {
            out.push(format!("{name}: put {put}, got {got}"));
        }
    };
    field(
        "format",
        put.format == got.format,
        brief(put.format),
        brief(got.format),
    );
    field(
        "function",
        put.function == got.function,
        brief(&put.function),
        brief(&got.function),
    );
    field(
        "version",
        put.version == got.version,
        brief(put.version),
        brief(got.version),
    );
    field(
        "code",
        put.code == got.code,
        brief(put.code),
        brief(got.code),
    );
    field(
        "args",
        put.args == got.args,
        brief(&put.args),
        brief(&got.args),
    );
    field(
        "result",
        put.result == got.result,
        brief(&put.result),
        brief(&got.result),
    );
    field(
        "created_at",
        put.created_at == got.created_at,
        brief(put.created_at),
        brief(got.created_at),
    );
    for (name, value) in &put.metadata {
        let other = got.metadata.get(name);
        field(
            &format!("metadata.{name}"),
            other == Some(value),
            brief(value),
            brief(other),
        );
    }
    for name in got
        .metadata
        .keys()
        .filter(|k| !put.metadata.contains_key(*k))
    {
        field(
            &format!("metadata.{name}"),
            false,
            "nothing".into(),
            brief(&got.metadata[name]),
        );
    }
    out.join("; ")
}

fn keys(records: &[CallRecord]) -> Vec<Digest> {
    let mut k: Vec<Digest> = records.iter().map(|r| r.key).collect();
    k.sort();
    k
}

/// A query by function name returns exactly that function's records, whole.
pub(crate) async fn calls_query_by_function(h: &Harness) -> CaseResult {
    let (_, s) = h.fresh().await?;
    let written = populate(&s, "by-function").await?;
    let got = query(&s, &Query::new().function("conformance::main")).await?;
    let expected: Vec<CallRecord> = written
        .iter()
        .filter(|r| r.function == "conformance::main")
        .cloned()
        .collect();
    ensure!(
        keys(&got) == keys(&expected),
        "query by function returned {} records, expected {}",
        got.len(),
        expected.len()
    );
    ensure!(
        got.iter().all(|r| expected.contains(r)),
        "query returned a record that differs from what was written"
    );
    ensure!(
        query(&s, &Query::new().function("conformance::none"))
            .await?
            .is_empty(),
        "query of an unknown function found records"
    );
    let all = query(&s, &Query::new()).await?;
    ensure!(
        all.len() == written.len(),
        "an empty query returned {} of {} records",
        all.len(),
        written.len()
    );
    Ok(())
}

/// A query by argument value matches the argument's digest under its name.
pub(crate) async fn calls_query_by_argument(h: &Harness) -> CaseResult {
    let (_, s) = h.fresh().await?;
    populate(&s, "by-argument").await?;
    let got = query(&s, &Query::new().arg("n", &4u64)).await?;
    ensure!(
        got.len() == 1 && got[0].key == key("by-argument", 4),
        "query by n=4 returned {} records",
        got.len()
    );
    let got = query(
        &s,
        &Query::new().arg("label", &"#5".to_string()).arg("n", &5u64),
    )
    .await?;
    ensure!(
        got.len() == 1,
        "query by two arguments returned {} records",
        got.len()
    );
    let got = query(&s, &Query::new().arg("label", &4u64)).await?;
    ensure!(
        got.is_empty(),
        "a value under the wrong argument name matched"
    );
    let digest = codec::digest(&4u64).map_err(|e| crate::CaseError::fail(e.to_string()))?;
    let got = query(
        &s,
        &Query::new()
            .function("conformance::main")
            .arg_digest("n", digest),
    )
    .await?;
    ensure!(
        got.len() == 1,
        "query by function and argument digest returned {} records",
        got.len()
    );
    Ok(())
}

/// A query by metadata value matches a path into the metadata.
pub(crate) async fn calls_query_by_metadata(h: &Harness) -> CaseResult {
    let (_, s) = h.fresh().await?;
    populate(&s, "by-metadata").await?;
    let even = query(&s, &Query::new().metadata("tags.parity", "even")).await?;
    ensure!(
        even.len() == 6,
        "tags.parity = even matched {} records, expected 6",
        even.len()
    );
    let one = query(
        &s,
        &Query::new()
            .metadata("tags.writer", "7")
            .function("conformance::main"),
    )
    .await?;
    ensure!(
        one.len() == 1 && one[0].key == key("by-metadata", 7),
        "tags.writer = 7 matched {} records",
        one.len()
    );
    let num = query(&s, &Query::new().metadata("runtime.wall_s", 0.5)).await?;
    ensure!(
        num.len() == 1,
        "a numeric metadata value matched {} records",
        num.len()
    );
    let none = query(&s, &Query::new().metadata("tags.parity", "prime")).await?;
    ensure!(
        none.is_empty(),
        "a metadata value nobody has matched {} records",
        none.len()
    );
    Ok(())
}

/// Time ranges, newest/oldest order and limits.
pub(crate) async fn calls_query_by_time_range_order_and_limit(h: &Harness) -> CaseResult {
    let (_, s) = h.fresh().await?;
    let written = populate(&s, "by-time").await?;
    let t = |n: i64| Timestamp::from_micros(1_700_000_000_000_000 + n * 1_000_000);
    let window = query(&s, &Query::new().created_after(t(3)).created_before(t(7))).await?;
    let mut got: Vec<i64> = window
        .iter()
        .map(|r| (r.created_at.as_micros() - t(0).as_micros()) / 1_000_000)
        .collect();
    got.sort();
    ensure!(
        got == vec![3, 4, 5, 6],
        "created in [3 s, 7 s) returned {got:?}"
    );
    let newest = query(&s, &Query::new().order(Order::NewestFirst).limit(3)).await?;
    let newest: Vec<Timestamp> = newest.iter().map(|r| r.created_at).collect();
    ensure!(
        newest == vec![t(11), t(10), t(9)],
        "newest three: {newest:?}"
    );
    let oldest = query(
        &s,
        &Query::new()
            .function("conformance::main")
            .order(Order::OldestFirst)
            .limit(2),
    )
    .await?;
    let oldest: Vec<Timestamp> = oldest.iter().map(|r| r.created_at).collect();
    ensure!(
        oldest == vec![t(1), t(2)],
        "oldest two of conformance::main: {oldest:?}"
    );
    ensure!(written.len() == 12, "fixture");
    Ok(())
}
