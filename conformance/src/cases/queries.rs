//! Queries: every condition holds, bounds, order, limits, and what a
//! query sees after writes.
//!
//! The reference is [`Query::matches`] and [`Query::apply`]: a function name
//! matches only itself (no patterns, no case folding); an argument matches
//! by name and digest together; metadata matches by JSON value equality at
//! a path (so `7` is not `"7"`, `1` is not `true`, and `null` matches only
//! an explicit `null`, never a missing path); `created_after` is inclusive
//! and `created_before` exclusive, to the microsecond; every condition
//! must hold; the limit applies after the filter.
//!
//! Most cases here write records, then run a table of [`Check`]s: a query
//! and the labels of the records it must return. The tables are data, so
//! the unit tests at the bottom can hold each one to the reference
//! implementation without a store.

use std::collections::BTreeSet;

use futures::TryStreamExt;
use serde_json::{Value, json};

use fleche_core::{ArgDigest, CallRecord, Digest, Order, Query, Timestamp, codec};

use super::calls::differences;
use super::fixtures::{BASE_MICROS, created_at, key, record};
use crate::harness::{CaseError, CaseResult, Harness, Stores, ensure};

/// Every record `q` gives, in its order.
pub(super) async fn query(s: &Stores, q: &Query) -> Result<Vec<CallRecord>, crate::CaseError> {
    Ok(s.calls.query(q).try_collect().await?)
}

/// A record to write, with the label that messages call it by.
#[derive(Clone, Debug)]
struct Written {
    label: String,
    record: CallRecord,
}

/// One query and the records it must return.
///
/// - With an order: exactly `expected`, in that order.
/// - With a limit and no order: `min(limit, expected.len())` distinct
///   records, each one of `expected` (the records that match).
/// - Otherwise: exactly the records of `expected`, in any order.
#[derive(Clone, Debug)]
struct Check {
    what: String,
    query: Query,
    expected: Vec<String>,
}

fn check(what: impl Into<String>, query: Query, expected: &[&str]) -> Check {
    Check {
        what: what.into(),
        query,
        expected: expected.iter().map(|l| (*l).to_owned()).collect(),
    }
}

/// Labels `n{i}` for each `i`.
fn ns(indices: &[u64]) -> Vec<String> {
    indices.iter().map(|i| format!("n{i}")).collect()
}

fn check_ns(what: impl Into<String>, query: Query, expected: &[u64]) -> Check {
    Check {
        what: what.into(),
        query,
        expected: ns(expected),
    }
}

/// The twelve records of [`record`] (`n0` … `n11`) for `case`: function
/// `conformance::other` when `n % 3 == 0`, else `conformance::main`.
fn twelve(case: &str) -> Vec<Written> {
    (0..12)
        .map(|n| {
            let function = if n % 3 == 0 {
                "conformance::other"
            } else {
                "conformance::main"
            };
            Written {
                label: format!("n{n}"),
                record: record(key(case, n), function, n),
            }
        })
        .collect()
}

async fn put_all(s: &Stores, written: &[Written]) -> CaseResult {
    for w in written {
        s.calls.put(w.record.clone()).await?;
    }
    Ok(())
}

/// Runs every check against the store, which holds exactly `written`.
async fn run_checks(
    s: &Stores,
    situation: &str,
    written: &[Written],
    checks: &[Check],
) -> CaseResult {
    for c in checks {
        let got = s
            .calls
            .query(&c.query)
            .try_collect::<Vec<CallRecord>>()
            .await
            .map_err(|e| {
                CaseError::fail(format!("{situation}: the query {} failed: {e}", c.what))
            })?;
        check_answer(situation, written, c, &got)?;
    }
    Ok(())
}

/// Whether `got` is a right answer to `c` over a store holding `written`.
fn check_answer(situation: &str, written: &[Written], c: &Check, got: &[CallRecord]) -> CaseResult {
    let what = format!("{situation}: the query {}", c.what);
    let mut labels = Vec::with_capacity(got.len());
    for r in got {
        match written.iter().find(|w| w.record.key == r.key) {
            Some(w) => {
                ensure!(
                    w.record == *r,
                    "{what} returned {} altered: {}",
                    w.label,
                    differences(&w.record, r)
                );
                labels.push(w.label.clone());
            }
            None => {
                return Err(CaseError::fail(format!(
                    "{what} returned a record nobody wrote (key {}, function {:?}); expected {}",
                    r.key,
                    r.function,
                    list(&c.expected)
                )));
            }
        }
    }
    let distinct: BTreeSet<&String> = labels.iter().collect();
    ensure!(
        distinct.len() == labels.len(),
        "{what} returned a record more than once: {}; expected {}",
        list(&labels),
        list(&c.expected)
    );
    if c.query.order != Order::Any {
        ensure!(
            labels == c.expected,
            "{what} returned {}, expected {} in that order",
            list(&labels),
            list(&c.expected)
        );
        return Ok(());
    }
    let expected: BTreeSet<&String> = c.expected.iter().collect();
    let extra: Vec<String> = distinct
        .difference(&expected)
        .map(|l| (*l).clone())
        .collect();
    match c.query.limit {
        Some(n) => {
            let wanted = n.min(expected.len());
            ensure!(
                extra.is_empty() && labels.len() == wanted,
                "{what} returned {} ({} records), expected {wanted} of {}{}",
                list(&labels),
                labels.len(),
                list(&c.expected),
                not_matching(&extra)
            );
        }
        None => {
            let missing: Vec<String> = expected
                .difference(&distinct)
                .map(|l| (*l).clone())
                .collect();
            ensure!(
                extra.is_empty() && missing.is_empty(),
                "{what} returned {}, expected {}{}{}",
                list(&labels),
                list(&c.expected),
                not_matching(&extra),
                if missing.is_empty() {
                    String::new()
                } else {
                    format!(" (missing: {})", list(&missing))
                }
            );
        }
    }
    Ok(())
}

