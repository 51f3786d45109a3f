//! Tests of the deterministic CBOR codec: exact bytes, errors, determinism,
//! round trips, streaming digests, a cross-check against ciborium and an
//! independent check that every encoding is canonical (RFC 8949 §4.2.1).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::fmt::Debug;

use ciborium::Value;
use proptest::collection::{btree_map, btree_set, vec};
use proptest::prelude::*;
use serde::de::DeserializeOwned;
use serde::ser::{SerializeMap, SerializeSeq, SerializeTuple};
use serde::{Deserialize, Serialize, Serializer};
use serde_bytes::ByteBuf;

use super::{CodecError, decode, digest, encode, encode_with_digest, hash_into};
use crate::Digest;

/// The encoding of `v` in lowercase hex.
fn hx<T: Serialize + ?Sized>(v: &T) -> String {
    hex::encode(encode(v).unwrap())
}

fn encode_err<T: Serialize + ?Sized>(v: &T) -> String {
    match encode(v) {
        Err(CodecError::Encode(msg)) => msg,
        other => panic!("expected an encode error, got {other:?}"),
    }
}

/// The encoding ciborium's own serializer gives.
fn ciborium_bytes<T: Serialize + ?Sized>(v: &T) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(v, &mut out).unwrap();
    out
}

/// Every way of hashing `v` gives BLAKE3 of `encode(v)`.
fn assert_digest_consistent<T: Serialize + ?Sized>(v: &T) {
    let bytes = encode(v).unwrap();
    let expected = Digest::of(&bytes);
    assert_eq!(
        digest(v).unwrap(),
        expected,
        "digest of {} encoded bytes",
        bytes.len()
    );
    let (b2, d2) = encode_with_digest(v).unwrap();
    assert_eq!(b2, bytes);
    assert_eq!(d2, expected);
    let mut keyed = blake3::Hasher::new_derive_key("fleche test");
    hash_into(&mut keyed, v).unwrap();
    let keyed = keyed.finalize();
    let mut whole = blake3::Hasher::new_derive_key("fleche test");
    whole.update(&bytes);
    assert_eq!(keyed, whole.finalize());
}

/// `decode(encode(v)) == v`, and re-encoding the decoded value gives the same
/// bytes (which also pins float bits such as `-0.0`).
fn assert_round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(v: &T) {
    let bytes = encode(v).unwrap();
    let back: T = decode(&bytes).unwrap();
    assert_eq!(&back, v);
    assert_eq!(encode(&back).unwrap(), bytes);
}

// ---------------------------------------------------------------------------
// Exact bytes.
// ---------------------------------------------------------------------------

#[test]
fn unsigned_integers_use_the_shortest_head() {
    assert_eq!(hx(&0u64), "00");
    assert_eq!(hx(&23u64), "17");
    assert_eq!(hx(&24u64), "1818");
    assert_eq!(hx(&255u64), "18ff");
    assert_eq!(hx(&256u64), "190100");
    assert_eq!(hx(&65535u64), "19ffff");
    assert_eq!(hx(&65536u64), "1a00010000");
    assert_eq!(hx(&u64::from(u32::MAX)), "1affffffff");
    assert_eq!(hx(&(u64::from(u32::MAX) + 1)), "1b0000000100000000");
    assert_eq!(hx(&u64::MAX), "1bffffffffffffffff");
    // The width of the Rust type does not matter, only the value.
    assert_eq!(hx(&23u8), "17");
    assert_eq!(hx(&255u8), "18ff");
    assert_eq!(hx(&256u16), "190100");
    assert_eq!(hx(&u32::MAX), "1affffffff");
    assert_eq!(hx(&24i8), "1818");
    assert_eq!(hx(&65536i32), "1a00010000");
    assert_eq!(hx(&7u128), "07");
    assert_eq!(hx(&7i128), "07");
    assert_eq!(hx(&7usize), "07");
}

#[test]
fn negative_integers_use_the_shortest_head() {
    assert_eq!(hx(&-1i64), "20");
    assert_eq!(hx(&-24i64), "37");
    assert_eq!(hx(&-25i64), "3818");
    assert_eq!(hx(&-256i64), "38ff");
    assert_eq!(hx(&-257i64), "390100");
    assert_eq!(hx(&-65537i64), "3a00010000");
    assert_eq!(hx(&i64::MIN), "3b7fffffffffffffff");
    assert_eq!(hx(&i8::MIN), "387f");
    assert_eq!(hx(&i16::MIN), "397fff");
    assert_eq!(hx(&i32::MIN), "3a7fffffff");
    assert_eq!(hx(&-1i8), "20");
}

#[test]
fn integers_beyond_64_bits_are_bignums() {
    // Values that fit 64 bits never use a bignum.
    assert_eq!(hx(&u128::from(u64::MAX)), "1bffffffffffffffff");
    assert_eq!(hx(&i128::from(u64::MAX)), "1bffffffffffffffff");
    assert_eq!(hx(&i128::from(i64::MIN)), "3b7fffffffffffffff");
    // -2^64 is the most negative CBOR major-type-1 integer.
    assert_eq!(hx(&-(1i128 << 64)), "3bffffffffffffffff");
    // Tag 2, leading zero bytes stripped.
    assert_eq!(hx(&(u128::from(u64::MAX) + 1)), "c249010000000000000000");
    assert_eq!(hx(&((1u128 << 64) + 1)), "c249010000000000000001");
    assert_eq!(hx(&u128::MAX), format!("c250{}", "ff".repeat(16)));
    assert_eq!(hx(&(1i128 << 64)), "c249010000000000000000");
    assert_eq!(hx(&i128::MAX), format!("c2507f{}", "ff".repeat(15)));
    // Tag 3 holds -1 - n.
    assert_eq!(hx(&(-(1i128 << 64) - 1)), "c349010000000000000000");
    assert_eq!(hx(&i128::MIN), format!("c3507f{}", "ff".repeat(15)));
}

#[test]
fn floats_use_the_shortest_exact_form() {
    assert_eq!(hx(&0.0f64), "f90000");
    assert_eq!(hx(&-0.0f64), "f98000");
    assert_eq!(hx(&1.5f64), "f93e00");
    assert_eq!(hx(&1.0f64), "f93c00");
    assert_eq!(hx(&65504.0f64), "f97bff"); // largest half
    assert_eq!(hx(&5.960_464_477_539_063e-8f64), "f90001"); // smallest half subnormal
    assert_eq!(hx(&100_000.0f64), "fa47c35000");
    assert_eq!(hx(&f64::from(f32::MAX)), "fa7f7fffff");
    assert_eq!(hx(&1.1f64), "fb3ff199999999999a");
    assert_eq!(hx(&1.0e300f64), "fb7e37e43c8800759c");
    assert_eq!(hx(&f64::INFINITY), "f97c00");
    assert_eq!(hx(&f64::NEG_INFINITY), "f9fc00");
    // f32 goes through the same rule.
    assert_eq!(hx(&1.5f32), "f93e00");
    assert_eq!(hx(&0.1f32), "fa3dcccccd");
    assert_eq!(hx(&f32::INFINITY), "f97c00");
}

#[test]
fn every_nan_is_the_half_quiet_nan() {
    let nans = [
        f64::NAN,
        -f64::NAN,
        f64::from_bits(0x7ff0_0000_0000_0001), // signalling
        f64::from_bits(0xfff8_0000_dead_beef), // negative, payload
        f64::from_bits(0x7fff_ffff_ffff_ffff),
    ];
    for nan in nans {
        assert_eq!(hx(&nan), "f97e00", "{:#x}", nan.to_bits());
    }
    assert_eq!(hx(&f32::NAN), "f97e00");
    assert_eq!(hx(&f32::from_bits(0xff80_0001)), "f97e00");
    // So NaN-holding values digest equally whatever the NaN's bits.
    assert_eq!(
        digest(&vec![f64::NAN, 1.0]).unwrap(),
        digest(&vec![-f64::NAN, 1.0]).unwrap()
    );
}

/// Independent of `half`: the value of every non-NaN half-precision bit
/// pattern, computed from the IEEE 754 definition.
fn f16_bits_to_f64(bits: u16) -> f64 {
    let sign = if bits & 0x8000 == 0 { 1.0 } else { -1.0 };
    let exp = i32::from((bits >> 10) & 0x1f);
    let man = f64::from(bits & 0x3ff);
    match exp {
        0 => sign * man * 2f64.powi(-24),
        31 if man == 0.0 => sign * f64::INFINITY,
        31 => f64::NAN,
        _ => sign * (1.0 + man / 1024.0) * 2f64.powi(exp - 15),
    }
}

#[test]
fn every_half_value_is_written_as_half() {
    for bits in 0..=u16::MAX {
        let v = f16_bits_to_f64(bits);
        let expected = if v.is_nan() {
            vec![0xf9, 0x7e, 0x00]
        } else {
            vec![0xf9, (bits >> 8) as u8, bits as u8]
        };
        assert_eq!(encode(&v).unwrap(), expected, "half {bits:#06x} as f64");
        assert_eq!(
            encode(&(v as f32)).unwrap(),
            expected,
            "half {bits:#06x} as f32"
        );
    }
}

#[test]
fn text_bool_and_null() {
    assert_eq!(hx(""), "60");
    assert_eq!(hx("a"), "6161");
    assert_eq!(hx("fleche"), "66666c65636865");
    assert_eq!(hx(&"x".repeat(24)), format!("7818{}", "78".repeat(24)));
    assert_eq!(hx(&String::from("é")), "62c3a9");
    assert_eq!(hx(&'é'), "62c3a9");
    assert_eq!(hx(&true), "f5");
    assert_eq!(hx(&false), "f4");
    assert_eq!(hx(&()), "f6");
    assert_eq!(hx(&None::<u32>), "f6");
    assert_eq!(hx(&None::<String>), "f6");
}

