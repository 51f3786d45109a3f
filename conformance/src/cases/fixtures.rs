//! Records and values to write.

use fleche_core::{ArgDigest, Bytes, CallRecord, Digest, Metadata, Timestamp, ValueRef, codec};
use serde_json::json;

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

/// A record with every field set, distinct for each `(key, n)`.
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
    .with_created_at(Timestamp::from_micros(
        1_700_000_000_000_000 + i64::try_from(n).unwrap_or(0) * 1_000_000,
    ))
}