fn list(labels: &[String]) -> String {
    if labels.is_empty() {
        "nothing".to_owned()
    } else {
        format!("[{}]", labels.join(", "))
    }
}

fn not_matching(extra: &[String]) -> String {
    if extra.is_empty() {
        String::new()
    } else {
        format!(" (not matching: {})", list(extra))
    }
}

/// Records whose function names are prefixes of one another, differ only
/// in case or a trailing space, or hold SQL `LIKE` wildcards, beside
/// [`twelve`].
fn by_function() -> (Vec<Written>, Vec<Check>) {
    let names = [
        ("f", "conformance::f"),
        ("f-again", "conformance::f"),
        ("f2", "conformance::f2"),
        ("f_x", "conformance::f_x"),
        ("fax", "conformance::fax"),
        ("a_b", "conformance::a_b"),
        ("axb", "conformance::axb"),
        ("percent", "conformance::%"),
        ("100percent", "conformance::100%"),
        ("F", "conformance::F"),
        ("f-space", "conformance::f "),
    ];
    let mut written = twelve("by-function");
    for (i, (label, function)) in names.iter().enumerate() {
        written.push(Written {
            label: (*label).to_owned(),
            record: record(key("by-function-names", i as u64), function, 20 + i as u64),
        });
    }
    let mut checks = vec![
        check_ns(
            "by function conformance::main",
            Query::new().function("conformance::main"),
            &[1, 2, 4, 5, 7, 8, 10, 11],
        ),
        check_ns(
            "by function conformance::other",
            Query::new().function("conformance::other"),
            &[0, 3, 6, 9],
        ),
    ];
    for (function, expected) in [
        ("conformance::f", &["f", "f-again"][..]),
        ("conformance::f2", &["f2"]),
        ("conformance::f_x", &["f_x"]),
        ("conformance::fax", &["fax"]),
        ("conformance::a_b", &["a_b"]),
        ("conformance::axb", &["axb"]),
        ("conformance::%", &["percent"]),
        ("conformance::100%", &["100percent"]),
        ("conformance::F", &["F"]),
        ("conformance::f ", &["f-space"]),
    ] {
        checks.push(check(
            format!("by function {function:?}"),
            Query::new().function(function),
            expected,
        ));
    }
    for nobody in [
        "conformance::none",
        "conformance::",
        "conformance",
        "conformance::f%",
        "conformance::f_",
        "conformance::%%",
        "conformance::*",
        "conformance::[fF]",
        "%",
        "_",
        "",
    ] {
        checks.push(check(
            format!("by function {nobody:?}, which no record has"),
            Query::new().function(nobody),
            &[],
        ));
    }
    let everyone: Vec<&str> = written.iter().map(|w| w.label.as_str()).collect();
    checks.push(check("with no condition", Query::new(), &everyone));
    (written, checks)
}

/// Promise 4 for queries by function: a query by function name returns
/// exactly that function's records, whole — not those whose name it is a
/// prefix of (`conformance::f` vs `conformance::f2`), differs from in case
/// or by a trailing space, or matches as a SQL `LIKE` pattern (`_`, `%`).
pub(crate) async fn calls_query_by_function(h: &Harness) -> CaseResult {
    let (_, s) = h.fresh().await?;
    let (written, checks) = by_function();
    put_all(&s, &written).await?;
    run_checks(&s, "by function", &written, &checks).await
}

/// The digest of an argument value.
fn digest_of<T: serde::Serialize>(value: &T) -> Digest {
    codec::digest(value).expect("encodes")
}