#[test]
fn some_is_transparent() {
    assert_eq!(encode(&Some(5u32)).unwrap(), encode(&5u32).unwrap());
    assert_eq!(encode(&Some("x")).unwrap(), encode("x").unwrap());
    assert_eq!(
        encode(&Some(vec![1u8, 2])).unwrap(),
        encode(&vec![1u8, 2]).unwrap()
    );
    assert_eq!(digest(&Some(1.5f64)).unwrap(), digest(&1.5f64).unwrap());
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Kinds {
    Unit,
    New(u64),
    Tup(u8, u8),
    Str { b: u8, a: u8 },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct UnitStruct;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Newtype(u64);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct TupleStruct(u8, u8, u8);

/// Fields declared out of canonical order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Unsorted {
    zz: u8,
    b: u8,
    aaa: u8,
    a: u8,
    #[serde(rename = "B")]
    upper_b: u8,
}

#[test]
fn enums_structs_and_tuple_structs() {
    assert_eq!(hx(&Kinds::Unit), "64556e6974"); // "Unit"
    assert_eq!(hx(&Kinds::New(5)), "a1634e657705"); // {"New": 5}
    // Tuple variants are arrays even when every field is a u8.
    assert_eq!(hx(&Kinds::Tup(1, 2)), "a1635475708201 02".replace(' ', ""));
    // {"Str": {"a": 2, "b": 1}}: fields sorted.
    assert_eq!(
        hx(&Kinds::Str { b: 1, a: 2 }),
        "a163537472a26161026162 01".replace(' ', "")
    );
    assert_eq!(hx(&UnitStruct), "f6");
    assert_eq!(hx(&Newtype(300)), hx(&300u64));
    // Tuple structs are arrays, never byte strings.
    assert_eq!(hx(&TupleStruct(1, 2, 3)), "83010203");
    // Keys by encoded bytes: shorter text first, then bytewise ("B" < "a").
    let s = Unsorted {
        zz: 1,
        b: 2,
        aaa: 3,
        a: 4,
        upper_b: 5,
    };
    assert_eq!(
        hx(&s),
        "a5 6142 05 6161 04 6162 02 627a7a 01 63616161 03".replace(' ', "")
    );
    for v in [
        Kinds::Unit,
        Kinds::New(u64::MAX),
        Kinds::Tup(0, 255),
        Kinds::Str { b: 9, a: 8 },
    ] {
        assert_round_trip(&v);
    }
    assert_round_trip(&UnitStruct);
    assert_round_trip(&Newtype(7));
    assert_round_trip(&TupleStruct(7, 8, 9));
    assert_round_trip(&s);
}

/// The hex of a `Vec<u8>`'s encoding built by hand: an array head, then
/// each byte as an unsigned integer (one byte below 24, else `18 xx`).
fn u8_array_hex(v: &[u8]) -> String {
    let mut out = match v.len() {
        n @ 0..=23 => format!("{:02x}", 0x80 + n),
        n @ 24..=255 => format!("98{n:02x}"),
        n @ 256..=65535 => format!("99{n:04x}"),
        n => format!("9a{n:08x}"),
    };
    for &b in v {
        if b < 24 {
            out.push_str(&format!("{b:02x}"));
        } else {
            out.push_str(&format!("18{b:02x}"));
        }
    }
    out
}

#[test]
fn u8_sequences_are_arrays_of_integers() {
    let v: Vec<u8> = vec![1, 2, 3, 4];
    let array = "8401020304";
    assert_eq!(hx(&v), array);
    assert_eq!(hx(&v[..]), array);
    assert_eq!(hx(&[1u8, 2, 3, 4]), array);
    assert_eq!(hx(&(1u8, 2u8, 3u8, 4u8)), array);
    assert_eq!(hx(&VecDeque::from(v.clone())), array);
    assert_eq!(hx(&(1u8, 2u8)), "820102");
    assert_eq!(hx(&TupleStruct(1, 2, 3)), "83010203");
    // Exactly as ciborium writes them.
    assert_eq!(encode(&v).unwrap(), ciborium_bytes(&v));
    assert_eq!(
        encode(&[1u8, 2, 3, 4]).unwrap(),
        ciborium_bytes(&[1u8, 2, 3, 4])
    );
    assert_eq!(encode(&(1u8, 2u8)).unwrap(), ciborium_bytes(&(1u8, 2u8)));
    // Bytes above 23 take two bytes each; long ones get a long head.
    let long: Vec<u8> = (0..=255).collect();
    let enc = encode(&long).unwrap();
    assert_eq!(&enc[..5], &[0x99, 0x01, 0x00, 0x00, 0x01]);
    assert_eq!(enc.len(), 3 + 24 + 232 * 2);
    assert_eq!(hex::encode(&enc), u8_array_hex(&long));
    assert_eq!(hx(&vec![7u8; 24]), format!("9818{}", "07".repeat(24)));
    assert_eq!(hx(&vec![24u8, 255]), "821818 18ff".replace(' ', ""));
    // Empty sequences are empty arrays.
    assert_eq!(hx(&Vec::<u8>::new()), "80");
    assert_eq!(hx(&[0u8; 0]), "80");
    assert_eq!(hx(&Vec::<u16>::new()), "80");
    // Other element types, or a u8 among others, are arrays as before.
    assert_eq!(hx(&vec![1u16, 2]), "820102");
    assert_eq!(hx(&vec![1i8, 2]), "820102");
    assert_eq!(hx(&vec![Some(1u8)]), "8101");
    assert_eq!(hx(&(1u8, 2u16)), "820102");
    assert_eq!(hx(&(1u8, 2u8, "x")), "8301026178");
    assert_eq!(hx(&vec![vec![1u8], vec![]]), "82810180");
}

#[test]
fn only_explicit_byte_types_are_byte_strings() {
    let v: Vec<u8> = vec![1, 2, 3, 4];
    let string = "4401020304";
    assert_eq!(hx(&ByteBuf::from(v.clone())), string);
    assert_eq!(hx(serde_bytes::Bytes::new(&v)), string);
    assert_eq!(hx(&bytes::Bytes::from(v.clone())), string);
    assert_eq!(hx(&ByteBuf::new()), "40");
    assert_eq!(hx(serde_bytes::Bytes::new(&[])), "40");
    assert_eq!(hx(&bytes::Bytes::new()), "40");
    let long: Vec<u8> = (0..=255).collect();
    assert_eq!(
        hx(&ByteBuf::from(long.clone())),
        format!("590100{}", hex::encode(&long))
    );
    assert_eq!(
        hx(&bytes::Bytes::from(vec![7u8; 24])),
        format!("5818{}", "07".repeat(24))
    );
    assert_eq!(
        hx(&vec![ByteBuf::from(vec![1u8]), ByteBuf::new()]),
        "82410140"
    );
    // The same bytes in a Vec<u8> and in a ByteBuf are different values.
    for w in [vec![], vec![0u8], v.clone(), long] {
        let buf = ByteBuf::from(w.clone());
        assert_ne!(encode(&w).unwrap(), encode(&buf).unwrap(), "{w:?}");
        assert_ne!(digest(&w).unwrap(), digest(&buf).unwrap(), "{w:?}");
        assert_eq!(
            digest(&buf).unwrap(),
            digest(&bytes::Bytes::from(w.clone())).unwrap()
        );
    }
}

#[test]
fn byte_sequences_round_trip_in_every_form() {
    let v: Vec<u8> = (0..=255).collect();
    assert_round_trip(&v);
    assert_round_trip(&Vec::<u8>::new());
    assert_round_trip(&[9u8, 8, 7, 6]);
    assert_round_trip(&(1u8, 2u8));
    assert_round_trip(&(1u8, 2u8, String::from("x")));
    assert_round_trip(&ByteBuf::from(v.clone()));
    assert_round_trip(&ByteBuf::new());
    assert_round_trip(&bytes::Bytes::from(v.clone()));
    assert_round_trip(&VecDeque::from(v.clone()));
    // Decoded directly (not through serde's buffering), every byte type
    // reads both encodings.
    let array = encode(&v).unwrap();
    let string = encode(&ByteBuf::from(v.clone())).unwrap();
    for enc in [&array, &string] {
        assert_eq!(decode::<Vec<u8>>(enc).unwrap(), v);
        assert_eq!(decode::<ByteBuf>(enc).unwrap().into_vec(), v);
        assert_eq!(decode::<bytes::Bytes>(enc).unwrap(), v);
    }
    for enc4 in [
        encode(&[1u8, 2, 3, 4]).unwrap(),
        encode(&ByteBuf::from(vec![1u8, 2, 3, 4])).unwrap(),
    ] {
        assert_eq!(decode::<[u8; 4]>(&enc4).unwrap(), [1, 2, 3, 4]);
        assert_eq!(decode::<(u8, u8, u8, u8)>(&enc4).unwrap(), (1, 2, 3, 4));
    }
}

// Values that serde deserializes through its buffered `Content` (internally
// tagged and untagged enums, `#[serde(flatten)]`), which cannot turn a byte
// string into a `Vec<u8>` or an array: these must still round-trip.

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
enum Tagged {
    Blob {
        data: Vec<u8>,
        fixed: [u8; 4],
    },
    Mixed {
        raw: ByteBuf,
        pair: (u8, u8),
        set: HashSet<u64>,
    },
    Inner(BytesInner),
    Empty,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
/// No `String` variant: serde_bytes' `ByteBuf` would read a string too.
#[serde(untagged)]
enum Loose {
    Bytes(Vec<u8>),
    Raw(ByteBuf),
    Num(u64),
    Fields {
        fixed: [u8; 4],
        maybe: Option<Vec<u8>>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct BytesInner {
    data: Vec<u8>,
    raw: ByteBuf,
    fixed: [u8; 4],
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Flattened {
    id: u64,
    #[serde(flatten)]
    inner: BytesInner,
    #[serde(flatten)]
    rest: BTreeMap<String, Vec<u8>>,
}

fn bytes_inner(data: &[u8], fixed: [u8; 4]) -> BytesInner {
    BytesInner {
        data: data.to_vec(),
        raw: ByteBuf::from(data.iter().rev().copied().collect::<Vec<u8>>()),
        fixed,
    }
}

#[test]
fn internally_tagged_enums_with_u8_sequences_round_trip() {
    let blob = Tagged::Blob {
        data: vec![1, 2, 255],
        fixed: [9, 8, 7, 200],
    };
    // {"data": [1, 2, 255], "kind": "Blob", "fixed": [9, 8, 7, 200]}: the
    // tag is one more field, sorted with the others.
    assert_eq!(
        hx(&blob),
        "a3 6464617461 830102 18ff 646b696e64 64426c6f62 656669786564 84090807 18c8"
            .replace(' ', "")
    );
    let values = [
        blob,
        Tagged::Blob {
            data: vec![],
            fixed: [0; 4],
        },
        Tagged::Blob {
            data: (0..=255).collect(),
            fixed: [255; 4],
        },
        Tagged::Mixed {
            raw: ByteBuf::from(vec![1, 2, 3]),
            pair: (4, 250),
            set: (0..40).collect(),
        },
        Tagged::Mixed {
            raw: ByteBuf::new(),
            pair: (0, 0),
            set: HashSet::new(),
        },
        Tagged::Inner(bytes_inner(&[5, 6, 7], [1, 2, 3, 4])),
        Tagged::Empty,
    ];
    for v in &values {
        assert_round_trip(v);
    }
}

#[test]
fn untagged_enums_with_u8_sequences_round_trip() {
    let values = [
        Loose::Bytes(vec![1, 2, 3]),
        Loose::Bytes(vec![]),
        Loose::Bytes((0..=255).collect()),
        Loose::Raw(ByteBuf::from(vec![1, 2, 3])),
        Loose::Raw(ByteBuf::new()),
        Loose::Num(7),
        Loose::Fields {
            fixed: [1, 2, 3, 4],
            maybe: Some(vec![30, 40]),
        },
        Loose::Fields {
            fixed: [0; 4],
            maybe: None,
        },
    ];
    for v in &values {
        assert_round_trip(v);
    }
    // The variant decides the encoding: an array or a byte string.
    assert_eq!(hx(&Loose::Bytes(vec![1, 2])), "820102");
    assert_eq!(hx(&Loose::Raw(ByteBuf::from(vec![1, 2]))), "420102");
}

#[test]
fn flattened_structs_with_u8_sequences_round_trip() {
    let v = Flattened {
        id: 3,
        inner: bytes_inner(&[1, 2, 3, 200], [4, 5, 6, 7]),
        rest: [
            ("extra".to_owned(), vec![9u8, 10]),
            ("more".to_owned(), vec![]),
        ]
        .into_iter()
        .collect(),
    };
    // One flat map, keys sorted by encoding.
    assert_eq!(
        hx(&v),
        concat!(
            "a6",
            "626964 03",
            "63726177 44c8030201",
            "6464617461 8401020318c8",
            "646d6f7265 80",
            "6565787472 61 82090a",
            "656669786564 8404050607",
        )
        .replace(' ', "")
    );
    assert_round_trip(&v);
    assert_round_trip(&Flattened {
        id: 0,
        inner: bytes_inner(&[], [0; 4]),
        rest: BTreeMap::new(),
    });
    assert_round_trip(&Flattened {
        id: u64::MAX,
        inner: bytes_inner(&(0..=255).collect::<Vec<u8>>(), [255; 4]),
        rest: BTreeMap::from([("k".to_owned(), (0..=255).collect())]),
    });
}

/// Serializes through `collect_seq` over a filter, whose length serde does
/// not know in advance.
struct Filtered<T>(Vec<T>);

impl<T: Serialize + PartialEq + Default> Serialize for Filtered<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let zero = T::default();
        s.collect_seq(self.0.iter().filter(|x| **x != zero))
    }
}

/// A sequence of unknown length: two u8 then a string.
struct UnknownMixed;

impl Serialize for UnknownMixed {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        seq.serialize_element(&1u8)?;
        seq.serialize_element(&2u8)?;
        seq.serialize_element("x")?;
        seq.end()
    }
}

#[test]
fn unknown_length_sequences_are_still_definite() {
    assert_eq!(hx(&Filtered(vec![0u8, 1, 0, 2, 3])), "83010203");
    assert_eq!(hx(&Filtered(vec![0u16, 1, 0, 2, 300])), "83010219012c");
    assert_eq!(hx(&Filtered(vec![0u8, 0])), "80");
    assert_eq!(hx(&Filtered(vec![String::new(), "a".into()])), "816161");
    assert_eq!(hx(&UnknownMixed), "8301026178");
    // Long enough to need a multi-byte head.
    let long: Vec<u16> = (0..1000).collect();
    let enc = encode(&Filtered(long.clone())).unwrap();
    assert_eq!(&enc[..3], &[0x99, 0x03, 0xe7]); // 999 elements
    assert_eq!(decode::<Vec<u16>>(&enc).unwrap(), long[1..]);
    check_canonical(&enc).unwrap();
}

#[test]
fn maps_are_sorted_by_encoded_key() {
    let m: HashMap<&str, u8> = [("b", 2), ("aa", 3), ("a", 1)].into_iter().collect();
    assert_eq!(hx(&m), "a3616101616202626161 03".replace(' ', ""));
    let b: BTreeMap<&str, u8> = m.iter().map(|(k, v)| (*k, *v)).collect();
    assert_eq!(hx(&b), hx(&m));
    // Integer keys: unsigned (major 0) before negative (major 1).
    let ints: BTreeMap<i64, bool> = [(-1, true), (0, false), (24, true), (1, false)]
        .into_iter()
        .collect();
    assert_eq!(hx(&ints), "a4 00f4 01f4 1818f5 20f5".replace(' ', ""));
    // Keys of mixed types: integers, byte strings, text.
    let mixed = Value::Map(vec![
        (Value::Text("a".into()), Value::Integer(1.into())),
        (Value::Bytes(vec![0]), Value::Integer(2.into())),
        (Value::Integer(10.into()), Value::Integer(3.into())),
    ]);
    assert_eq!(hx(&mixed), "a3 0a03 410002 616101".replace(' ', ""));
    assert_eq!(hx(&BTreeMap::<u8, u8>::new()), "a0");
}

/// The elements of one CBOR array, each as its own encoded bytes; `None`
/// if `b` is not exactly one canonical array.
fn array_elements(b: &[u8]) -> Option<Vec<&[u8]>> {
    check_canonical(b).ok()?;
    let mut pos = 0;
    let initial = take(b, &mut pos, 1).ok()?[0];
    if initial >> 5 != 4 {
        return None;
    }
    let len = head_argument(b, &mut pos, initial & 0x1f).ok()?;
    let mut out = Vec::new();
    for _ in 0..len {
        let start = pos;
        canonical_item(b, &mut pos).ok()?;
        out.push(&b[start..pos]);
    }
    Some(out)
}

/// Whether `b` is an array whose elements' encodings strictly increase
/// bytewise: the form the encoder gives a hash set.
fn is_sorted_set(b: &[u8]) -> bool {
    array_elements(b).is_some_and(|e| e.windows(2).all(|w| w[0] < w[1]))
}

/// What a hash set of `items` must encode to, built without the hash set:
/// an array of the elements sorted by their encodings.
fn set_by_hand<T: Serialize>(items: impl IntoIterator<Item = T>) -> Vec<u8> {
    let mut encoded: Vec<Vec<u8>> = items.into_iter().map(|x| encode(&x).unwrap()).collect();
    encoded.sort();
    let values: Vec<Value> = encoded
        .iter()
        .map(|e| decode::<Value>(e).unwrap())
        .collect();
    let out = encode(&values).unwrap();
    assert_eq!(array_elements(&out).unwrap(), encoded);
    out
}

#[test]
fn hash_set_encoding_ignores_iteration_order() {
    let a: HashSet<i64> = (0..100).collect();
    let b: HashSet<i64> = (0..100).rev().collect();
    let mut c: HashSet<i64> = HashSet::with_capacity(1000);
    c.extend((0..100).step_by(2).chain((1..100).step_by(2)));
    assert_eq!(a, b);
    assert_eq!(encode(&a).unwrap(), encode(&b).unwrap());
    assert_eq!(encode(&a).unwrap(), encode(&c).unwrap());
    assert_eq!(digest(&a).unwrap(), digest(&b).unwrap());
    assert_eq!(digest(&a).unwrap(), digest(&c).unwrap());
    assert!(is_sorted_set(&encode(&a).unwrap()));
    assert_digest_consistent(&a);
    // A set of u8 is an array of integers, like every u8 sequence.
    assert_eq!(hx(&HashSet::<u8>::from([3, 1, 2])), "83010203");
    assert_eq!(hx(&HashSet::<u16>::from([3, 1, 2])), "83010203");
    assert_eq!(hx(&HashSet::<u8>::new()), "80");
    // Sorted by encoding, not by `Ord`: shorter texts first, and
    // non-negative integers (major 0) before negative ones (major 1).
    assert_eq!(
        hx(&HashSet::from(["b", "cc", "a"])),
        "83 6161 6162 626363".replace(' ', "")
    );
    assert_eq!(
        hx(&HashSet::from([-1i64, 24, 0, -2])),
        "84 00 1818 20 21".replace(' ', "")
    );
    assert_eq!(
        hx(&HashSet::from([vec![1u8, 2], vec![3]])),
        "82 8103 820102".replace(' ', "")
    );
    // Byte strings and arrays of the same bytes are distinct elements.
    #[derive(PartialEq, Eq, Hash, Serialize)]
    #[serde(untagged)]
    enum Either {
        Array(Vec<u8>),
        Bytes(ByteBuf),
    }
    let mixed = HashSet::from([
        Either::Array(vec![1]),
        Either::Bytes(ByteBuf::from(vec![1])),
    ]);
    assert_eq!(hx(&mixed), "82 4101 8101".replace(' ', ""));
    // Equal to the hand-built form.
    assert_eq!(encode(&a).unwrap(), set_by_hand(0..100i64));
    // Wherever the set sits: in a struct, an option, a map, a tuple.
    #[derive(Serialize)]
    struct Holder {
        set: HashSet<String>,
        maybe: Option<HashSet<u64>>,
        by_name: HashMap<String, HashSet<i32>>,
    }
    let holder = |rev: bool| {
        let order = |n: i32| if rev { 49 - n } else { n };
        Holder {
            set: (0..50).map(|n| format!("s{}", order(n))).collect(),
            maybe: Some((0..50).map(|n| order(n) as u64 * 1000).collect()),
            by_name: (0..5)
                .map(|k| (format!("k{k}"), (0..50).map(|n| order(n) - 25).collect()))
                .collect(),
        }
    };
    assert_eq!(
        encode(&holder(false)).unwrap(),
        encode(&holder(true)).unwrap()
    );
    let t1 = (1u8, HashSet::from([5u32, 4, 3]));
    let t2 = (1u8, HashSet::from([3u32, 4, 5]));
    assert_eq!(hx(&t1), "82 01 83030405".replace(' ', ""));
    assert_eq!(hx(&t1), hx(&t2));
    // And it decodes back.
    assert_eq!(decode::<HashSet<i64>>(&encode(&a).unwrap()).unwrap(), a);
}

/// Serializes a hash set through `collect_seq` over its iterator, as a
/// `serialize_with` function might.
struct ViaIter(HashSet<u32>);

impl Serialize for ViaIter {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter())
    }
}

