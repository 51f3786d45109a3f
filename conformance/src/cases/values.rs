//! The value store: exact round trips, missing keys, deletes, listing.

use futures::TryStreamExt;

use fleche_core::{Bytes, Digest, PrefixError};

use super::fixtures::value;
use super::together::all_at_once;
use crate::harness::{CaseError, CaseResult, Harness, Stores, ensure};

/// Promise 1: bytes come back exactly as put — empty, one byte, every byte
/// value, and sizes that are not round (4095, 65 537, 1 MiB + 1,
/// 3 MiB + 7919 bytes) as well as 1 MiB and 16 MiB. Each is compared byte
/// for byte: a store that pads, cuts at a chunk or buffer boundary, or
/// reorders chunks fails.
pub(crate) async fn values_round_trip_exactly(h: &Harness) -> CaseResult {
    let (_, s) = h.fresh().await?;
    let all_bytes: Vec<u8> = (0..=255).collect();
    let cases: Vec<(&str, Bytes)> = vec![
        ("empty", Bytes::new()),
        ("one byte", Bytes::from_static(b"\x00")),
        ("every byte value", Bytes::from(all_bytes)),
        ("4095 bytes", value(4, 4095).1),
        ("65 537 bytes", value(5, 65_537).1),
        ("1 MiB", value(1, 1 << 20).1),
        ("1 MiB + 1", value(6, (1 << 20) + 1).1),
        ("3 MiB + 7919", value(8, (3 << 20) + 7919).1),
        ("16 MiB", value(2, 16 << 20).1),
    ];
    for (what, bytes) in cases {
        let key = Digest::of(&bytes);
        s.values.put(key, bytes.clone()).await?;
        let got = s.values.get(key).await?;
        let Some(got) = got else {
            return Err(CaseError::fail(format!(
                "{what}: put {} bytes under {key}, then get returned None",
                bytes.len()
            )));
        };
        ensure!(got == bytes, "{what}: {}", byte_difference(&bytes, &got));
    }
    Ok(())
}

/// How `got` differs from `put`, briefly: lengths and the first byte that
/// differs.
pub(super) fn byte_difference(put: &[u8], got: &[u8]) -> String {
    let first = put
        .iter()
        .zip(got)
        .position(|(a, b)| a != b)
        .unwrap_or(put.len().min(got.len()));
    if put.len() == got.len() && first == put.len() {
        return format!("{} bytes put and read back alike", put.len());
    }
    let at = |b: &[u8]| {
        b.get(first)
            .map_or("nothing".to_owned(), |x| format!("{x:#04x}"))
    };
    format!(
        "put {} bytes, got {} back; first difference at offset {first}: put {}, got {}",
        put.len(),
        got.len(),
        at(put),
        at(got)
    )
}

/// A missing key is `Ok(None)` / `false`, never an error.
pub(crate) async fn values_missing_key_is_none(h: &Harness) -> CaseResult {
    let (_, s) = h.fresh().await?;
    let key = Digest::of(b"never stored");
    match s.values.get(key).await {
        Ok(None) => {}
        Ok(Some(_)) => {
            return Err(crate::CaseError::fail(
                "get of a missing key returned bytes",
            ));
        }
        Err(e) => {
            return Err(crate::CaseError::fail(format!(
                "get of a missing key is an error: {e}"
            )));
        }
    }
    ensure!(
        !s.values.contains(key).await?,
        "contains of a missing key is true"
    );
    ensure!(
        !s.values.delete(key).await?,
        "delete of a missing key said it was there"
    );
    let many = s.values.get_many(&[key, key]).await?;
    ensure!(
        many == vec![None, None],
        "get_many of missing keys: {many:?}"
    );
    Ok(())
}