/// Records whose argument names are prefixes of one another or differ in
/// case, with the same digests under different names, beside [`twelve`].
fn by_argument() -> (Vec<Written>, Vec<Check>) {
    let d = |n: u64| digest_of(&n);
    let arg = |name: &str, digest: Digest| ArgDigest {
        name: name.to_owned(),
        digest,
    };
    let mut written = twelve("by-argument");
    let more = [
        ("n=4000", vec![arg("n", d(4000)), arg("label", d(1))]),
        ("nn=4000", vec![arg("nn", d(4000))]),
        ("n=5000,m=4000", vec![arg("n", d(5000)), arg("m", d(4000))]),
        ("N=4000", vec![arg("N", d(4000))]),
        ("no arguments", vec![]),
    ];
    for (i, (label, args)) in more.into_iter().enumerate() {
        written.push(Written {
            label: label.to_owned(),
            record: record(
                key("by-argument-names", i as u64),
                "conformance::args",
                40 + i as u64,
            )
            .with_args(args),
        });
    }
    let checks = vec![
        check_ns("by n = 4", Query::new().arg("n", &4u64), &[4]),
        check_ns(
            "by label = \"#5\" and n = 5",
            Query::new().arg("label", &"#5".to_string()).arg("n", &5u64),
            &[5],
        ),
        check_ns(
            "by label = \"#5\" and n = 6",
            Query::new().arg("label", &"#5".to_string()).arg("n", &6u64),
            &[],
        ),
        check_ns(
            "by label = 4 (n's value under another name)",
            Query::new().arg("label", &4u64),
            &[],
        ),
        check_ns(
            "by function conformance::main and n's digest for 4",
            Query::new()
                .function("conformance::main")
                .arg_digest("n", d(4)),
            &[4],
        ),
        check_ns(
            "by function conformance::other and n = 4",
            Query::new().function("conformance::other").arg("n", &4u64),
            &[],
        ),
        check("by n = 4000", Query::new().arg("n", &4000u64), &["n=4000"]),
        check(
            "by nn = 4000",
            Query::new().arg("nn", &4000u64),
            &["nn=4000"],
        ),
        check(
            "by m = 4000",
            Query::new().arg("m", &4000u64),
            &["n=5000,m=4000"],
        ),
        check("by N = 4000", Query::new().arg("N", &4000u64), &["N=4000"]),
        check(
            "by n = 5000",
            Query::new().arg("n", &5000u64),
            &["n=5000,m=4000"],
        ),
        check(
            "by n = 5000 and m = 4000",
            Query::new().arg("n", &5000u64).arg("m", &4000u64),
            &["n=5000,m=4000"],
        ),
        check(
            "by n = 4000 and m = 4000 (each alone matches another record)",
            Query::new().arg("n", &4000u64).arg("m", &4000u64),
            &[],
        ),
        check(
            "by n = 4000 and nn = 4000 (each alone matches another record)",
            Query::new().arg("n", &4000u64).arg("nn", &4000u64),
            &[],
        ),
        check(
            "by n = \"4000\" (the text, not the number)",
            Query::new().arg("n", &"4000"),
            &[],
        ),
        check(
            "by x = 4000 (a name nobody has)",
            Query::new().arg("x", &4000u64),
            &[],
        ),
    ];
    (written, checks)
}

/// Promise 4 for queries by argument: an argument matches by its name and
/// its digest together — not a name it is a prefix of (`n` vs `nn`) or
/// differs from in case, not the same digest under another name, and with
/// several arguments every one must hold.
pub(crate) async fn calls_query_by_argument(h: &Harness) -> CaseResult {
    let (_, s) = h.fresh().await?;
    let (written, checks) = by_argument();
    put_all(&s, &written).await?;
    run_checks(&s, "by argument", &written, &checks).await
}

/// A metadata key that looks like path syntax in SQLite, PostgreSQL and
/// JSONPath.
const ODD_KEY: &str = "it's \"quoted\" $[0] * -ключ";

/// Queries into the metadata of [`twelve`]: see [`record`] for what each
/// record holds.
fn by_metadata() -> (Vec<Written>, Vec<Check>) {
    let mut written = twelve("by-metadata");
    // Keys that a store must not read as path syntax: quotes, brackets,
    // `$`, `*`, spaces, a number.
    for (n, w) in written.iter_mut().enumerate() {
        let extra = w
            .record
            .metadata
            .get_mut("extra")
            .expect("the fixture has extra");
        extra[ODD_KEY] = json!(n % 2 == 0);
        extra["0"] = json!(format!("zero {}", n % 4));
        // A whole float that prints with an exponent.
        extra["huge"] = json!(1e18 * (n % 2 + 1) as f64);
    }
    let kind = |value: Value, expected: &[u64]| {
        check_ns(
            format!("by extra.kind = {value}"),
            Query::new().metadata("extra.kind", value),
            expected,
        )
    };
    let checks = vec![
        check_ns(
            "by tags.parity = \"even\"",
            Query::new().metadata("tags.parity", "even"),
            &[0, 2, 4, 6, 8, 10],
        ),
        check_ns(
            "by tags.writer = \"7\" and function conformance::main",
            Query::new()
                .metadata("tags.writer", "7")
                .function("conformance::main"),
            &[7],
        ),
        check_ns(
            "by tags.writer = 7 (a number; the records hold text)",
            Query::new().metadata("tags.writer", 7),
            &[],
        ),
        check_ns(
            "by runtime.wall_s = 0.5",
            Query::new().metadata("runtime.wall_s", 0.5),
            &[4],
        ),
        check_ns(
            "by tags.parity = \"prime\"",
            Query::new().metadata("tags.parity", "prime"),
            &[],
        ),
        kind(json!(7), &[0, 6]),
        kind(json!("7"), &[1, 7]),
        kind(json!(true), &[2, 8]),
        kind(json!("true"), &[3, 9]),
        kind(json!(1), &[4, 10]),
        kind(Value::Null, &[5, 11]),
        kind(json!("1"), &[]),
        kind(json!(false), &[]),
        kind(json!(0), &[]),
        kind(json!([7]), &[]),
        check_ns(
            "by extra.sometimes = null (a path only some records have)",
            Query::new().metadata("extra.sometimes", Value::Null),
            &[0, 3, 6, 9],
        ),
        check_ns(
            "by extra.none = null (null in every record)",
            Query::new().metadata("extra.none", Value::Null),
            &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
        ),
        check_ns(
            "by extra.absent = null (a path no record has)",
            Query::new().metadata("extra.absent", Value::Null),
            &[],
        ),
        check_ns(
            "by extra.none.below = null (a path through a null)",
            Query::new().metadata("extra.none.below", Value::Null),
            &[],
        ),
        check_ns(
            "by extra.deep.a.b.c.d = \"x1\"",
            Query::new().metadata("extra.deep.a.b.c.d", "x1"),
            &[1, 4, 7, 10],
        ),
        check_ns(
            "by extra.deep.a.b.c.d.e = \"x1\" (a path through text)",
            Query::new().metadata("extra.deep.a.b.c.d.e", "x1"),
            &[],
        ),
        check_ns(
            "by extra.deep.a.b = {\"c\": {\"d\": \"x2\"}} (an object, equal)",
            Query::new().metadata("extra.deep.a.b", json!({ "c": { "d": "x2" } })),
            &[2, 5, 8, 11],
        ),
        check_ns(
            "by extra.deep.a.b = {\"c\": {}} (an object the value contains, not equal)",
            Query::new().metadata("extra.deep.a.b", json!({ "c": {} })),
            &[],
        ),
        check_ns(
            "by extra.<a key with quotes, brackets, $, * and spaces> = true",
            Query::new().metadata(format!("extra.{ODD_KEY}"), true),
            &[0, 2, 4, 6, 8, 10],
        ),
        check_ns(
            "by extra.0 = \"zero 1\" (a key that is a number)",
            Query::new().metadata("extra.0", "zero 1"),
            &[1, 5, 9],
        ),
        check_ns(
            "by extra.huge = 2e18 (a float)",
            Query::new().metadata("extra.huge", 2e18),
            &[1, 3, 5, 7, 9, 11],
        ),
        check_ns(
            "by tags = {\"parity\": \"odd\", \"writer\": \"3\"} (a whole namespace)",
            Query::new().metadata("tags", json!({ "parity": "odd", "writer": "3" })),
            &[3],
        ),
    ];
    (written, checks)
}