#[test]
fn a_hash_set_iterator_is_sorted_too() {
    let a = ViaIter((0..200).collect());
    let b = ViaIter((0..200).rev().collect());
    assert_eq!(encode(&a).unwrap(), encode(&b).unwrap());
    assert_eq!(encode(&a).unwrap(), encode(&a.0).unwrap());
    assert_eq!(
        encode(&a).unwrap(),
        encode(&(0..200u32).collect::<Vec<_>>()).unwrap()
    );
}

#[test]
fn other_sequences_keep_their_order() {
    assert_eq!(hx(&vec![2u8, 1]), "820201");
    assert_ne!(
        encode(&vec![2u8, 1]).unwrap(),
        encode(&vec![1u8, 2]).unwrap()
    );
    assert_ne!(
        digest(&vec![2u64, 1]).unwrap(),
        digest(&vec![1u64, 2]).unwrap()
    );
    assert_eq!(hx(&vec!["b", "a"]), "8261626161");
    assert_eq!(hx(&VecDeque::from([3u16, 1, 2])), "83030102");
    assert_eq!(hx(&[3u8, 1, 2]), "83030102");
    assert_eq!(hx(&(3u8, 1u8)), "820301");
    assert_eq!(hx(&Filtered(vec![3u8, 0, 1, 2])), "83030102");
    // A list of sets is a list: the sets are sorted inside, the list is not.
    let sets = vec![HashSet::from([2u8, 1]), HashSet::from([0u8])];
    assert_eq!(hx(&sets), "82 820102 8100".replace(' ', ""));
    let swapped: Vec<HashSet<u8>> = sets.iter().rev().cloned().collect();
    assert_eq!(hx(&swapped), "82 8100 820102".replace(' ', ""));
}