/// `contains` sees a put; `delete` removes once and is idempotent; `put`
/// of the same value again is harmless.
pub(crate) async fn values_contains_and_delete_are_idempotent(h: &Harness) -> CaseResult {
    let (_, s) = h.fresh().await?;
    let (key, bytes) = value(3, 100);
    s.values.put(key, bytes.clone()).await?;
    s.values.put(key, bytes.clone()).await?;
    ensure!(s.values.contains(key).await?, "contains is false after put");
    ensure!(
        s.values.get(key).await? == Some(bytes),
        "a value put twice reads back altered"
    );
    ensure!(
        s.values.delete(key).await?,
        "delete of a stored key said it was not there"
    );
    ensure!(
        !s.values.delete(key).await?,
        "a second delete said the key was still there"
    );
    ensure!(
        s.values.get(key).await?.is_none(),
        "get after delete returned bytes"
    );
    ensure!(
        !s.values.contains(key).await?,
        "contains is true after delete"
    );
    let listed: Vec<Digest> = s.values.list("").try_collect().await?;
    ensure!(!listed.contains(&key), "list still shows a deleted key");
    Ok(())
}

/// `list` sees every completed put, filtered by hex prefix.
pub(crate) async fn values_list_by_prefix(h: &Harness) -> CaseResult {
    let (_, s) = h.fresh().await?;
    let mut keys = Vec::new();
    for i in 0..64 {
        let (key, bytes) = value(100 + i, 32);
        s.values.put(key, bytes).await?;
        keys.push(key);
    }
    keys.sort();
    let mut all: Vec<Digest> = s.values.list("").try_collect().await?;
    all.sort();
    ensure!(
        all == keys,
        "list(\"\") returned {} keys, expected the {} put",
        all.len(),
        keys.len()
    );
    let prefix = &keys[0].to_hex()[..1];
    let mut expected: Vec<Digest> = keys
        .iter()
        .copied()
        .filter(|k| k.has_prefix(prefix))
        .collect();
    let mut got: Vec<Digest> = s.values.list(prefix).try_collect().await?;
    expected.sort();
    got.sort();
    ensure!(
        got == expected,
        "list({prefix:?}) returned {} keys, expected {}",
        got.len(),
        expected.len()
    );
    let two = &keys[0].to_hex()[..2];
    let got: Vec<Digest> = s.values.list(two).try_collect().await?;
    ensure!(
        got.iter().all(|k| k.has_prefix(two)),
        "list({two:?}) returned a key without that prefix"
    );
    ensure!(
        got.contains(&keys[0]),
        "list({two:?}) missed a key with that prefix"
    );
    Ok(())
}

/// Short prefixes of stored keys expand back, `shrink` gives prefixes that
/// expand, and an ambiguous prefix is a clear error.
pub(crate) async fn values_expand_and_shrink(h: &Harness) -> CaseResult {
    let (_, s) = h.fresh().await?;
    // Two values whose digests share their first four hex digits.
    let (a, b) = shared_prefix_pair();
    for bytes in [&a, &b] {
        s.values
            .put(Digest::of(bytes), Bytes::copy_from_slice(bytes))
            .await?;
    }
    for i in 0..16 {
        let (key, bytes) = value(200 + i, 16);
        s.values.put(key, bytes).await?;
    }
    let keys: Vec<Digest> = s.values.list("").try_collect().await?;
    for key in &keys {
        let short = key.shrink(keys.iter().copied());
        let back = Digest::expand(&short, keys.iter().copied());
        ensure!(
            back.as_ref() == Ok(key),
            "shrink gave {short} for {key}, which expands to {back:?}"
        );
    }
    let (da, db) = (Digest::of(&a), Digest::of(&b));
    let prefix = &da.to_hex()[..4];
    let listed: Vec<Digest> = s.values.list(prefix).try_collect().await?;
    ensure!(
        listed.contains(&da) && listed.contains(&db),
        "list({prefix}) misses one of two keys with that prefix"
    );
    match Digest::expand(prefix, listed) {
        Err(PrefixError::Ambiguous {
            matches, needed, ..
        }) => {
            ensure!(
                matches >= 2 && needed > 4,
                "ambiguity reported {matches} matches, {needed} digits"
            )
        }
        other => {
            return Err(crate::CaseError::fail(format!(
                "an ambiguous prefix expanded to {other:?}"
            )));
        }
    }
    Ok(())
}