/// Promise 4 for queries by metadata: a path into the metadata matches by
/// JSON value equality — `7`, `"7"`, `true`, `"true"`, `1` and `null` are
/// six different values; `null` matches an explicit `null` and never a
/// missing path (also when the path exists only in some records); paths
/// five levels deep work; an object matches only an equal object, not one
/// that contains it.
pub(crate) async fn calls_query_by_metadata(h: &Harness) -> CaseResult {
    let (_, s) = h.fresh().await?;
    let (written, checks) = by_metadata();
    put_all(&s, &written).await?;
    run_checks(&s, "by metadata", &written, &checks).await
}

/// Time windows, newest/oldest order and limits over [`twelve`], whose
/// times are `n` seconds and a sub-second part after a base.
fn by_time_range_order_and_limit() -> (Vec<Written>, Vec<Check>) {
    let whole_second = |n: i64| Timestamp::from_micros(BASE_MICROS + n * 1_000_000);
    let checks = vec![
        check_ns(
            "created in [3 s, 7 s) (whole seconds)",
            Query::new()
                .created_after(whole_second(3))
                .created_before(whole_second(7)),
            &[3, 4, 5, 6],
        ),
        check_ns(
            "created in [n3's time, n7's time)",
            Query::new()
                .created_after(created_at(3))
                .created_before(created_at(7)),
            &[3, 4, 5, 6],
        ),
        check_ns(
            "newest first, limit 3",
            Query::new().order(Order::NewestFirst).limit(3),
            &[11, 10, 9],
        ),
        check_ns(
            "of conformance::main, oldest first, limit 2",
            Query::new()
                .function("conformance::main")
                .order(Order::OldestFirst)
                .limit(2),
            &[1, 2],
        ),
        check_ns(
            "created in [n2's time, n9's time) with tags.parity = \"odd\", newest first",
            Query::new()
                .created_after(created_at(2))
                .created_before(created_at(9))
                .metadata("tags.parity", "odd")
                .order(Order::NewestFirst),
            &[7, 5, 3],
        ),
    ];
    (twelve("by-time"), checks)
}

/// Promise 4 for time ranges, order and limits: a window `[after, before)`
/// at whole seconds and at the records' own microsecond times, newest and
/// oldest first, with a limit, with a filter.
pub(crate) async fn calls_query_by_time_range_order_and_limit(h: &Harness) -> CaseResult {
    let (_, s) = h.fresh().await?;
    let (written, checks) = by_time_range_order_and_limit();
    put_all(&s, &written).await?;
    run_checks(&s, "by time", &written, &checks).await
}

