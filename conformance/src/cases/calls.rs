//! The call store: exact records, missing keys, deletes, the hit path.

use fleche_core::{ArgDigest, Bytes, CallRecord, Digest, Query, Timestamp, ValueRef};
use serde_json::json;

use super::fixtures::{key, record, value};
use super::queries::query;
use super::together::{all_at_once, record_puts};
use crate::harness::{CaseError, CaseResult, Harness, ensure};

/// Promise 1 for call records: every field comes back exactly — inline and
/// external results, unicode names, large metadata, code digest (and none),
/// argument order, and a creation time to the microsecond (sub-second,
/// never whole milliseconds, also before 1970). The metadata holds what a
/// lossy store changes: explicit `null`s (in an object, in a list, and as
/// a whole namespace), a path six levels deep, values that look alike but
/// differ in type (`7`/`"7"`, `true`/`"true"`, `1`/`true`/`"1"`,
/// `0`/`false`/`""`), the extremes of the integers, whole floats too
/// large to print without an exponent (`1e18` is a float, not an integer),
/// fractions, empty lists and objects, and text that needs escaping.
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
    let mut exact = record(key("round-trip", 3), "conformance::exact", 3)
        .with_created_at(Timestamp::from_micros(1_700_000_000_000_999));
    exact
        .metadata
        .insert("nothing".into(), serde_json::Value::Null);
    exact.metadata.insert(
        "exact".into(),
        json!({
            "null": null,
            "deep": { "a": { "b": { "c": { "d": { "e": "x" } } } } },
            "seven": 7, "seven_text": "7",
            "yes": true, "yes_text": "true",
            "one": 1, "one_text": "1",
            "zero": 0, "no": false, "empty_text": "",
            "negative": -3, "largest": u64::MAX, "smallest": i64::MIN,
            "half": 0.5, "tenth": 0.1, "third": 1.0 / 3.0, "tiny": 1.5e-7, "float_one": 1.0,
            "huge_float": 1e18, "negative_huge_float": -2.5e17, "largest_float": f64::MAX,
            "list": [1, "1", true, null, 1.5, { "k": null }, []],
            "empty_list": [], "empty_map": {},
            "escapes": "quote \" backslash \\ newline \n tab \t ünïcødé 😀",
        }),
    );
    let early = record(key("round-trip", 4), "conformance::early", 4)
        .with_created_at(Timestamp::from_micros(-1_000_001));
    let late = record(key("round-trip", 5), "conformance::late", 5)
        .with_created_at(Timestamp::from_micros(1_700_000_000_000_001));
    for rec in [inline, external, exact, early, late] {
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
            "record {}: get_result gave {}, the record put has {}",
            rec.key,
            show_result(result.as_ref()),
            show_result(Some(&rec.result))
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

/// `value` printed, cut to 200 characters: records can be too big to print
/// whole.
pub(super) fn brief(value: impl std::fmt::Debug) -> String {
    cut(format!("{value:?}"))
}

/// `text`, cut to 200 characters.
fn cut(text: String) -> String {
    match text.char_indices().nth(200) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

/// Which fields of two records differ, each shown briefly: records can be
/// too big to print whole.
pub(super) fn differences(put: &CallRecord, got: &CallRecord) -> String {
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
    let mut paths = Vec::new();
    for name in put.metadata.keys().chain(
        got.metadata
            .keys()
            .filter(|k| !put.metadata.contains_key(*k)),
    ) {
        json_differences(
            &format!("metadata.{name}"),
            put.metadata.get(name),
            got.metadata.get(name),
            &mut paths,
        );
    }
    let more = paths.len().saturating_sub(5);
    for (path, put, got) in paths.into_iter().take(5) {
        field(&path, false, put, got);
    }
    if more > 0 {
        out.push(format!("and {more} more metadata paths"));
    }
    out.join("; ")
}

/// The paths below `path` where two JSON values differ, with what was put
/// and what came back there ("nothing" for a missing key): a dropped
/// `null`, a number turned to text, `true` turned to `1`.
fn json_differences(
    path: &str,
    put: Option<&serde_json::Value>,
    got: Option<&serde_json::Value>,
    out: &mut Vec<(String, String, String)>,
) {
    use serde_json::Value;
    if put == got {
        return;
    }
    if let (Some(Value::Object(p)), Some(Value::Object(g))) = (put, got) {
        for key in p.keys().chain(g.keys().filter(|k| !p.contains_key(*k))) {
            json_differences(&format!("{path}.{key}"), p.get(key), g.get(key), out);
        }
        return;
    }
    let show = |v: Option<&Value>| v.map_or("nothing".to_owned(), |v| cut(v.to_string()));
    out.push((path.to_owned(), show(put), show(got)));
}

/// A result briefly: its digest's first digits and its inline bytes'
/// length.
pub(super) fn show_result(result: Option<&ValueRef>) -> String {
    match result {
        None => "None".to_owned(),
        Some(r) => format!(
            "digest {}…, {}",
            &r.digest.to_hex()[..12],
            match &r.inline {
                None => "not inline".to_owned(),
                Some(b) => format!("{} bytes inline", b.len()),
            }
        ),
    }
}

/// Whether `got` is a correct answer of `get_result` for a record whose
/// result is `expected`: the same digest, and the same inline bytes — except
/// that a store may fill in the bytes of an external result from the value
/// store (the hit in one round trip), which must then be exactly the
/// value's bytes, `stored`.
fn result_agrees(got: &ValueRef, expected: &ValueRef, stored: Option<&Bytes>) -> bool {
    got.digest == expected.digest
        && match (&expected.inline, &got.inline) {
            (Some(e), Some(g)) => e == g,
            (None, None) => true,
            (None, Some(g)) => stored == Some(g),
            (Some(_), None) => false,
        }
}

/// Promises 2 and 4: a record put, deleted and put again with other
/// content (function, arguments, metadata, result, time) is there, and is
/// the second one — for `get`, `get_result` and `query`, which finds it
/// exactly once, by its new function and metadata, and not by the old
/// ones.
pub(crate) async fn calls_put_after_delete(h: &Harness) -> CaseResult {
    let (_, s) = h.fresh().await?;
    let k = key("put-after-delete", 0);
    let first = record(k, "conformance::before_delete", 10);
    let second = record(k, "conformance::after_delete", 11);
    let bystander = record(key("put-after-delete", 1), "conformance::after_delete", 12);
    s.calls.put(bystander.clone()).await?;
    s.calls.put(first.clone()).await?;
    ensure!(
        s.calls.get(k).await?.as_ref() == Some(&first),
        "a record put does not read back before the delete"
    );
    ensure!(
        s.calls.delete(k).await?,
        "delete of a record just put said it was not there"
    );
    ensure!(
        s.calls.get(k).await?.is_none() && s.calls.get_result(k).await?.is_none(),
        "the record is still there after delete"
    );
    s.calls.put(second.clone()).await?;
    match s.calls.get(k).await? {
        None => {
            return Err(CaseError::fail(
                "a record put, deleted and put again: get returned None",
            ));
        }
        Some(got) => ensure!(
            got == second,
            "a record put, deleted and put again with other content reads back different from the second put: {}",
            differences(&second, &got)
        ),
    }
    let result = s.calls.get_result(k).await?;
    ensure!(
        result.as_ref() == Some(&second.result),
        "put, deleted and put again: get_result gave {}, the second record's result is {}",
        show_result(result.as_ref()),
        show_result(Some(&second.result))
    );
    let checks: Vec<(&str, Query, usize)> = vec![
        ("every record", Query::new(), 2),
        (
            "the new function",
            Query::new().function("conformance::after_delete"),
            2,
        ),
        (
            "the new metadata",
            Query::new().metadata("tags.writer", "11"),
            1,
        ),
        ("the new argument", Query::new().arg("n", &11u64), 1),
        (
            "the old function",
            Query::new().function("conformance::before_delete"),
            0,
        ),
        (
            "the old metadata",
            Query::new().metadata("tags.writer", "10"),
            0,
        ),
        ("the old argument", Query::new().arg("n", &10u64), 0),
    ];
    for (what, q, expected) in checks {
        let got = query(&s, &q).await?;
        let of_k: Vec<&CallRecord> = got.iter().filter(|r| r.key == k).collect();
        let wanted = usize::from(expected > 0 && q.matches(&second));
        ensure!(
            got.len() == expected && of_k.len() == wanted,
            "put, deleted and put again: the query by {what} returned {} records ({} of them the key's), expected {expected} ({wanted})",
            got.len(),
            of_k.len()
        );
        if let Some(found) = of_k.first() {
            ensure!(
                **found == second,
                "put, deleted and put again: the query by {what} returned the key's record different from the second put: {}",
                differences(&second, found)
            );
        }
    }
    Ok(())
}

/// Promise 2 on the hit path: `get_result` follows every overwrite — between
/// inline results and external ones (whose value is stored, or not) — and
/// every delete, read before and after `get`, through the handle that wrote
/// and through a second handle on the same store, so that a store which
/// caches results apart from records (per handle or not) fails.
pub(crate) async fn calls_get_result_follows_overwrite_and_delete(h: &Harness) -> CaseResult {
    let (at, s) = h.fresh().await?;
    let other = h.open(&at).await?;
    let k = key("get-result", 0);
    let (stored_digest, stored_bytes) = value(900, 20_000);
    s.values.put(stored_digest, stored_bytes.clone()).await?;
    let (absent_digest, _) = value(901, 30_000);
    let inline = |n: u64| record(k, "conformance::get_result", n);
    let external = |n: u64, digest: Digest| {
        let mut r = record(k, "conformance::get_result", n);
        r.result = ValueRef {
            digest,
            inline: None,
        };
        r
    };
    // `None`: delete instead of put.
    let steps: Vec<(&str, Option<CallRecord>)> = vec![
        ("an inline result", Some(inline(1))),
        (
            "an external result (value stored)",
            Some(external(2, stored_digest)),
        ),
        ("another inline result", Some(inline(3))),
        (
            "an external result (value absent)",
            Some(external(4, absent_digest)),
        ),
        (
            "an external result (value stored)",
            Some(external(5, stored_digest)),
        ),
        ("a delete", None),
        ("an inline result after the delete", Some(inline(6))),
        ("the same inline result again", Some(inline(6))),
        ("a delete", None),
    ];
    for (i, (what, step)) in steps.into_iter().enumerate() {
        match &step {
            Some(r) => s.calls.put(r.clone()).await?,
            None => {
                s.calls.delete(k).await?;
            }
        }
        let expected = step.as_ref().map(|r| &r.result);
        let stored = (expected.map(|r| r.digest) == Some(stored_digest)).then_some(&stored_bytes);
        // Step by step, read `get_result` first on one handle and `get`
        // first on the other, alternating.
        for (handle, name) in [(&s, "the writing handle"), (&other, "a second handle")] {
            let get_first = (i % 2 == 0) == std::ptr::eq(handle, &s);
            let mut record = None;
            if get_first {
                record = Some(handle.calls.get(k).await?);
            }
            let result = handle.calls.get_result(k).await?;
            if !get_first {
                record = Some(handle.calls.get(k).await?);
            }
            let record = record.flatten();
            let agrees = match (&result, expected) {
                (None, None) => true,
                (Some(g), Some(e)) => result_agrees(g, e, stored),
                _ => false,
            };
            ensure!(
                agrees,
                "step {} ({what}), through {name}: get_result gave {}, expected {}",
                i + 1,
                show_result(result.as_ref()),
                show_result(expected)
            );
            ensure!(
                record.as_ref() == step.as_ref(),
                "step {} ({what}), through {name}: get gave {}",
                i + 1,
                match (&record, &step) {
                    (None, _) => "None, expected the record put".to_owned(),
                    (Some(r), None) => format!("a record (of {:?}), expected None", r.function),
                    (Some(r), Some(e)) => format!("another record than put: {}", differences(e, r)),
                }
            );
        }
    }
    Ok(())
}

/// Promise 3 for call records: 32 tasks put the same record at the same
/// moment (the stampede of one call). Every put is `Ok`, readers meanwhile
/// see nothing or the whole record, and afterwards the record reads back
/// whole (`get`, `get_result`) and a query finds it exactly once.
pub(crate) async fn calls_concurrent_identical_puts(h: &Harness) -> CaseResult {
    const WRITERS: usize = 32;
    const READERS: usize = 4;
    let (_, s) = h.fresh().await?;
    let rec = record(key("identical", 0), "conformance::identical", 13);
    let writes = record_puts(&s, std::iter::repeat_n(rec.clone(), WRITERS));
    let (reader, want) = (s.clone(), rec.clone());
    let read = move || {
        let (s, rec) = (reader.clone(), want.clone());
        async move {
            match s.calls.get(rec.key).await {
                Ok(None) => Ok(()),
                Ok(Some(got)) if got == rec => Ok(()),
                Ok(Some(got)) => Err(format!(
                    "a reader saw a record other than the one written: {}",
                    differences(&rec, &got)
                )),
                Err(e) => Err(format!("a get failed meanwhile: {e}")),
            }
        }
    };
    all_at_once(writes, READERS, 5, read).await.map_err(|e| {
        CaseError::fail(format!("{WRITERS} tasks put the same record at once: {e}"))
    })?;
    match s.calls.get(rec.key).await? {
        None => {
            return Err(CaseError::fail(format!(
                "{WRITERS} tasks put the same record at once; get returned None"
            )));
        }
        Some(got) => ensure!(
            got == rec,
            "{WRITERS} tasks put the same record at once; it reads back different: {}",
            differences(&rec, &got)
        ),
    }
    let result = s.calls.get_result(rec.key).await?;
    ensure!(
        result.as_ref() == Some(&rec.result),
        "{WRITERS} tasks put the same record at once; get_result gave {}",
        show_result(result.as_ref())
    );
    for (what, q) in [
        ("every record", Query::new()),
        ("function", Query::new().function("conformance::identical")),
        ("argument", Query::new().arg("n", &13u64)),
        ("metadata", Query::new().metadata("tags.writer", "13")),
    ] {
        let got = query(&s, &q).await?;
        ensure!(
            got.len() == 1 && got[0] == rec,
            "{WRITERS} tasks put the same record at once; the query by {what} returned {} records{}",
            got.len(),
            if got.len() == 1 {
                ", not the one put"
            } else {
                ", expected it once"
            }
        );
    }
    Ok(())
}
