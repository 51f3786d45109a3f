//! Two handles on one store see each other's writes, overwrites and
//! deletes, also after they have read.
//!
//! [`sees`] is shared with the cross-process cases: it reads a store
//! through every read path and compares with exactly what should be there.

use std::collections::BTreeMap;

use futures::TryStreamExt;

use fleche_core::{Bytes, CallRecord, Digest, Query};

use super::fixtures::{key, record, value};
use crate::harness::{CaseError, CaseResult, Harness, Stores, ensure};

/// What a handle should see: exactly these values and records.
#[derive(Clone, Debug, Default)]
pub(super) struct Expected {
    /// Every value in the store.
    pub(super) values: BTreeMap<Digest, Bytes>,
    /// Every record in the store, by key.
    pub(super) records: BTreeMap<Digest, CallRecord>,
}

impl Expected {
    pub(super) fn value(&mut self, (k, bytes): (Digest, Bytes)) -> &mut Self {
        self.values.insert(k, bytes);
        self
    }

    pub(super) fn record(&mut self, r: CallRecord) -> &mut Self {
        self.records.insert(r.key, r);
        self
    }
}

/// A short form of a key for messages.
pub(super) fn short(k: &Digest) -> String {
    k.to_hex()[..12].to_owned()
}

/// What a read of a value gave, for messages.
fn show_bytes(b: Option<&Bytes>) -> String {
    match b {
        None => "None".into(),
        Some(b) => format!("{} bytes (digest {})", b.len(), short(&Digest::of(b))),
    }
}

/// What a read of a record gave, for messages.
pub(super) fn show_record(r: Option<&CallRecord>) -> String {
    match r {
        None => "None".into(),
        Some(r) => format!(
            "the record of {} created at {:?} with result {}",
            r.function,
            r.created_at,
            short(&r.result.digest)
        ),
    }
}

/// What [`sees`] reads: these value keys and record keys (those that the
/// expected state does not hold must be missing), and these queries.
#[derive(Clone, Debug, Default)]
pub(super) struct Reads {
    pub(super) value_keys: Vec<Digest>,
    pub(super) record_keys: Vec<Digest>,
    pub(super) queries: Vec<Query>,
}