/// Queries of several conditions over [`twelve`] and four records `s0` …
/// `s3` that share an argument (`shared = 1`; functions main, main, other,
/// other; `n` 30 … 33, so parity even, odd, even, odd), where each
/// condition alone selects a different non-empty set of records (the unit
/// tests check that).
fn conditions_all_hold() -> (Vec<Written>, Vec<Check>) {
    let mut written = twelve("all-hold");
    for i in 0..4u64 {
        let function = if i < 2 {
            "conformance::main"
        } else {
            "conformance::other"
        };
        let r = record(key("all-hold-shared", i), function, 30 + i).with_args(vec![
            ArgDigest {
                name: "shared".into(),
                digest: digest_of(&1u64),
            },
            ArgDigest {
                name: "n".into(),
                digest: digest_of(&(30 + i)),
            },
        ]);
        written.push(Written {
            label: format!("s{i}"),
            record: r,
        });
    }
    let main = || Query::new().function("conformance::main");
    let other = || Query::new().function("conformance::other");
    let shared = || Query::new().arg("shared", &1u64);
    let checks = vec![
        check(
            "by function main and tags.parity = \"even\"",
            main().metadata("tags.parity", "even"),
            &["n2", "n4", "n8", "n10", "s0"],
        ),
        check(
            "by function other and extra.kind = \"7\"",
            other().metadata("extra.kind", "7"),
            &[],
        ),
        check(
            "by function other and extra.kind = null",
            other().metadata("extra.kind", Value::Null),
            &[],
        ),
        check(
            "by n = 4 and tags.parity = \"even\"",
            Query::new().arg("n", &4u64).metadata("tags.parity", "even"),
            &["n4"],
        ),
        check(
            "by n = 4 and tags.parity = \"odd\"",
            Query::new().arg("n", &4u64).metadata("tags.parity", "odd"),
            &[],
        ),
        check("by n = 6 and function main", main().arg("n", &6u64), &[]),
        check(
            "by n = 6 and function other",
            other().arg("n", &6u64),
            &["n6"],
        ),
        check(
            "by function main, created at or after n6's time",
            main().created_after(created_at(6)),
            &["n7", "n8", "n10", "n11", "s0", "s1"],
        ),
        check(
            "by function other, created before n6's time",
            other().created_before(created_at(6)),
            &["n0", "n3"],
        ),
        check(
            "by function other, created at or after n10's time",
            other().created_after(created_at(10)),
            &["s2", "s3"],
        ),
        check(
            "by function main, tags.parity = \"even\", created in [n3's time, n10's time)",
            main()
                .metadata("tags.parity", "even")
                .created_after(created_at(3))
                .created_before(created_at(10)),
            &["n4", "n8"],
        ),
        check(
            "by tags.parity = \"even\" and extra.deep.a.b.c.d = \"x1\"",
            Query::new()
                .metadata("tags.parity", "even")
                .metadata("extra.deep.a.b.c.d", "x1"),
            &["n4", "n10"],
        ),
        check(
            "by tags.parity = \"odd\" and extra.sometimes = null",
            Query::new()
                .metadata("tags.parity", "odd")
                .metadata("extra.sometimes", Value::Null),
            &["n3", "n9", "s3"],
        ),
        check(
            "by label = \"#7\" and n = 8",
            Query::new().arg("label", &"#7".to_string()).arg("n", &8u64),
            &[],
        ),
        check(
            "by shared = 1 and tags.parity = \"even\"",
            shared().metadata("tags.parity", "even"),
            &["s0", "s2"],
        ),
        check(
            "by shared = 1 and function other",
            shared().function("conformance::other"),
            &["s2", "s3"],
        ),
        check(
            "by shared = 1, function main and tags.parity = \"odd\"",
            shared()
                .function("conformance::main")
                .metadata("tags.parity", "odd"),
            &["s1"],
        ),
        check(
            "by shared = 1, created before s2's time",
            shared().created_before(created_at(32)),
            &["s0", "s1"],
        ),
        check(
            "by shared = 1 and extra.kind = \"true\"",
            shared().metadata("extra.kind", "true"),
            &["s3"],
        ),
        check(
            "by shared = 1 and n = 31",
            shared().arg("n", &31u64),
            &["s1"],
        ),
        check("by shared = 1 and n = 3", shared().arg("n", &3u64), &[]),
    ];
    (written, checks)
}

/// Promise 4 for combined conditions: every condition must hold. Function
/// and metadata, argument and metadata, function and time bounds, two
/// metadata paths, two arguments — each condition alone selects a
/// different non-empty set, and only their intersection (sometimes empty)
/// comes back.
pub(crate) async fn calls_query_conditions_all_hold(h: &Harness) -> CaseResult {
    let (_, s) = h.fresh().await?;
    let (written, checks) = conditions_all_hold();
    put_all(&s, &written).await?;
    run_checks(&s, "conditions", &written, &checks).await
}

/// A time that is no whole second nor millisecond: the bound of
/// [`one_sided_time_bounds`].
const BOUND: i64 = BASE_MICROS + 5_123_457;