/// A slice or boxed slice of hash sets is a sequence like a `Vec` of them:
/// its order is part of its value. (`collect_seq` sees the slice type
/// `&[HashSet<..>]`, whose name must not pass for a hash set's.)
#[test]
fn a_slice_of_hash_sets_keeps_its_order() {
    let sets = vec![HashSet::from([2u8, 1]), HashSet::from([0u8])];
    let swapped: Vec<HashSet<u8>> = sets.iter().rev().cloned().collect();
    assert_eq!(hx(&sets[..]), hx(&sets));
    assert_eq!(hx(&swapped[..]), hx(&swapped));
    assert_ne!(hx(&sets[..]), hx(&swapped[..]));
    let boxed: Box<[HashSet<u8>]> = swapped.clone().into_boxed_slice();
    assert_eq!(hx(&boxed), "82 8100 820102".replace(' ', ""));
    let strings = [HashSet::from(["z"]), HashSet::from(["a"])];
    assert_eq!(hx(&strings[..]), "82 81617a 816161".replace(' ', ""));
}

#[test]
fn ordered_sets_are_sorted_arrays() {
    assert_eq!(hx(&BTreeSet::from([3u16, 1, 2])), "83010203");
    assert_eq!(hx(&BTreeSet::from([3u8, 1, 2])), "83010203");
    // Arrays keep their order: a BTreeSet is in Ord order, not encoded order.
    assert_eq!(hx(&BTreeSet::from([-1i64, 0])), "822000");
}

#[test]
fn ciborium_tags_pass_through() {
    use ciborium::tag::Required;
    assert_eq!(hx(&Required::<u64, 1>(5)), "c105");
    assert_eq!(
        hx(&Value::Tag(32, Box::new(Value::Text("x".into())))),
        "d8206178"
    );
    assert_eq!(
        hx(&Value::Tag(1000, Box::new(Value::Integer(0.into())))),
        "d903e800"
    );
    let round: Required<String, 32> =
        decode(&encode(&Required::<String, 32>("u".into())).unwrap()).unwrap();
    assert_eq!(round.0, "u");
}

// ---------------------------------------------------------------------------
// Encode errors.
// ---------------------------------------------------------------------------

/// A map that gives `k1` and `k2` as its two keys.
struct TwoKeys<K1, K2>(K1, K2);

impl<K1: Serialize, K2: Serialize> Serialize for TwoKeys<K1, K2> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry(&self.0, &1u8)?;
        m.serialize_entry(&self.1, &2u8)?;
        m.end()
    }
}

/// A sequence that announces `announced` elements and gives `items`.
struct Announced<T> {
    announced: usize,
    items: Vec<T>,
}

impl<T: Serialize> Serialize for Announced<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.announced))?;
        for x in &self.items {
            seq.serialize_element(x)?;
        }
        seq.end()
    }
}

/// A tuple that announces `announced` elements and gives `items`.
struct AnnouncedTuple<T> {
    announced: usize,
    items: Vec<T>,
}

impl<T: Serialize> Serialize for AnnouncedTuple<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(self.announced)?;
        for x in &self.items {
            t.serialize_element(x)?;
        }
        t.end()
    }
}

#[test]
fn a_repeated_map_key_is_an_encode_error() {
    let msg = encode_err(&TwoKeys("k", "k"));
    assert!(msg.contains("twice"), "{msg}");
    assert!(msg.contains("616b"), "names the key's encoding: {msg}");
    // Keys that differ in Rust but encode alike are the same CBOR key.
    encode_err(&TwoKeys(1u8, 1u64));
    encode_err(&TwoKeys(Some(3i32), 3u16));
    encode_err(&TwoKeys(vec![1u8], vec![1u64]));
    encode_err(&TwoKeys(vec![1u8, 2], (1u16, 2i32)));
    encode_err(&TwoKeys(
        ByteBuf::from(vec![1u8]),
        bytes::Bytes::from(vec![1u8]),
    ));
    encode_err(&TwoKeys(HashSet::from([1u8, 2]), vec![1u8, 2]));
    // Deep inside a value too, and through the digest path.
    encode_err(&vec![Some(TwoKeys("k", "k"))]);
    assert!(matches!(
        digest(&vec![TwoKeys(0u8, 0u8)]),
        Err(CodecError::Encode(_))
    ));
    // Distinct keys are fine, and a Vec<u8> is not a byte string.
    assert_eq!(hx(&TwoKeys("k", "j")), "a2616a02616b01");
    assert_eq!(
        hx(&TwoKeys(vec![1u8], ByteBuf::from(vec![1u8]))),
        "a2 4101 02 8101 01".replace(' ', "")
    );
}

#[test]
fn a_sequence_with_the_wrong_length_is_an_encode_error() {
    let msg = encode_err(&Announced {
        announced: 3,
        items: vec![1u64, 2],
    });
    assert!(msg.contains("announced"), "{msg}");
    encode_err(&Announced {
        announced: 1,
        items: vec![1u64, 2],
    });
    encode_err(&Announced {
        announced: 3,
        items: vec!["a", "b"],
    });
    encode_err(&AnnouncedTuple {
        announced: 3,
        items: vec![1u64, 2],
    });
    encode_err(&vec![Announced {
        announced: 2,
        items: vec![1i64],
    }]);
    assert!(matches!(
        digest(&Announced {
            announced: 5,
            items: vec![1u64]
        }),
        Err(CodecError::Encode(_))
    ));
    // Mixed elements are counted alike.
    encode_err(&Announced {
        announced: 4,
        items: vec![Value::Integer(1.into()), Value::Text("x".into())],
    });
    // A length-unknown sequence cannot be wrong.
    assert_eq!(hx(&UnknownMixed), "8301026178");
    // The right length is fine.
    assert_eq!(
        hx(&Announced {
            announced: 2,
            items: vec![1u64, 2]
        }),
        "820102"
    );
}