/// Reads `s` through every read path — `get`, `contains`, `get_many` and
/// `list` of values; `get`, `get_result` and queries of records — and
/// checks each answer is exactly what `want` says. `who` names the reader
/// in messages.
pub(super) async fn sees(s: &Stores, want: &Expected, reads: &Reads, who: &str) -> CaseResult {
    let Reads {
        value_keys,
        record_keys,
        queries,
    } = reads;
    for k in value_keys {
        let expected = want.values.get(k);
        let got = s.values.get(*k).await?;
        ensure!(
            got.as_ref() == expected,
            "{who}: get of value {}: expected {}, got {}",
            short(k),
            show_bytes(expected),
            show_bytes(got.as_ref())
        );
        let has = s.values.contains(*k).await?;
        ensure!(
            has == expected.is_some(),
            "{who}: contains of value {} is {has}, but the value is {}",
            short(k),
            show_bytes(expected)
        );
    }
    let many = s.values.get_many(value_keys).await?;
    let expected: Vec<Option<Bytes>> = value_keys
        .iter()
        .map(|k| want.values.get(k).cloned())
        .collect();
    ensure!(
        many == expected,
        "{who}: get_many of {} keys: expected [{}], got [{}]",
        value_keys.len(),
        expected
            .iter()
            .map(|b| show_bytes(b.as_ref()))
            .collect::<Vec<_>>()
            .join(", "),
        many.iter()
            .map(|b| show_bytes(b.as_ref()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut listed: Vec<Digest> = s.values.list("").try_collect().await?;
    listed.sort();
    let expected: Vec<Digest> = want.values.keys().copied().collect();
    ensure!(
        listed == expected,
        "{who}: list(\"\") gave [{}], expected [{}]",
        listed.iter().map(short).collect::<Vec<_>>().join(", "),
        expected.iter().map(short).collect::<Vec<_>>().join(", ")
    );
    for k in record_keys {
        let expected = want.records.get(k);
        let got = s.calls.get(*k).await?;
        ensure!(
            got.as_ref() == expected,
            "{who}: get of record {}: expected {}, got {}",
            short(k),
            show_record(expected),
            show_record(got.as_ref())
        );
        let result = s.calls.get_result(*k).await?;
        ensure!(
            result.as_ref() == expected.map(|r| &r.result),
            "{who}: get_result of record {}: expected the result of {}, got {:?}",
            short(k),
            show_record(expected),
            result.as_ref().map(|v| short(&v.digest))
        );
    }
    for q in queries {
        let mut got: Vec<CallRecord> = s.calls.query(q).try_collect().await?;
        got.sort_by_key(|r| r.key);
        let mut expected = q.apply(want.records.values().cloned());
        expected.sort_by_key(|r| r.key);
        ensure!(
            got == expected,
            "{who}: {q:?} returned [{}], expected [{}]",
            got.iter()
                .map(|r| show_record(Some(r)))
                .collect::<Vec<_>>()
                .join("; "),
            expected
                .iter()
                .map(|r| show_record(Some(r)))
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
    Ok(())
}

/// The digest of argument `name` of `r`.
pub(super) fn arg_of(r: &CallRecord, name: &str) -> Result<Digest, CaseError> {
    r.args
        .iter()
        .find(|a| a.name == name)
        .map(|a| a.digest)
        .ok_or_else(|| CaseError::fail(format!("the fixture record has no argument {name}")))
}

/// One direction of [`handles_see_each_others_writes`]: `writer` writes,
/// overwrites, deletes and writes again; `reader` reads the old state
/// before each change and must see the new one after it.
async fn one_direction(reader: &Stores, writer: &Stores, tag: &str, seed: u64) -> CaseResult {
    const FUNCTION: &str = "conformance::handles";
    let (vk, bytes) = value(seed, 1000 + 2 * usize::try_from(seed).unwrap_or(0) + 7);
    let rk = key(tag, 0);
    let first = record(rk, FUNCTION, seed);
    let second = record(rk, FUNCTION, seed + 1);
    let missing = value(seed + 100, 11).0;
    let reads = Reads {
        value_keys: vec![missing, vk],
        record_keys: vec![rk, key(tag, 1)],
        queries: vec![
            Query::new().function(FUNCTION),
            Query::new().arg_digest("n", arg_of(&first, "n")?),
            Query::new().arg_digest("n", arg_of(&second, "n")?),
            Query::new().metadata("tags.writer", seed.to_string()),
        ],
    };
    let empty = Expected::default();
    let mut written = Expected::default();
    written.value((vk, bytes.clone())).record(first.clone());
    let mut overwritten = Expected::default();
    overwritten
        .value((vk, bytes.clone()))
        .record(second.clone());
    let reader_after = |what: &'static str| format!("{tag}: the reading handle, {what}");

    sees(reader, &empty, &reads, &reader_after("before any write")).await?;
    writer.values.put(vk, bytes.clone()).await?;
    writer.calls.put(first.clone()).await?;
    sees(
        reader,
        &written,
        &reads,
        &reader_after("after the other handle put a value and a record"),
    )
    .await?;
    writer.calls.put(second.clone()).await?;
    sees(
        reader,
        &overwritten,
        &reads,
        &reader_after("after the other handle overwrote the record"),
    )
    .await?;
    ensure!(
        writer.values.delete(vk).await?,
        "{tag}: deleting a value that was put said it was not there"
    );
    ensure!(
        writer.calls.delete(rk).await?,
        "{tag}: deleting a record that was put said it was not there"
    );
    sees(
        reader,
        &empty,
        &reads,
        &reader_after("after the other handle deleted both"),
    )
    .await?;
    writer.values.put(vk, bytes.clone()).await?;
    writer.calls.put(first.clone()).await?;
    sees(
        reader,
        &written,
        &reads,
        &reader_after("after the other handle put both again"),
    )
    .await?;
    // Clean up for the other direction (whose first read sees the store
    // empty again).
    writer.values.delete(vk).await?;
    writer.calls.delete(rk).await?;
    Ok(())
}

/// Promise 4 across handles: two handles opened on the same location each
/// see, through every read path, what the other wrote, overwrote and
/// deleted — every read made after the reader had already read the old
/// state, so a handle that caches its reads (or its misses) fails.
pub(crate) async fn handles_see_each_others_writes(h: &Harness) -> CaseResult {
    let (at, a) = h.fresh().await?;
    let b = h.open(&at).await?;
    one_direction(&a, &b, "handles-b-writes", 31).await?;
    one_direction(&b, &a, "handles-a-writes", 57).await
}