/// Records 1 µs, 1 ms and 1 s around [`BOUND`], each one-sided bound.
fn one_sided_time_bounds() -> (Vec<Written>, Vec<Check>) {
    let offsets: [(&str, i64); 7] = [
        ("-1s", -1_000_000),
        ("-1ms", -1_000),
        ("-1us", -1),
        ("0", 0),
        ("+1us", 1),
        ("+999us", 999),
        ("+1s", 1_000_000),
    ];
    let written: Vec<Written> = offsets
        .iter()
        .enumerate()
        .map(|(i, (label, offset))| Written {
            label: (*label).to_owned(),
            record: record(
                key("time-bounds", i as u64),
                "conformance::time",
                60 + i as u64,
            )
            .with_created_at(Timestamp::from_micros(BOUND + offset)),
        })
        .collect();
    let at = |offset: i64| Timestamp::from_micros(BOUND + offset);
    let checks = vec![
        check(
            "created at or after the bound",
            Query::new().created_after(at(0)),
            &["0", "+1us", "+999us", "+1s"],
        ),
        check(
            "created before the bound",
            Query::new().created_before(at(0)),
            &["-1s", "-1ms", "-1us"],
        ),
        check(
            "created at or after the bound + 1 µs",
            Query::new().created_after(at(1)),
            &["+1us", "+999us", "+1s"],
        ),
        check(
            "created before the bound + 1 µs",
            Query::new().created_before(at(1)),
            &["-1s", "-1ms", "-1us", "0"],
        ),
        check(
            "created at or after the bound - 1 µs",
            Query::new().created_after(at(-1)),
            &["-1us", "0", "+1us", "+999us", "+1s"],
        ),
        check(
            "created before the bound - 999 µs",
            Query::new().created_before(at(-999)),
            &["-1s", "-1ms"],
        ),
        check(
            "created at or after the bound + 1 s + 1 µs",
            Query::new().created_after(at(1_000_001)),
            &[],
        ),
        check(
            "created before the bound - 1 s",
            Query::new().created_before(at(-1_000_000)),
            &[],
        ),
        check(
            "created at or after the bound - 1 s",
            Query::new().created_after(at(-1_000_000)),
            &["-1s", "-1ms", "-1us", "0", "+1us", "+999us", "+1s"],
        ),
        check(
            "created before the bound + 1 s + 1 µs",
            Query::new().created_before(at(1_000_001)),
            &["-1s", "-1ms", "-1us", "0", "+1us", "+999us", "+1s"],
        ),
        check(
            "of conformance::time created at or after the bound",
            Query::new()
                .function("conformance::time")
                .created_after(at(0)),
            &["0", "+1us", "+999us", "+1s"],
        ),
        check(
            "of conformance::time created before the bound, newest first",
            Query::new()
                .function("conformance::time")
                .created_before(at(0))
                .order(Order::NewestFirst),
            &["-1us", "-1ms", "-1s"],
        ),
        check(
            "created at or after the bound - 1 ms, oldest first",
            Query::new()
                .created_after(at(-1_000))
                .order(Order::OldestFirst),
            &["-1ms", "-1us", "0", "+1us", "+999us", "+1s"],
        ),
    ];
    (written, checks)
}

/// Promise 4 for time bounds, one at a time and to the microsecond:
/// `created_after` alone is inclusive (`>=`), `created_before` alone
/// exclusive (`<`), for records 1 µs, 1 ms and 1 s either side of a bound
/// that is no whole millisecond — so a store that rounds times, or swaps
/// `<` and `<=`, fails.
pub(crate) async fn calls_query_one_sided_time_bounds(h: &Harness) -> CaseResult {
    let (_, s) = h.fresh().await?;
    let (written, checks) = one_sided_time_bounds();
    put_all(&s, &written).await?;
    run_checks(&s, "one-sided time bounds", &written, &checks).await
}

/// 20 early records, then 4 late ones written last (later times, their
/// own function and `tags.group`), queried with limits and no order.
fn limit_without_order() -> (Vec<Written>, Vec<Check>) {
    let mut written = Vec::new();
    for i in 0..24u64 {
        let late = i >= 20;
        let mut r = record(
            key("limit", i),
            if late {
                "conformance::limit_late"
            } else {
                "conformance::limit"
            },
            100 + i,
        );
        r.metadata
            .insert("group".into(), json!(if late { "late" } else { "early" }));
        written.push(Written {
            label: format!("{}{i}", if late { "late" } else { "early" }),
            record: r,
        });
    }
    let labels = |range: std::ops::Range<usize>| -> Vec<String> {
        written[range].iter().map(|w| w.label.clone()).collect()
    };
    let late = labels(20..24);
    let early = labels(0..20);
    let all = labels(0..24);
    let late_from_22 = labels(22..24);
    let with = |what: &str, query: Query, expected: &[String]| Check {
        what: what.to_owned(),
        query,
        expected: expected.to_vec(),
    };
    let checks = vec![
        with(
            "by group = \"late\", limit 3",
            Query::new().metadata("group", "late").limit(3),
            &late,
        ),
        with(
            "by group = \"late\", limit 1",
            Query::new().metadata("group", "late").limit(1),
            &late,
        ),
        with(
            "by group = \"late\", limit 4 (as many as match)",
            Query::new().metadata("group", "late").limit(4),
            &late,
        ),
        with(
            "by group = \"late\", limit 100 (more than match)",
            Query::new().metadata("group", "late").limit(100),
            &late,
        ),
        with(
            "by group = \"late\", limit 0",
            Query::new().metadata("group", "late").limit(0),
            &late,
        ),
        with("limit 0", Query::new().limit(0), &all),
        with(
            "by function conformance::limit_late, limit 2",
            Query::new().function("conformance::limit_late").limit(2),
            &late,
        ),
        with(
            "by function conformance::limit and group = \"late\", limit 2",
            Query::new()
                .function("conformance::limit")
                .metadata("group", "late")
                .limit(2),
            &[],
        ),
        with("limit 7", Query::new().limit(7), &all),
        with(
            "by group = \"early\", limit 30",
            Query::new().metadata("group", "early").limit(30),
            &early,
        ),
        with(
            "by n = 123 (the last record), limit 5",
            Query::new().arg("n", &123u64).limit(5),
            &all[23..],
        ),
        with(
            "created at or after late22's time, limit 1",
            Query::new()
                .created_after(written[22].record.created_at)
                .limit(1),
            &late_from_22,
        ),
        with(
            "by group = \"late\", created before late22's time, limit 5",
            Query::new()
                .metadata("group", "late")
                .created_before(written[22].record.created_at)
                .limit(5),
            &labels(20..22),
        ),
    ];
    (written, checks)
}

