//! Records and values to write.
//!
//! The fixtures are deliberately not round: timestamps carry sub-second
//! microseconds (never a whole millisecond), and the metadata holds a
//! `null`, a path five levels deep and values that look alike but differ in
//! JSON type (`7` and `"7"`, `true` and `"true"`, `1` and `true`), so that a
//! store which rounds, drops or retypes anything reads back something else.

use fleche_core::{ArgDigest, Bytes, CallRecord, Digest, Metadata, Timestamp, ValueRef, codec};
use serde_json::{Value, json};

/// A value whose bytes depend on `seed`, of `len` bytes.
pub(crate) fn value(seed: u64, len: usize) -> (Digest, Bytes) {
    let mut bytes = Vec::with_capacity(len);
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while bytes.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    bytes.truncate(len);
    (Digest::of(&bytes), Bytes::from(bytes))
}

/// The key of the `n`th record of a case.
pub(crate) fn key(case: &str, n: u64) -> Digest {
    Digest::of(format!("{case}/{n}").as_bytes())
}

/// 2023-11-14T22:13:20Z, in microseconds: the base of [`created_at`].
pub(crate) const BASE_MICROS: i64 = 1_700_000_000_000_000;

/// The `created_at` of [`record`]`(_, _, n)`: `n` seconds after
/// [`BASE_MICROS`], plus a sub-second part that differs from one `n` to the
/// next and is never a whole number of milliseconds
/// (`100_001 + (n % 800) × 1_001` µs, whose last three digits are
/// `1 + n % 800`).
pub(crate) const fn created_at(n: u64) -> Timestamp {
    Timestamp::from_micros(
        BASE_MICROS + (n as i64) * 1_000_000 + 100_001 + ((n % 800) as i64) * 1_001,
    )
}

/// What `extra.kind` holds in record `n`, by `n % 6`: `7`, `"7"`, `true`,
/// `"true"`, `1`, `null` — values that look alike as text but differ as
/// JSON.
pub(crate) fn kind(n: u64) -> Value {
    match n % 6 {
        0 => json!(7),
        1 => json!("7"),
        2 => json!(true),
        3 => json!("true"),
        4 => json!(1),
        _ => Value::Null,
    }
}

/// A record with every field set, distinct for each `(key, n)`.
///
/// Its metadata: `tags.writer` (`n` as text), `tags.parity` (`"even"` or
/// `"odd"`), `runtime.wall_s` (`n / 8`), `runtime.cpu_s` (0.25),
/// `extra.kind` ([`kind`]), `extra.none` (`null` in every record),
/// `extra.deep.a.b.c.d` (`"x0"`, `"x1"` or `"x2"` by `n % 3`), and
/// `extra.sometimes`, which only records with `n % 3 == 0` have (holding
/// `null`). Created at [`created_at`]`(n)`.
pub(crate) fn record(key: Digest, function: &str, n: u64) -> CallRecord {
    let result = codec::encode(&(n, format!("result {n}"))).expect("encodes");
    let mut metadata = Metadata::new();
    metadata.insert(
        "tags".into(),
        json!({ "writer": n.to_string(), "parity": if n.is_multiple_of(2) { "even" } else { "odd" } }),
    );
    metadata.insert(
        "runtime".into(),
        json!({ "wall_s": n as f64 / 8.0, "cpu_s": 0.25 }),
    );
    let mut extra = json!({
        "kind": kind(n),
        "none": null,
        "deep": { "a": { "b": { "c": { "d": format!("x{}", n % 3) } } } },
    });
    if n.is_multiple_of(3) {
        extra["sometimes"] = Value::Null;
    }
    metadata.insert("extra".into(), extra);
    CallRecord::new(
        key,
        function,
        ValueRef {
            digest: Digest::of(&result),
            inline: Some(result.into()),
        },
    )
    .with_version(u32::try_from(n % 7).unwrap_or(0))
    .with_code(Some(Digest::of(function.as_bytes())))
    .with_args(vec![
        ArgDigest {
            name: "n".into(),
            digest: codec::digest(&n).expect("encodes"),
        },
        ArgDigest {
            name: "label".into(),
            digest: codec::digest(&format!("#{n}")).expect("encodes"),
        },
    ])
    .with_metadata(metadata)
    .with_created_at(created_at(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_never_whole_milliseconds_and_keep_their_order() {
        for n in 0..10_000 {
            let t = created_at(n).as_micros();
            assert_ne!(t % 1_000, 0, "n = {n}");
            assert!(created_at(n + 1).as_micros() > t, "n = {n}");
            assert_eq!((t - BASE_MICROS) / 1_000_000, n as i64, "n = {n}");
        }
    }

    #[test]
    fn look_alikes_differ_as_json() {
        let kinds: Vec<Value> = (0..6).map(kind).collect();
        for (i, a) in kinds.iter().enumerate() {
            for b in &kinds[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }
}