/// Two byte strings whose BLAKE3 digests share 16 leading bits (found by a
/// short search: about 300 tries).
fn shared_prefix_pair() -> (Vec<u8>, Vec<u8>) {
    let mut seen = std::collections::HashMap::new();
    for i in 0u32.. {
        let bytes = format!("prefix-pair-{i}").into_bytes();
        let d = Digest::of(&bytes);
        let top = u16::from_be_bytes([d.as_bytes()[0], d.as_bytes()[1]]);
        if let Some(other) = seen.insert(top, bytes.clone()) {
            return (other, bytes);
        }
    }
    unreachable!("the pigeonhole principle")
}

/// Every key `list` gives with this prefix, repeats kept.
async fn listed(s: &Stores, prefix: &str) -> Result<Vec<Digest>, CaseError> {
    Ok(s.values.list(prefix).try_collect().await?)
}

/// Promises 1 and 4: a value put, deleted and put again is there — `get`
/// gives its bytes, `contains` is true and `list` (all keys, and by the
/// key's prefix) shows it exactly once — twice over, so that a store which
/// keeps a tombstone, or remembers the delete in a cache, fails.
pub(crate) async fn values_put_after_delete(h: &Harness) -> CaseResult {
    let (_, s) = h.fresh().await?;
    let (key, bytes) = value(300, 1001);
    let (other, other_bytes) = value(301, 17);
    s.values.put(other, other_bytes.clone()).await?;
    for round in 1..=2 {
        s.values.put(key, bytes.clone()).await?;
        ensure!(
            s.values.get(key).await?.is_some(),
            "round {round}: a value put is not there before the delete"
        );
        ensure!(
            s.values.delete(key).await?,
            "round {round}: delete of a value just put said it was not there"
        );
        ensure!(
            s.values.get(key).await?.is_none(),
            "round {round}: get after delete returned bytes"
        );
        ensure!(
            !s.values.contains(key).await?,
            "round {round}: contains is true after delete"
        );
        s.values.put(key, bytes.clone()).await?;
        let got = s.values.get(key).await?;
        ensure!(
            got.as_ref() == Some(&bytes),
            "round {round}: put {} bytes, deleted them and put them again; get returned {}",
            bytes.len(),
            match &got {
                None => "None".to_owned(),
                Some(g) => byte_difference(&bytes, g),
            }
        );
        ensure!(
            s.values.contains(key).await?,
            "round {round}: put, deleted and put again, contains is false"
        );
        let many = s.values.get_many(&[key]).await?;
        ensure!(
            many == vec![Some(bytes.clone())],
            "round {round}: put, deleted and put again, get_many returned {} answers, the first {}",
            many.len(),
            many.first().map_or("missing", |a| if a.is_some() {
                "bytes (other ones)"
            } else {
                "None"
            })
        );
        let all = listed(&s, "").await?;
        let times = all.iter().filter(|k| **k == key).count();
        ensure!(
            times == 1,
            "round {round}: put, deleted and put again, list(\"\") shows the key {times} times"
        );
        ensure!(
            all.contains(&other),
            "round {round}: list(\"\") lost another key that was never deleted"
        );
        let prefix = &key.to_hex()[..3];
        let by_prefix = listed(&s, prefix).await?;
        let times = by_prefix.iter().filter(|k| **k == key).count();
        ensure!(
            times == 1,
            "round {round}: put, deleted and put again, list({prefix:?}) shows the key {times} times"
        );
    }
    ensure!(
        s.values.get(other).await? == Some(other_bytes),
        "deleting and putting one value altered another"
    );
    Ok(())
}