/// Promise 4 for limits without an order: `limit(n)` returns exactly `n`
/// distinct matching records when more match — also when the matches were
/// written last, so the limit must apply after the filter — all of them
/// when fewer match, and none for `limit(0)`, as [`Query::apply`] does.
pub(crate) async fn calls_query_limit_without_order(h: &Harness) -> CaseResult {
    let (_, s) = h.fresh().await?;
    let (written, checks) = limit_without_order();
    put_all(&s, &written).await?;
    run_checks(&s, "limit without order", &written, &checks).await
}

/// A moment of a case: what it is called, what the store holds, and the
/// checks then.
type State = (&'static str, Vec<Written>, Vec<Check>);

/// The record that changes (`subject`) in each of its three states, the
/// records beside it, and the checks of each state: as first written,
/// after an overwrite that changes its function, argument, metadata and
/// time (to an earlier one), and after its delete.
fn after_overwrite_and_delete() -> (Vec<Written>, [State; 3]) {
    let k = key("overwrite", 0);
    let old = record(k, "conformance::before", 200)
        .with_created_at(Timestamp::from_micros(BASE_MICROS + 50_000_123));
    let mut new = record(k, "conformance::after", 201)
        .with_created_at(Timestamp::from_micros(BASE_MICROS + 10_000_321))
        .with_args(vec![ArgDigest {
            name: "m".into(),
            digest: digest_of(&201u64),
        }]);
    new.metadata
        .insert("state".into(), json!({ "phase": "new" }));
    let mut old = old;
    old.metadata
        .insert("state".into(), json!({ "phase": "old" }));
    let bystanders: Vec<Written> = (1..=4u64)
        .map(|i| {
            let function = if i % 2 == 0 {
                "conformance::before"
            } else {
                "conformance::after"
            };
            let mut r = record(key("overwrite", i), function, 200 + i * 10).with_created_at(
                Timestamp::from_micros(BASE_MICROS + i as i64 * 20_000_000 + 7),
            );
            r.metadata
                .insert("state".into(), json!({ "phase": "still" }));
            Written {
                label: format!("bystander{i}"),
                record: r,
            }
        })
        .collect();
    // Bystanders' times: 20, 40, 60, 80 s; the subject moves from 50 s to 10 s.
    let subject = |r: &CallRecord| Written {
        label: "subject".into(),
        record: r.clone(),
    };
    let with_subject = |r: &CallRecord| {
        let mut all = vec![subject(r)];
        all.extend(bystanders.iter().cloned());
        all
    };
    let t = |s: i64| Timestamp::from_micros(BASE_MICROS + s * 1_000_000);
    let queries = |subject_old: &[&str], subject_new: &[&str]| {
        let with = |extra: &[&str], rest: &[&str]| -> Vec<String> {
            extra.iter().chain(rest).map(|l| (*l).to_owned()).collect()
        };
        vec![
            Check {
                what: "by the old function".into(),
                query: Query::new().function("conformance::before"),
                expected: with(subject_old, &["bystander2", "bystander4"]),
            },
            Check {
                what: "by the new function".into(),
                query: Query::new().function("conformance::after"),
                expected: with(subject_new, &["bystander1", "bystander3"]),
            },
            Check {
                what: "by the old argument n = 200".into(),
                query: Query::new().arg("n", &200u64),
                expected: with(subject_old, &[]),
            },
            Check {
                what: "by the new argument m = 201".into(),
                query: Query::new().arg("m", &201u64),
                expected: with(subject_new, &[]),
            },
            Check {
                what: "by the old metadata state.phase = \"old\"".into(),
                query: Query::new().metadata("state.phase", "old"),
                expected: with(subject_old, &[]),
            },
            Check {
                what: "by the new metadata state.phase = \"new\"".into(),
                query: Query::new().metadata("state.phase", "new"),
                expected: with(subject_new, &[]),
            },
            Check {
                what: "created in [45 s, 55 s), around the old time".into(),
                query: Query::new().created_after(t(45)).created_before(t(55)),
                expected: with(subject_old, &[]),
            },
            Check {
                what: "created in [5 s, 15 s), around the new time".into(),
                query: Query::new().created_after(t(5)).created_before(t(15)),
                expected: with(subject_new, &[]),
            },
            Check {
                what: "by the old function, created at or after 45 s".into(),
                query: Query::new()
                    .function("conformance::before")
                    .created_after(t(45)),
                expected: with(subject_old, &["bystander4"]),
            },
            Check {
                what: "oldest first".into(),
                query: Query::new().order(Order::OldestFirst),
                expected: match (subject_old.is_empty(), subject_new.is_empty()) {
                    (false, _) => with(
                        &[],
                        &[
                            "bystander1",
                            "bystander2",
                            "subject",
                            "bystander3",
                            "bystander4",
                        ],
                    ),
                    (_, false) => with(
                        &[],
                        &[
                            "subject",
                            "bystander1",
                            "bystander2",
                            "bystander3",
                            "bystander4",
                        ],
                    ),
                    _ => with(
                        &[],
                        &["bystander1", "bystander2", "bystander3", "bystander4"],
                    ),
                },
            },
            Check {
                what: "by the new function, newest first, limit 2".into(),
                query: Query::new()
                    .function("conformance::after")
                    .order(Order::NewestFirst)
                    .limit(2),
                expected: with(&[], &["bystander3", "bystander1"]),
            },
            Check {
                what: "by the new function, oldest first, limit 1".into(),
                query: Query::new()
                    .function("conformance::after")
                    .order(Order::OldestFirst)
                    .limit(1),
                expected: with(
                    subject_new,
                    if subject_new.is_empty() {
                        &["bystander1"][..]
                    } else {
                        &[]
                    },
                ),
            },
        ]
    };
    let states = [
        (
            "as first written",
            with_subject(&old),
            queries(&["subject"], &[]),
        ),
        (
            "after an overwrite that changed its function, argument, metadata and time",
            with_subject(&new),
            queries(&[], &["subject"]),
        ),
        ("after its delete", bystanders.clone(), queries(&[], &[])),
    ];
    (bystanders, states)
}

/// Promise 4 after changes: once a record is overwritten with another
/// function, argument, metadata and (earlier) time, queries by its old
/// values no longer find it and queries by the new ones do, in its new
/// place in time order; once it is deleted, none do. The records beside it
/// stay found throughout.
pub(crate) async fn calls_query_after_overwrite_and_delete(h: &Harness) -> CaseResult {
    let (_, s) = h.fresh().await?;
    let (bystanders, states) = after_overwrite_and_delete();
    put_all(&s, &bystanders).await?;
    for (i, (situation, written, checks)) in states.iter().enumerate() {
        match i {
            0 | 1 => s.calls.put(written[0].record.clone()).await?,
            _ => {
                let k = key("overwrite", 0);
                ensure!(
                    s.calls.delete(k).await?,
                    "delete of the overwritten record said it was not there"
                );
            }
        }
        run_checks(&s, situation, written, checks).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the reference implementation answers, as labels.
    fn reference(written: &[Written], q: &Query) -> Vec<String> {
        let mut q = q.clone();
        if q.order == Order::Any {
            // The checks list every match; the limit is checked apart.
            q.limit = None;
        }
        let records = q.apply(written.iter().map(|w| w.record.clone()));
        records
            .iter()
            .map(|r| {
                written
                    .iter()
                    .find(|w| w.record.key == r.key)
                    .map(|w| w.label.clone())
                    .unwrap()
            })
            .collect()
    }

    fn agrees(written: &[Written], checks: &[Check]) {
        let labels: BTreeSet<&String> = written.iter().map(|w| &w.label).collect();
        assert_eq!(labels.len(), written.len(), "labels are unique");
        for c in checks {
            let mut want = reference(written, &c.query);
            let mut have = c.expected.clone();
            if c.query.order == Order::Any {
                want.sort();
                have.sort();
            }
            assert_eq!(have, want, "check {:?}", c.what);
            // And the store's answer made of the reference's is accepted.
            let answer = c.query.apply(written.iter().map(|w| w.record.clone()));
            check_answer("reference", written, c, &answer).unwrap();
        }
    }

    #[test]
    fn every_table_agrees_with_the_reference() {
        for (written, checks) in [
            by_function(),
            by_argument(),
            by_metadata(),
            by_time_range_order_and_limit(),
            conditions_all_hold(),
            one_sided_time_bounds(),
            limit_without_order(),
        ] {
            agrees(&written, &checks);
        }
        let (_, states) = after_overwrite_and_delete();
        for (_, written, checks) in &states {
            agrees(written, checks);
        }
    }

    /// Each condition of a query alone, as a query of its own.
    fn alone(q: &Query) -> Vec<Query> {
        let mut out = Vec::new();
        if let Some(f) = &q.function {
            out.push(Query::new().function(f.clone()));
        }
        for (name, digest) in &q.args {
            out.push(Query::new().arg_digest(name.clone(), *digest));
        }
        for (path, value) in &q.metadata {
            out.push(Query::new().metadata(path.clone(), value.clone()));
        }
        if let Some(t) = q.created_after {
            out.push(Query::new().created_after(t));
        }
        if let Some(t) = q.created_before {
            out.push(Query::new().created_before(t));
        }
        out
    }

    #[test]
    fn each_condition_alone_selects_a_different_set() {
        let (written, checks) = conditions_all_hold();
        for c in &checks {
            let together = reference(&written, &c.query);
            let singles = alone(&c.query);
            assert!(singles.len() >= 2, "{}: several conditions", c.what);
            let mut sets = BTreeSet::new();
            for single in &singles {
                let mut set = reference(&written, single);
                set.sort();
                assert!(!set.is_empty(), "{}: each alone selects some", c.what);
                sets.insert(set);
            }
            assert_eq!(sets.len(), singles.len(), "{}: different sets", c.what);
            assert!(
                sets.iter().any(|set| set.len() > together.len()),
                "{}: the conditions together select less",
                c.what
            );
        }
    }

    #[test]
    fn a_wrong_answer_is_refused() {
        let (written, checks) = by_metadata();
        let c = &checks[5]; // extra.kind = 7
        let wrong: Vec<CallRecord> = written[..2].iter().map(|w| w.record.clone()).collect();
        assert!(check_answer("test", &written, c, &wrong).is_err());
        let twice = vec![written[0].record.clone(), written[0].record.clone()];
        assert!(check_answer("test", &written, c, &twice).is_err());
        let (written, checks) = limit_without_order();
        let c = &checks[0]; // late, limit 3
        let two: Vec<CallRecord> = written[20..22].iter().map(|w| w.record.clone()).collect();
        assert!(check_answer("test", &written, c, &two).is_err());
        let three: Vec<CallRecord> = written[20..23].iter().map(|w| w.record.clone()).collect();
        assert!(check_answer("test", &written, c, &three).is_ok());
    }
}