#[test]
fn a_u8_sequence_with_the_wrong_length_is_an_encode_error() {
    encode_err(&Announced {
        announced: 3,
        items: vec![1u8, 2],
    });
    encode_err(&Announced {
        announced: 1,
        items: vec![1u8, 2],
    });
    encode_err(&Announced {
        announced: 2,
        items: Vec::<u8>::new(),
    });
    encode_err(&AnnouncedTuple {
        announced: 4,
        items: vec![1u8, 2, 3],
    });
    assert!(matches!(
        digest(&Announced {
            announced: 3,
            items: vec![1u8, 2]
        }),
        Err(CodecError::Encode(_))
    ));
    assert_eq!(
        hx(&Announced {
            announced: 2,
            items: vec![1u8, 2]
        }),
        "820102"
    );
    assert_eq!(
        hx(&AnnouncedTuple {
            announced: 2,
            items: vec![1u8, 2]
        }),
        "820102"
    );
}

/// An iterator whose `size_hint` claims an exact length it does not keep.
struct Lying {
    claimed: usize,
    left: usize,
}

impl Iterator for Lying {
    type Item = u8;
    fn next(&mut self) -> Option<u8> {
        self.left = self.left.checked_sub(1)?;
        Some(7)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.claimed, Some(self.claimed))
    }
}

/// Serializes through `collect_seq` over a [`Lying`] iterator.
struct LyingSeq {
    claimed: usize,
    actual: usize,
}

impl Serialize for LyingSeq {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(Lying {
            claimed: self.claimed,
            left: self.actual,
        })
    }
}

#[test]
fn an_iterator_with_a_wrong_exact_size_is_an_encode_error() {
    let msg = encode_err(&LyingSeq {
        claimed: 3,
        actual: 2,
    });
    assert!(msg.contains("announced"), "{msg}");
    encode_err(&LyingSeq {
        claimed: 1,
        actual: 2,
    });
    encode_err(&vec![LyingSeq {
        claimed: 0,
        actual: 1,
    }]);
    assert_eq!(
        hx(&LyingSeq {
            claimed: 2,
            actual: 2
        }),
        "820707"
    );
}

/// A value whose `Serialize` fails.
struct Failing;

impl Serialize for Failing {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("no way"))
    }
}

#[test]
fn serialize_errors_are_encode_errors() {
    let msg = encode_err(&Failing);
    assert_eq!(msg, "no way");
    assert_eq!(
        CodecError::Encode(msg).to_string(),
        "cannot encode value: no way"
    );
    assert_eq!(encode_err(&vec![Failing]), "no way");
    assert_eq!(encode_err(&(1u8, Failing)), "no way");
    assert_eq!(encode_err(&BTreeMap::from([("k", Failing)])), "no way");
    assert!(matches!(digest(&Failing), Err(CodecError::Encode(_))));
}

#[test]
fn decode_errors_are_decode_errors() {
    assert!(matches!(
        decode::<u64>(&[0x61, 0x61]),
        Err(CodecError::Decode(_))
    ));
    assert!(matches!(
        decode::<String>(&[0x62, 0x61]),
        Err(CodecError::Decode(_))
    ));
    assert!(matches!(decode::<u64>(&[]), Err(CodecError::Decode(_))));
    let err = decode::<Kinds>(
        &encode(&Unsorted {
            zz: 1,
            b: 2,
            aaa: 3,
            a: 4,
            upper_b: 5,
        })
        .unwrap(),
    )
    .unwrap_err();
    assert!(
        err.to_string().starts_with("cannot decode value: "),
        "{err}"
    );
}

// ---------------------------------------------------------------------------
// Streaming digests of large values.
// ---------------------------------------------------------------------------

#[test]
fn digest_equals_hash_of_encoding_for_large_values() {
    let mib: Vec<u8> = (0..1u32 << 20)
        .map(|i| (i.wrapping_mul(31) % 251) as u8)
        .collect();
    assert_digest_consistent(&mib);
    assert_digest_consistent(&ByteBuf::from(mib.clone()));
    // A Vec<u8> is an array of integers: a 5-byte head, then one byte per
    // element below 24 and two per other (about 1.9 MB here).
    let enc = encode(&mib).unwrap();
    let expected_len = 5 + mib
        .iter()
        .map(|&b| if b < 24 { 1 } else { 2 })
        .sum::<usize>();
    assert_eq!(enc.len(), expected_len);
    assert!(enc.len() > 1_900_000, "{}", enc.len());
    assert_eq!(&enc[..5], &[0x9a, 0x00, 0x10, 0x00, 0x00]);
    assert_eq!(enc, ciborium_bytes(&mib));
    // A byte string of the same bytes is another value.
    assert_ne!(
        digest(&mib).unwrap(),
        digest(&bytes::Bytes::from(mib.clone())).unwrap()
    );
    assert_eq!(
        digest(&ByteBuf::from(mib.clone())).unwrap(),
        digest(&bytes::Bytes::from(mib.clone())).unwrap()
    );
    let big_set: HashSet<u32> = (0..300_000u32)
        .map(|i| i.wrapping_mul(2_654_435_761))
        .collect();
    assert_digest_consistent(&big_set);
    let longs: Vec<u64> = (0..200_000u64)
        .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (i % 64))
        .collect();
    assert_digest_consistent(&longs);
    let text = "fleche\u{e9} ".repeat(100 * 1024 / 9 + 1);
    assert!(text.len() > 100 * 1024);
    assert_digest_consistent(&text);
    // Pieces on both sides of the direct-update (16 KiB) and buffer (64 KiB)
    // sizes, with tiny writes in between.
    let sizes = [
        0usize, 1, 16_383, 16_384, 16_385, 3, 65_535, 65_536, 65_537, 7, 40_000, 30_000, 24,
    ];
    let pieces: Vec<(u64, ByteBuf)> = sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| (i as u64, ByteBuf::from(vec![i as u8; n])))
        .collect();
    assert_digest_consistent(&pieces);
    let strings: Vec<String> = sizes.iter().map(|&n| "s".repeat(n)).collect();
    assert_digest_consistent(&strings);
    let map: HashMap<String, Vec<u8>> = sizes
        .iter()
        .map(|&n| (format!("k{n}"), vec![1u8; n]))
        .collect();
    assert_digest_consistent(&map);
    // And they decode back.
    assert_eq!(decode::<Vec<u8>>(&encode(&mib).unwrap()).unwrap(), mib);
    assert_eq!(
        decode::<HashSet<u32>>(&encode(&big_set).unwrap()).unwrap(),
        big_set
    );
    assert_eq!(decode::<Vec<u64>>(&encode(&longs).unwrap()).unwrap(), longs);
}

// ---------------------------------------------------------------------------
// An independent check that bytes are canonical (RFC 8949 §4.2.1).
// ---------------------------------------------------------------------------

/// Checks that `b` is exactly one CBOR item in deterministic form: shortest
/// heads, definite lengths, map keys strictly increasing bytewise, shortest
/// floats with NaN only as `f9 7e 00`, and bignums only beyond 64 bits with
/// no leading zero byte.
fn check_canonical(b: &[u8]) -> Result<(), String> {
    let mut pos = 0;
    canonical_item(b, &mut pos)?;
    if pos != b.len() {
        return Err(format!("{} trailing bytes", b.len() - pos));
    }
    Ok(())
}

fn take<'a>(b: &'a [u8], pos: &mut usize, n: usize) -> Result<&'a [u8], String> {
    let end = pos
        .checked_add(n)
        .filter(|&e| e <= b.len())
        .ok_or_else(|| format!("truncated at {pos}"))?;
    let s = &b[*pos..end];
    *pos = end;
    Ok(s)
}

fn big_endian(s: &[u8]) -> u64 {
    s.iter().fold(0, |acc, &x| (acc << 8) | u64::from(x))
}

fn head_argument(b: &[u8], pos: &mut usize, info: u8) -> Result<u64, String> {
    let (width, min) = match info {
        0..=23 => return Ok(u64::from(info)),
        24 => (1, 24),
        25 => (2, 0x100),
        26 => (4, 0x1_0000),
        27 => (8, 0x1_0000_0000),
        31 => return Err(format!("indefinite length at {}", *pos - 1)),
        _ => return Err(format!("reserved additional information {info}")),
    };
    let v = big_endian(take(b, pos, width)?);
    if v < min {
        return Err(format!("argument {v} not in shortest form (width {width})"));
    }
    Ok(v)
}

fn half_values() -> &'static HashSet<u64> {
    static SET: std::sync::OnceLock<HashSet<u64>> = std::sync::OnceLock::new();
    SET.get_or_init(|| {
        (0..=u16::MAX)
            .map(f16_bits_to_f64)
            .filter(|v| !v.is_nan())
            .map(f64::to_bits)
            .collect()
    })
}