/// Promise 1 for `get_many`: one answer per key asked, in the order asked —
/// keys unsorted, present (one of them empty: `Some` of no bytes, not
/// `None`) and missing mixed, a key asked twice, and a key deleted before
/// the call (`None`). Asking for no keys gives no answers.
pub(crate) async fn values_get_many_keeps_order(h: &Harness) -> CaseResult {
    let (_, s) = h.fresh().await?;
    let empty = (Digest::of(b""), Bytes::new());
    let a = value(400, 3);
    let b = value(401, 5000);
    let c = value(402, 1);
    let gone = value(403, 77);
    for (k, bytes) in [&a, &b, &c, &gone, &empty] {
        s.values.put(*k, bytes.clone()).await?;
    }
    ensure!(
        s.values.delete(gone.0).await?,
        "delete of a stored value said it was not there"
    );
    let missing = |n: u64| value(500 + n, 9).0;
    // Neither sorted by key nor in the order put.
    let asked: Vec<(Digest, Option<Bytes>, &str)> = vec![
        (c.0, Some(c.1.clone()), "present c"),
        (missing(1), None, "missing 1"),
        (b.0, Some(b.1.clone()), "present b"),
        (gone.0, None, "deleted"),
        (empty.0, Some(Bytes::new()), "present, empty"),
        (a.0, Some(a.1.clone()), "present a"),
        (missing(2), None, "missing 2"),
        (c.0, Some(c.1.clone()), "present c, again"),
        (missing(1), None, "missing 1, again"),
        (b.0, Some(b.1.clone()), "present b, again"),
    ];
    let keys: Vec<Digest> = asked.iter().map(|(k, _, _)| *k).collect();
    let got = s.values.get_many(&keys).await?;
    ensure!(
        got.len() == asked.len(),
        "get_many of {} keys returned {} answers",
        asked.len(),
        got.len()
    );
    let show = |a: &Option<Bytes>| match a {
        None => "None".to_owned(),
        Some(b) => format!("{} bytes", b.len()),
    };
    for (i, ((_, expected, what), answer)) in asked.iter().zip(&got).enumerate() {
        ensure!(
            answer == expected,
            "get_many answer {i} ({what}): expected {}, got {}",
            show(expected),
            show(answer)
        );
    }
    let none = s.values.get_many(&[]).await?;
    ensure!(
        none.is_empty(),
        "get_many of no keys returned {} answers",
        none.len()
    );
    Ok(())
}

/// Promise 1 for `put_many`: every item is stored exactly — the first, the
/// middle and the last, an empty value, a value put twice in one batch —
/// as `get`, `get_many`, `contains` and `list` all see; a batch of nothing
/// is `Ok` and stores nothing.
pub(crate) async fn values_put_many_stores_every_item(h: &Harness) -> CaseResult {
    let (_, s) = h.fresh().await?;
    s.values.put_many(Vec::new()).await?;
    let before = listed(&s, "").await?;
    ensure!(
        before.is_empty(),
        "put_many of nothing left {} keys in a fresh store",
        before.len()
    );
    let sizes = [1usize, 0, 31, 4095, 100, 65_537, 7, 2, 513, 1000, 3, 12_289];
    let mut items: Vec<(Digest, Bytes)> = sizes
        .iter()
        .enumerate()
        .map(|(i, len)| value(600 + i as u64, *len))
        .collect();
    // Two items twice: one right after itself, one again near the end.
    items.insert(3, items[2].clone());
    items.insert(items.len() - 1, items[5].clone());
    items.push(value(700, 9999));
    s.values.put_many(items.clone()).await?;
    let mut distinct: Vec<(Digest, Bytes)> = Vec::new();
    for item in &items {
        if !distinct.iter().any(|(k, _)| *k == item.0) {
            distinct.push(item.clone());
        }
    }
    let n = items.len();
    let position = |i: usize| match i {
        0 => "first".to_owned(),
        i if i == n - 1 => "last".to_owned(),
        i if i == n / 2 => format!("{i} (the middle)"),
        i => i.to_string(),
    };
    for (i, (key, bytes)) in items.iter().enumerate() {
        let got = s.values.get(*key).await?;
        ensure!(
            got.as_ref() == Some(bytes),
            "put_many item {} of {n} ({} bytes): get returned {}",
            position(i),
            bytes.len(),
            match &got {
                None => "None".to_owned(),
                Some(g) => byte_difference(bytes, g),
            }
        );
        ensure!(
            s.values.contains(*key).await?,
            "put_many item {} of {n}: contains is false",
            position(i)
        );
    }
    // get_many in reverse order of the batch.
    let keys: Vec<Digest> = items.iter().rev().map(|(k, _)| *k).collect();
    let got = s.values.get_many(&keys).await?;
    ensure!(
        got.len() == keys.len(),
        "get_many of the {} keys put returned {} answers",
        keys.len(),
        got.len()
    );
    for (j, ((_, bytes), answer)) in items.iter().rev().zip(&got).enumerate() {
        ensure!(
            answer.as_ref() == Some(bytes),
            "get_many (reverse order) answer {j}, put_many item {}: expected {} bytes, got {}",
            position(n - 1 - j),
            bytes.len(),
            answer
                .as_ref()
                .map_or("None".to_owned(), |g| byte_difference(bytes, g))
        );
    }
    let mut all = listed(&s, "").await?;
    all.sort();
    let mut expected: Vec<Digest> = distinct.iter().map(|(k, _)| *k).collect();
    expected.sort();
    ensure!(
        all == expected,
        "put_many of {} distinct keys ({n} items): list(\"\") returned {} keys{}",
        expected.len(),
        all.len(),
        if all.len() == expected.len() {
            ", other ones"
        } else {
            ""
        }
    );
    Ok(())
}