fn canonical_simple(b: &[u8], pos: &mut usize, info: u8) -> Result<(), String> {
    match info {
        20..=22 => Ok(()),
        25 => {
            let bits = big_endian(take(b, pos, 2)?) as u16;
            if f16_bits_to_f64(bits).is_nan() && bits != 0x7e00 {
                return Err(format!("NaN written as {bits:#06x}"));
            }
            Ok(())
        }
        26 => {
            let v = f32::from_bits(big_endian(take(b, pos, 4)?) as u32);
            if v.is_nan() {
                return Err("NaN written as single".into());
            }
            if half_values().contains(&f64::from(v).to_bits()) {
                return Err(format!("{v} written as single fits a half"));
            }
            Ok(())
        }
        27 => {
            let v = f64::from_bits(big_endian(take(b, pos, 8)?));
            if v.is_nan() {
                return Err("NaN written as double".into());
            }
            if f64::from(v as f32).to_bits() == v.to_bits() {
                return Err(format!("{v} written as double fits a single"));
            }
            Ok(())
        }
        _ => Err(format!("unexpected simple value {info}")),
    }
}

fn canonical_item(b: &[u8], pos: &mut usize) -> Result<(), String> {
    let initial = take(b, pos, 1)?[0];
    let (major, info) = (initial >> 5, initial & 0x1f);
    if major == 7 {
        return canonical_simple(b, pos, info);
    }
    let arg = head_argument(b, pos, info)?;
    let len = usize::try_from(arg).map_err(|e| e.to_string())?;
    match major {
        0 | 1 => {}
        2 => {
            take(b, pos, len)?;
        }
        3 => {
            std::str::from_utf8(take(b, pos, len)?).map_err(|e| e.to_string())?;
        }
        4 => {
            for _ in 0..len {
                canonical_item(b, pos)?;
            }
        }
        5 => {
            let mut previous: Option<&[u8]> = None;
            for _ in 0..len {
                let start = *pos;
                canonical_item(b, pos)?;
                let key = &b[start..*pos];
                if previous.is_some_and(|p| p >= key) {
                    return Err(format!(
                        "map key {} not after {}",
                        hex::encode(key),
                        hex::encode(previous.unwrap())
                    ));
                }
                previous = Some(key);
                canonical_item(b, pos)?;
            }
        }
        6 => {
            let start = *pos;
            canonical_item(b, pos)?;
            if arg == 2 || arg == 3 {
                let content = &b[start..*pos];
                let (hdr, n) = match content[0] {
                    0x40..=0x57 => (1, usize::from(content[0] & 0x1f)),
                    0x58 => (2, usize::from(content[1])),
                    _ => return Err("bignum content is not a short byte string".into()),
                };
                let digits = &content[hdr..hdr + n];
                if digits.len() <= 8 || digits.len() > 16 || digits[0] == 0 {
                    return Err(format!(
                        "bignum digits {} are not canonical",
                        hex::encode(digits)
                    ));
                }
            }
        }
        _ => unreachable!("major is three bits"),
    }
    Ok(())
}

#[test]
fn the_checker_rejects_non_canonical_bytes() {
    let bad = [
        "1817",                   // 23 in two bytes
        "190010",                 // 16 in three bytes
        "1a0000ffff",             // 65535 in five bytes
        "1b00000000ffffffff",     // u32::MAX in nine bytes
        "3817",                   // -24 in two bytes
        "5f4101ff",               // indefinite bytes
        "9f01ff",                 // indefinite array
        "bf616101ff",             // indefinite map
        "a2616202616101",         // keys out of order
        "a2616101616102",         // repeated key
        "a2626161016162 02",      // longer key first
        "fa3fc00000",             // 1.5 as single
        "fb3ff8000000000000",     // 1.5 as double
        "fb3fb99999a0000000",     // 0.1f32 as double
        "f97e01",                 // NaN with payload
        "fa7fc00000",             // NaN as single
        "c24101",                 // bignum that fits 64 bits
        "c249000100000000000000", // bignum with a leading zero
        "0001",                   // trailing bytes
        "62c3",                   // truncated
        "62c328",                 // invalid UTF-8
        "82181701",               // array of u8 with 23 in two bytes
        "98020102",               // array length 2 in two bytes
        "83010203 04",            // trailing element after the array
    ];
    for h in bad {
        let bytes = hex::decode(h.replace(' ', "")).unwrap();
        assert!(check_canonical(&bytes).is_err(), "accepted {h}");
    }
    let good = [
        "00",
        "17",
        "1818",
        "20",
        "3818",
        "f93e00",
        "f97e00",
        "fa47c35000",
        "a2616101616202",
        "c249010000000000000000",
        "8401020304",
        "821818 18ff",
        "4401020304",
    ];
    for h in good {
        check_canonical(&hex::decode(h.replace(' ', "")).unwrap())
            .unwrap_or_else(|e| panic!("{h}: {e}"));
    }
}

#[test]
fn hand_checked_values_are_canonical() {
    let values: Vec<Vec<u8>> = vec![
        encode(&u64::MAX).unwrap(),
        encode(&i128::MIN).unwrap(),
        encode(&u128::MAX).unwrap(),
        encode(&vec![f64::NAN, 1.1, 100_000.0, -0.0]).unwrap(),
        encode(&Unsorted {
            zz: 1,
            b: 2,
            aaa: 3,
            a: 4,
            upper_b: 5,
        })
        .unwrap(),
        encode(&UnknownMixed).unwrap(),
        encode(&vec![
            Kinds::Unit,
            Kinds::New(1),
            Kinds::Tup(1, 2),
            Kinds::Str { b: 1, a: 2 },
        ])
        .unwrap(),
        encode(&(0..=255u8).collect::<Vec<u8>>()).unwrap(),
        encode(&[1u8, 24, 255]).unwrap(),
        encode(&(1u8, 200u8)).unwrap(),
        encode(&ByteBuf::from(vec![1u8; 300])).unwrap(),
        encode(&HashSet::from([-5i64, 3, 1_000_000, 0])).unwrap(),
        encode(&HashSet::from(["b", "a", "cc"])).unwrap(),
    ];
    for v in values {
        check_canonical(&v).unwrap_or_else(|e| panic!("{}: {e}", hex::encode(&v)));
    }
}

// ---------------------------------------------------------------------------
// Strategies.
// ---------------------------------------------------------------------------

/// Finite and infinite f64 values (no NaN), biased towards ones that fit a
/// half or a single.
fn non_nan_f64() -> impl Strategy<Value = f64> {
    use proptest::num::f64 as pf;
    prop_oneof![
        pf::POSITIVE | pf::NEGATIVE | pf::NORMAL | pf::SUBNORMAL | pf::ZERO | pf::INFINITE,
        any::<u16>()
            .prop_map(f16_bits_to_f64)
            .prop_filter("not NaN", |v| !v.is_nan()),
        any::<f32>()
            .prop_filter("not NaN", |v| !v.is_nan())
            .prop_map(f64::from),
        any::<i32>().prop_map(f64::from),
    ]
}

fn any_f64() -> impl Strategy<Value = f64> {
    prop_oneof![9 => non_nan_f64(), 1 => any::<u64>().prop_map(|b| f64::from_bits(b | 0x7ff0_0000_0000_0001))]
}

fn u128s() -> impl Strategy<Value = u128> {
    prop_oneof![
        any::<u128>(),
        any::<u64>().prop_map(u128::from),
        (0u128..4).prop_map(|d| u128::from(u64::MAX) + d),
    ]
}

fn i128s() -> impl Strategy<Value = i128> {
    prop_oneof![
        any::<i128>(),
        any::<i64>().prop_map(i128::from),
        (-3i128..=3).prop_map(|d| -(1i128 << 64) + d),
        (-3i128..=3).prop_map(|d| (1i128 << 64) + d),
    ]
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Shape {
    Empty,
    Other,
    Leaf(i64),
    Blob(Vec<u8>),
    Pair(u8, u8),
    Triple(i16, String, Option<u32>),
    Point { x: f64, y: f32, label: String },
    Raw { bytes: Vec<u8>, fixed: [u8; 3] },
    Boxed(Box<Shape>),
    List(Vec<Shape>),
    Named(BTreeMap<String, Shape>),
}

fn shape() -> impl Strategy<Value = Shape> {
    let leaf = prop_oneof![
        Just(Shape::Empty),
        Just(Shape::Other),
        any::<i64>().prop_map(Shape::Leaf),
        vec(any::<u8>(), 0..40).prop_map(Shape::Blob),
        any::<(u8, u8)>().prop_map(|(a, b)| Shape::Pair(a, b)),
        (any::<i16>(), ".{0,8}", any::<Option<u32>>()).prop_map(|(a, b, c)| Shape::Triple(a, b, c)),
        (
            non_nan_f64(),
            any::<f32>().prop_filter("not NaN", |v| !v.is_nan()),
            "[a-z]{0,5}"
        )
            .prop_map(|(x, y, label)| Shape::Point { x, y, label }),
        (vec(any::<u8>(), 0..8), any::<[u8; 3]>())
            .prop_map(|(bytes, fixed)| Shape::Raw { bytes, fixed }),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            inner.clone().prop_map(|s| Shape::Boxed(Box::new(s))),
            vec(inner.clone(), 0..6).prop_map(Shape::List),
            btree_map("[a-zA-Z]{0,6}", inner, 0..6).prop_map(Shape::Named),
        ]
    })
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Ints {
    a_u8: u8,
    a_u16: u16,
    a_u32: u32,
    a_u64: u64,
    a_u128: u128,
    a_i8: i8,
    a_i16: i16,
    a_i32: i32,
    a_i64: i64,
    a_i128: i128,
}

prop_compose! {
    fn ints()(
        a_u8 in any::<u8>(), a_u16 in any::<u16>(), a_u32 in any::<u32>(), a_u64 in any::<u64>(), a_u128 in u128s(),
        a_i8 in any::<i8>(), a_i16 in any::<i16>(), a_i32 in any::<i32>(), a_i64 in any::<i64>(), a_i128 in i128s(),
    ) -> Ints {
        Ints { a_u8, a_u16, a_u32, a_u64, a_u128, a_i8, a_i16, a_i32, a_i64, a_i128 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Wrapper(u64);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Rich {
    ints: Ints,
    float: f64,
    single: f32,
    flag: bool,
    letter: char,
    text: String,
    bytes: Vec<u8>,
    fixed: [u8; 4],
    small: (u8, u8),
    mixed: (u8, String, i32),
    maybe: Option<u64>,
    maybe_bytes: Option<Vec<u8>>,
    map: BTreeMap<String, i64>,
    int_map: BTreeMap<i32, Vec<u16>>,
    shapes: Vec<Shape>,
    unit: (),
    wrapper: Wrapper,
    pair: TupleStruct,
}

prop_compose! {
    fn rich()(
        ints in ints(),
        float in non_nan_f64(),
        single in any::<f32>().prop_filter("not NaN", |v| !v.is_nan()),
        (flag, letter, text) in (any::<bool>(), any::<char>(), ".{0,20}"),
        (bytes, fixed, small) in (vec(any::<u8>(), 0..64), any::<[u8; 4]>(), any::<(u8, u8)>()),
        mixed in (any::<u8>(), ".{0,4}", any::<i32>()),
        (maybe, maybe_bytes) in (any::<Option<u64>>(), proptest::option::of(vec(any::<u8>(), 0..8))),
        map in btree_map(".{0,6}", any::<i64>(), 0..6),
        int_map in btree_map(any::<i32>(), vec(any::<u16>(), 0..4), 0..4),
        shapes in vec(shape(), 0..4),
        (wrapper, pair) in (any::<u64>(), any::<(u8, u8, u8)>()),
    ) -> Rich {
        Rich {
            ints, float, single, flag, letter, text, bytes, fixed, small, mixed, maybe, maybe_bytes, map, int_map,
            shapes, unit: (), wrapper: Wrapper(wrapper), pair: TupleStruct(pair.0, pair.1, pair.2),
        }
    }
}

/// Map keys that never encode alike.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Int(i64),
    Text(String),
    Bytes(Vec<u8>),
}

impl From<Key> for Value {
    fn from(k: Key) -> Value {
        match k {
            Key::Int(n) => Value::Integer(n.into()),
            Key::Text(s) => Value::Text(s),
            Key::Bytes(b) => Value::Bytes(b),
        }
    }
}

/// Arbitrary CBOR trees, NaN included, built in arbitrary key order.
fn cbor_value() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        any::<i64>().prop_map(Key::Int),
        (-30i64..300).prop_map(Key::Int),
        ".{0,6}".prop_map(Key::Text),
        vec(any::<u8>(), 0..4).prop_map(Key::Bytes),
    ];
    let leaf = prop_oneof![
        any::<u64>().prop_map(|n| Value::Integer(n.into())),
        any::<i64>().prop_map(|n| Value::Integer(n.into())),
        (0u64..300).prop_map(|n| Value::Integer(n.into())),
        any_f64().prop_map(Value::Float),
        any::<bool>().prop_map(Value::Bool),
        ".{0,10}".prop_map(Value::Text),
        vec(any::<u8>(), 0..30).prop_map(Value::Bytes),
        Just(Value::Null),
    ];
    leaf.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            vec(inner.clone(), 0..8).prop_map(Value::Array),
            (btree_map(key.clone(), inner.clone(), 0..8), any::<bool>()).prop_map(|(m, rev)| {
                let mut entries: Vec<(Value, Value)> =
                    m.into_iter().map(|(k, v)| (k.into(), v)).collect();
                if rev {
                    entries.reverse();
                }
                Value::Map(entries)
            }),
            // Tags 2 and 3 are bignums, kept for integers.
            (4u64..100_000, inner).prop_map(|(t, v)| Value::Tag(t, Box::new(v))),
        ]
    })
}

/// Map entries, in some order.
type Entries<K, V> = Vec<(K, V)>;

/// The entries of a map with distinct keys, in two orders: shuffled and
/// reversed.
fn two_orders<K, V>(
    entries: impl Strategy<Value = BTreeMap<K, V>>,
) -> impl Strategy<Value = (Entries<K, V>, Entries<K, V>)>
where
    K: Clone + Debug + Ord,
    V: Clone + Debug,
{
    entries.prop_flat_map(|m| {
        let v: Entries<K, V> = m.into_iter().collect();
        let mut rev = v.clone();
        rev.reverse();
        (Just(v).prop_shuffle(), Just(rev))
    })
}

fn nested_map(
    entries: &[(String, Vec<BTreeMap<u8, String>>)],
    reverse_inner: bool,
) -> HashMap<String, Vec<HashMap<u8, String>>> {
    let mut out = HashMap::with_capacity(if reverse_inner { 100 } else { 0 });
    for (k, list) in entries {
        let list = list
            .iter()
            .map(|m| {
                let mut inner: Vec<(u8, String)> = m.iter().map(|(a, b)| (*a, b.clone())).collect();
                if reverse_inner {
                    inner.reverse();
                }
                inner.into_iter().collect()
            })
            .collect();
        out.insert(k.clone(), list);
    }
    out
}

// ---------------------------------------------------------------------------
// Properties.
// ---------------------------------------------------------------------------