/// Promise 3 for the value store: 32 tasks put the same key and bytes at
/// the same moment (the stampede of one result). Every put is `Ok`, readers
/// running meanwhile see either nothing or the whole value, and afterwards
/// the bytes read back exactly and `list` shows the key once.
pub(crate) async fn values_concurrent_identical_puts(h: &Harness) -> CaseResult {
    const WRITERS: usize = 32;
    const READERS: usize = 4;
    let (_, s) = h.fresh().await?;
    for (round, len) in [(0u64, 3usize), (1, (512 << 10) + 7)] {
        let (key, bytes) = value(800 + round, len);
        let writes = (0..WRITERS)
            .map(|_| {
                let (s, bytes) = (s.clone(), bytes.clone());
                async move {
                    s.values
                        .put(key, bytes)
                        .await
                        .map_err(|e| format!("a put failed: {e}"))
                }
            })
            .collect();
        let (reader, want) = (s.clone(), bytes.clone());
        let read = move || {
            let (s, bytes) = (reader.clone(), want.clone());
            async move {
                match s.values.get(key).await {
                    Ok(None) => Ok(()),
                    Ok(Some(got)) if got == bytes => Ok(()),
                    Ok(Some(got)) => Err(format!(
                        "a reader saw a torn value: {}",
                        byte_difference(&bytes, &got)
                    )),
                    Err(e) => Err(format!("a get failed meanwhile: {e}")),
                }
            }
        };
        all_at_once(writes, READERS, 5, read).await.map_err(|e| {
            CaseError::fail(format!(
                "{WRITERS} tasks put the same {len} bytes at once: {e}"
            ))
        })?;
        let got = s.values.get(key).await?;
        ensure!(
            got.as_ref() == Some(&bytes),
            "{WRITERS} tasks put the same {len} bytes at once; get returned {}",
            got.as_ref()
                .map_or("None".to_owned(), |g| byte_difference(&bytes, g))
        );
        let all = listed(&s, "").await?;
        let times = all.iter().filter(|k| **k == key).count();
        ensure!(
            times == 1 && all.len() == round as usize + 1,
            "{WRITERS} tasks put the same {len} bytes at once; list(\"\") shows the key {times} times among {} keys, expected once among {}",
            all.len(),
            round + 1
        );
    }
    Ok(())
}