proptest! {
    #[test]
    fn hash_map_encoding_ignores_insertion_order((a, b) in two_orders(btree_map(".{0,12}", any::<u64>(), 0..40))) {
        let x: HashMap<String, u64> = a.iter().cloned().collect();
        let mut y: HashMap<String, u64> = HashMap::with_capacity(1000);
        y.extend(b.iter().cloned());
        let bytes = encode(&x).unwrap();
        prop_assert_eq!(&bytes, &encode(&y).unwrap());
        prop_assert_eq!(digest(&x).unwrap(), digest(&y).unwrap());
        prop_assert_eq!(digest(&x).unwrap(), Digest::of(&bytes));
        // The same entries in a BTreeMap encode alike too.
        let sorted: BTreeMap<String, u64> = a.into_iter().collect();
        prop_assert_eq!(&bytes, &encode(&sorted).unwrap());
        prop_assert!(check_canonical(&bytes).is_ok());
        prop_assert_eq!(decode::<HashMap<String, u64>>(&bytes).unwrap(), x);
    }

    #[test]
    fn hash_set_encoding_ignores_insertion_order(set in btree_set(any::<i64>(), 0..60)) {
        let forward: Vec<i64> = set.iter().copied().collect();
        let x: HashSet<i64> = forward.iter().rev().copied().collect();
        let mut y: HashSet<i64> = HashSet::with_capacity(500);
        y.extend(forward.iter().copied());
        let bytes = encode(&x).unwrap();
        prop_assert_eq!(&bytes, &encode(&y).unwrap());
        prop_assert_eq!(digest(&x).unwrap(), digest(&y).unwrap());
        prop_assert_eq!(digest(&x).unwrap(), Digest::of(&bytes));
        prop_assert!(is_sorted_set(&bytes), "{}", hex::encode(&bytes));
        prop_assert_eq!(&bytes, &set_by_hand(set.iter().copied()));
        prop_assert_eq!(decode::<HashSet<i64>>(&bytes).unwrap(), x);
    }

    #[test]
    fn hash_sets_of_unsigned_integers_encode_like_btree_sets(set in btree_set(any::<u64>(), 0..60)) {
        // For unsigned integers, encoded order is numeric order.
        let x: HashSet<u64> = set.iter().rev().copied().collect();
        prop_assert_eq!(encode(&x).unwrap(), encode(&set).unwrap());
    }

    #[test]
    fn hash_sets_of_strings_ignore_insertion_order(set in btree_set(".{0,12}", 0..40)) {
        let forward: Vec<String> = set.iter().cloned().collect();
        let x: HashSet<String> = forward.iter().rev().cloned().collect();
        let mut y: HashSet<String> = HashSet::with_capacity(1000);
        y.extend(forward.iter().cloned());
        let bytes = encode(&x).unwrap();
        prop_assert_eq!(&bytes, &encode(&y).unwrap());
        prop_assert_eq!(digest(&x).unwrap(), digest(&y).unwrap());
        prop_assert!(is_sorted_set(&bytes), "{}", hex::encode(&bytes));
        prop_assert_eq!(&bytes, &set_by_hand(set.iter()));
        prop_assert_eq!(decode::<HashSet<String>>(&bytes).unwrap(), x);
    }

    #[test]
    fn nested_hash_maps_of_hash_sets_ignore_insertion_order(
        (a, b) in two_orders(btree_map(
            "[a-z]{0,8}",
            btree_set(any::<u64>(), 0..20),
            0..12,
        )),
    ) {
        let x: HashMap<String, HashSet<u64>> = a
            .iter()
            .map(|(k, s)| (k.clone(), s.iter().copied().collect()))
            .collect();
        let mut y: HashMap<String, HashSet<u64>> = HashMap::with_capacity(200);
        for (k, s) in &b {
            let mut inner = HashSet::with_capacity(300);
            inner.extend(s.iter().rev().copied());
            y.insert(k.clone(), inner);
        }
        prop_assert_eq!(&x, &y);
        let bytes = encode(&x).unwrap();
        prop_assert_eq!(&bytes, &encode(&y).unwrap());
        prop_assert_eq!(digest(&x).unwrap(), digest(&y).unwrap());
        let sorted: BTreeMap<String, BTreeSet<u64>> = a.into_iter().collect();
        prop_assert_eq!(&bytes, &encode(&sorted).unwrap());
        prop_assert!(check_canonical(&bytes).is_ok());
        prop_assert_eq!(decode::<HashMap<String, HashSet<u64>>>(&bytes).unwrap(), x);
    }

    #[test]
    fn vecs_keep_their_order(v in vec(any::<u64>(), 0..30), w in vec(any::<u8>(), 0..30)) {
        let mut rv = v.clone();
        rv.reverse();
        prop_assert_eq!(rv == v, encode(&rv).unwrap() == encode(&v).unwrap());
        let mut rw = w.clone();
        rw.reverse();
        prop_assert_eq!(rw == w, encode(&rw).unwrap() == encode(&w).unwrap());
        prop_assert_eq!(decode::<Vec<u8>>(&encode(&rw).unwrap()).unwrap(), rw);
    }

    #[test]
    fn nested_hash_maps_ignore_insertion_order(
        (a, b) in two_orders(btree_map(
            "[a-z]{0,8}",
            vec(btree_map(any::<u8>(), ".{0,6}", 0..6), 0..4),
            0..12,
        )),
    ) {
        let x = nested_map(&a, false);
        let y = nested_map(&b, true);
        let bytes = encode(&x).unwrap();
        prop_assert_eq!(&bytes, &encode(&y).unwrap());
        prop_assert_eq!(digest(&x).unwrap(), digest(&y).unwrap());
        let sorted: BTreeMap<String, Vec<BTreeMap<u8, String>>> = a.into_iter().collect();
        prop_assert_eq!(&bytes, &encode(&sorted).unwrap());
        prop_assert!(check_canonical(&bytes).is_ok());
        prop_assert_eq!(decode::<HashMap<String, Vec<HashMap<u8, String>>>>(&bytes).unwrap(), x);
    }

    #[test]
    fn rich_values_round_trip(v in rich()) {
        assert_round_trip(&v);
    }

    #[test]
    fn shapes_round_trip(v in shape()) {
        assert_round_trip(&v);
    }

    #[test]
    fn rich_values_are_canonical_and_digest_consistently(v in rich()) {
        let bytes = encode(&v).unwrap();
        if let Err(e) = check_canonical(&bytes) {
            prop_assert!(false, "{}: {}", hex::encode(&bytes), e);
        }
        assert_digest_consistent(&v);
    }

    #[test]
    fn cbor_trees_are_canonical(v in cbor_value()) {
        let bytes = encode(&v).unwrap();
        if let Err(e) = check_canonical(&bytes) {
            prop_assert!(false, "{}: {}", hex::encode(&bytes), e);
        }
        assert_digest_consistent(&v);
        // Decoding and re-encoding is a fixed point.
        let back: Value = decode(&bytes).unwrap();
        prop_assert_eq!(encode(&back).unwrap(), bytes);
    }

    #[test]
    fn floats_are_canonical(v in any_f64()) {
        let bytes = encode(&v).unwrap();
        prop_assert!(check_canonical(&bytes).is_ok(), "{}", hex::encode(&bytes));
        let back: f64 = decode(&bytes).unwrap();
        if v.is_nan() {
            prop_assert!(back.is_nan());
        } else {
            prop_assert_eq!(back.to_bits(), v.to_bits());
        }
    }

    #[test]
    fn u8_sequences_are_arrays_and_byte_types_are_strings(v in vec(any::<u8>(), 0..300)) {
        let array = encode(&v).unwrap();
        prop_assert_eq!(hex::encode(&array), u8_array_hex(&v));
        prop_assert_eq!(&array, &ciborium_bytes(&v));
        prop_assert_eq!(&encode(&v[..]).unwrap(), &array);
        prop_assert_eq!(&encode(&VecDeque::from(v.clone())).unwrap(), &array);
        let nonzero: Vec<u8> = v.iter().map(|&b| b.max(1)).collect();
        prop_assert_eq!(&encode(&Filtered(nonzero.clone())).unwrap(), &encode(&nonzero).unwrap());
        prop_assert!(check_canonical(&array).is_ok());
        prop_assert_eq!(digest(&v).unwrap(), Digest::of(&array));
        let string = encode(&ByteBuf::from(v.clone())).unwrap();
        let mut by_hand = Vec::new();
        ciborium::into_writer(&ByteBuf::from(v.clone()), &mut by_hand).unwrap();
        prop_assert_eq!(&string, &by_hand);
        prop_assert_eq!(&encode(serde_bytes::Bytes::new(&v)).unwrap(), &string);
        prop_assert_eq!(&encode(&bytes::Bytes::from(v.clone())).unwrap(), &string);
        prop_assert_ne!(&array, &string);
        prop_assert_ne!(digest(&v).unwrap(), digest(&ByteBuf::from(v.clone())).unwrap());
        // Each type still reads the other's encoding.
        prop_assert_eq!(decode::<ByteBuf>(&array).unwrap().into_vec(), v.clone());
        prop_assert_eq!(decode::<Vec<u8>>(&string).unwrap(), v);
    }

    #[test]
    fn buffered_values_round_trip(
        data in vec(any::<u8>(), 0..64),
        fixed in any::<[u8; 4]>(),
        pair in any::<(u8, u8)>(),
        set in btree_set(any::<u64>(), 0..10),
        which in 0..5u8,
    ) {
        let inner = bytes_inner(&data, fixed);
        match which {
            0 => assert_round_trip(&Tagged::Blob { data, fixed }),
            1 => assert_round_trip(&Tagged::Mixed {
                raw: ByteBuf::from(data),
                pair,
                set: set.into_iter().collect(),
            }),
            2 => assert_round_trip(&Tagged::Inner(inner)),
            3 => {
                assert_round_trip(&Loose::Bytes(data.clone()));
                assert_round_trip(&Loose::Raw(ByteBuf::from(data)));
                assert_round_trip(&Loose::Fields { fixed, maybe: Some(vec![pair.0, pair.1]) });
            }
            _ => assert_round_trip(&Flattened {
                id: set.len() as u64,
                inner,
                rest: set.iter().map(|n| (n.to_string(), vec![pair.0; (n % 5) as usize])).collect(),
            }),
        }
    }

    #[test]
    fn large_chunked_values_digest_consistently(
        chunks in vec((any::<u64>(), 0usize..70_000, any::<u8>()), 1..6),
    ) {
        let value: Vec<(u64, ByteBuf, String)> = chunks
            .iter()
            .map(|&(n, len, fill)| (n, ByteBuf::from(vec![fill; len]), "t".repeat(len / 3)))
            .collect();
        assert_digest_consistent(&value);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn matches_ciborium_for_u64(v in any::<u64>()) {
        prop_assert_eq!(encode(&v).unwrap(), ciborium_bytes(&v));
    }

    #[test]
    fn matches_ciborium_for_i64(v in any::<i64>()) {
        prop_assert_eq!(encode(&v).unwrap(), ciborium_bytes(&v));
    }

    #[test]
    fn matches_ciborium_for_wide_integers(u in u128s(), i in i128s()) {
        prop_assert_eq!(encode(&u).unwrap(), ciborium_bytes(&u));
        prop_assert_eq!(encode(&i).unwrap(), ciborium_bytes(&i));
    }

    #[test]
    fn matches_ciborium_for_non_nan_floats(v in non_nan_f64()) {
        prop_assert_eq!(encode(&v).unwrap(), ciborium_bytes(&v));
    }

    #[test]
    fn matches_ciborium_for_text_and_bools(s in ".{0,300}", b in any::<bool>()) {
        prop_assert_eq!(encode(&s).unwrap(), ciborium_bytes(&s));
        prop_assert_eq!(encode(&b).unwrap(), ciborium_bytes(&b));
    }

    #[test]
    fn matches_ciborium_for_compounds(
        longs in vec(any::<u64>(), 0..300),
        tuple in (any::<u64>(), any::<i64>(), ".{0,10}", any::<bool>(), any::<Option<u32>>()),
        u8_first in (any::<u8>(), any::<u16>(), ".{0,4}"),
        pairs in vec((any::<i32>(), proptest::option::of(".{0,5}")), 0..20),
        nested in vec(vec(any::<u64>(), 0..5), 0..5),
        map in btree_map(any::<u32>(), any::<u64>(), 0..40),
        texts in vec(".{0,30}", 0..30),
        bytes in vec(any::<u8>(), 0..300),
        pair in any::<(u8, u8)>(),
        fixed in any::<[u8; 8]>(),
        byte_lists in vec(vec(any::<u8>(), 0..10), 0..5),
    ) {
        prop_assert_eq!(encode(&longs).unwrap(), ciborium_bytes(&longs));
        prop_assert_eq!(encode(&tuple).unwrap(), ciborium_bytes(&tuple));
        prop_assert_eq!(encode(&u8_first).unwrap(), ciborium_bytes(&u8_first));
        prop_assert_eq!(encode(&pairs).unwrap(), ciborium_bytes(&pairs));
        prop_assert_eq!(encode(&nested).unwrap(), ciborium_bytes(&nested));
        prop_assert_eq!(encode(&map).unwrap(), ciborium_bytes(&map));
        prop_assert_eq!(encode(&texts).unwrap(), ciborium_bytes(&texts));
        prop_assert_eq!(encode(&bytes).unwrap(), ciborium_bytes(&bytes));
        prop_assert_eq!(encode(&pair).unwrap(), ciborium_bytes(&pair));
        prop_assert_eq!(encode(&fixed).unwrap(), ciborium_bytes(&fixed));
        prop_assert_eq!(encode(&byte_lists).unwrap(), ciborium_bytes(&byte_lists));
        let buf = ByteBuf::from(bytes);
        prop_assert_eq!(encode(&buf).unwrap(), ciborium_bytes(&buf));
    }
}
