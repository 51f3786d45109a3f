//! Golden tests of the stored format.
//!
//! These bytes and digests are a format contract. If a test here fails, the
//! format changed: that must be deliberate, versioned (RECORD_FORMAT /
//! CALL_KEY_CONTEXT) and in CHANGELOG.md.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use fleche_core::{
    ArgDigest, CALL_KEY_CONTEXT, CallRecord, CodecError, Digest, FnSpec, Metadata, RECORD_FORMAT,
    RecordHead, Timestamp, ValueRef, codec,
};
use serde::Serialize;

#[derive(Serialize)]
struct Point {
    x: i32,
    y: i32,
    label: String,
    tags: Vec<String>,
}

/// Checks that `value` encodes to `encoding` (hex) and digests to `digest`
/// (hex), and that the digest is BLAKE3 of those bytes.
fn pin<T: Serialize + ?Sized>(what: &str, value: &T, encoding: &str, digest: &str) {
    let bytes = codec::encode(value).unwrap();
    assert_eq!(hex::encode(&bytes), encoding, "encoding of {what}");
    let expected = hex::decode(encoding).unwrap();
    assert_eq!(
        codec::digest(value).unwrap().to_hex(),
        digest,
        "digest of {what}"
    );
    assert_eq!(
        Digest::of(&expected).to_hex(),
        digest,
        "digest of the pinned encoding of {what}"
    );
}

#[test]
fn the_versions_are_pinned() {
    assert_eq!(RECORD_FORMAT, 1);
    assert_eq!(CALL_KEY_CONTEXT, "fleche call v1");
}

#[test]
fn value_digests_are_pinned() {
    pin(
        "0u64",
        &0u64,
        "00",
        "2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213",
    );
    pin(
        "1u64",
        &1u64,
        "01",
        "48fc721fbbc172e0925fa27af1671de225ba927134802998b10a1568a188652b",
    );
    pin(
        "u64::MAX",
        &u64::MAX,
        "1bffffffffffffffff",
        "d4497f705e0f66684f1ab9c851cc480967085304cd4d6673b894c4d9c7560d37",
    );
    pin(
        "-1i64",
        &-1i64,
        "20",
        "00263ca9f57f7177f495e3711f8cdd59967a0a1a4de895b1ebee566cd1883ed4",
    );
    pin(
        "\"\"",
        "",
        "60",
        "4d86d0ecb09ceacb693ff1906c2c81cfb38d835233adbd232942b763356da1d0",
    );
    pin(
        "\"fleche\"",
        "fleche",
        "66666c65636865",
        "4779a19d0cb0bc42fc0f1c43606e8f4824e22f96cbb34ead6dab8bddfcd1cba3",
    );
    pin(
        "1.5f64",
        &1.5f64,
        "f93e00",
        "21924cf649bbfa4004de6a5b134c6a1cfc5f56ffd355b938b52d91d0128c3571",
    );
    pin(
        "vec![1u64, 2, 3]",
        &vec![1u64, 2, 3],
        "83010203",
        "ae95735439e543cd063b7692a40da8df2c0a94b8d81dc190166bbeddaa8a01f4",
    );
    // A Vec<u8> is an array of integers (24 and up take two bytes each);
    // only explicit byte types (serde_bytes, bytes::Bytes) are byte strings.
    let all_bytes: Vec<u8> = (0..=255).collect();
    pin(
        "Vec<u8> 0..=255",
        &all_bytes,
        concat!(
            "990100", // array of 256 elements, then 0..=23 in one byte each
            "000102030405060708090a0b0c0d0e0f1011121314151617",
            "18181819181a181b181c181d181e181f1820182118221823182418251826182718281829182a182b182c182d182e182f18301831183218331834183518361837",
            "18381839183a183b183c183d183e183f1840184118421843184418451846184718481849184a184b184c184d184e184f18501851185218531854185518561857",
            "18581859185a185b185c185d185e185f1860186118621863186418651866186718681869186a186b186c186d186e186f18701871187218731874187518761877",
            "18781879187a187b187c187d187e187f1880188118821883188418851886188718881889188a188b188c188d188e188f18901891189218931894189518961897",
            "18981899189a189b189c189d189e189f18a018a118a218a318a418a518a618a718a818a918aa18ab18ac18ad18ae18af18b018b118b218b318b418b518b618b7",
            "18b818b918ba18bb18bc18bd18be18bf18c018c118c218c318c418c518c618c718c818c918ca18cb18cc18cd18ce18cf18d018d118d218d318d418d518d618d7",
            "18d818d918da18db18dc18dd18de18df18e018e118e218e318e418e518e618e718e818e918ea18eb18ec18ed18ee18ef18f018f118f218f318f418f518f618f7",
            "18f818f918fa18fb18fc18fd18fe18ff",
        ),
        "55b125c4b226c4f49668f060f33b2348128df7381aee8f9d71f55c822c78f732",
    );
    pin(
        "ByteBuf 0..=255",
        &serde_bytes::ByteBuf::from(all_bytes.clone()),
        &format!("590100{}", hex::encode(&all_bytes)),
        "986776144f2c67ff32deba63c0a51ace8ba5176a0ef4b2b77643c37e1bf5d0fb",
    );
    pin(
        "bytes::Bytes 0..=255",
        &bytes::Bytes::from(all_bytes.clone()),
        &format!("590100{}", hex::encode(&all_bytes)),
        "986776144f2c67ff32deba63c0a51ace8ba5176a0ef4b2b77643c37e1bf5d0fb",
    );
    pin(
        "[1u8, 2, 3, 4]",
        &[1u8, 2, 3, 4],
        "8401020304",
        "4ed66344fe80e3af34306be53a40f2d6d1882921ab2532a8dbc54d2117eb0181",
    );
    pin(
        "(1u8, 200u8)",
        &(1u8, 200u8),
        "820118c8",
        "ad67cbb281f72ea0462505eaa3655ba5c3e66d8f34b663501e14ea975237db81",
    );
    let btree: BTreeMap<&str, u64> = [("a", 1), ("b", 2)].into_iter().collect();
    pin(
        "BTreeMap {a: 1, b: 2}",
        &btree,
        "a2616101616202",
        "7ee59ea6b0aab4ddb862c20b29ec133fc2fc6d2bafa1f0e4768314711f0dd674",
    );
    let hash: HashMap<&str, u64> = [("b", 2), ("a", 1)].into_iter().collect();
    pin(
        "HashMap {a: 1, b: 2}",
        &hash,
        "a2616101616202",
        "7ee59ea6b0aab4ddb862c20b29ec133fc2fc6d2bafa1f0e4768314711f0dd674",
    );
    pin(
        "(1u8, \"x\", true)",
        &(1u8, "x", true),
        "83016178f5",
        "59882313b8f8908c4115d68244a544842c4d27aec0f08a926deeb96b1ac43f75",
    );
    pin(
        "Option::<u32>::None",
        &Option::<u32>::None,
        "f6",
        "61a9bf10f0ffedc7dc77589ae2ab4ca80b006c806e6636e41b60410cd8f0bbc4",
    );
    // Hash sets: elements sorted by their encodings, whatever the order.
    pin(
        "HashSet<u64> {3, 1, 2}",
        &HashSet::from([3u64, 1, 2]),
        "83010203",
        "ae95735439e543cd063b7692a40da8df2c0a94b8d81dc190166bbeddaa8a01f4",
    );
    pin(
        "BTreeSet<u64> {3, 1, 2}",
        &BTreeSet::from([3u64, 1, 2]),
        "83010203",
        "ae95735439e543cd063b7692a40da8df2c0a94b8d81dc190166bbeddaa8a01f4",
    );
    pin(
        "HashSet<String> {\"b\", \"a\", \"cc\"}",
        &HashSet::from(["b".to_owned(), "a".to_owned(), "cc".to_owned()]),
        "8361616162626363",
        "49126e47394bbd0269af7863b1e3b859fa636d705e414aa7383aa4a1f5856082",
    );
    // Whatever the insertion order or capacity (so iteration order).
    for capacity in [0, 3, 64, 4096] {
        for order in [[3u64, 1, 2], [1, 2, 3], [2, 3, 1]] {
            let mut set = HashSet::with_capacity(capacity);
            set.extend(order);
            pin(
                "HashSet<u64> {3, 1, 2}",
                &set,
                "83010203",
                "ae95735439e543cd063b7692a40da8df2c0a94b8d81dc190166bbeddaa8a01f4",
            );
        }
    }
    let point = Point {
        x: 1,
        y: -2,
        label: "p".into(),
        tags: vec!["a".into(), "b".into()],
    };
    pin(
        "Point",
        &point,
        "a461780161792164746167738261616162656c6162656c6170",
        "783316ccd9bafa524ef285090d36cb9fa08d1a000b01c67c85d29af7518d1d52",
    );
}

static SQUARE: FnSpec = FnSpec::new("golden::square");
static SQUARE_V2: FnSpec = FnSpec::new("golden::square").with_version(2);
static SQUARE_CODE: FnSpec = FnSpec::new("golden::square").with_code([7u8; 32]);

/// The call key computed from hand-written CBOR, without the codec.
fn key_by_hand(version: u8, code: Option<[u8; 32]>, args: &[(&str, Digest)]) -> Digest {
    let mut bytes = vec![0x84, 0x60 + 14];
    bytes.extend_from_slice(b"golden::square");
    assert!(version < 24);
    bytes.push(version);
    match code {
        Some(c) => {
            bytes.extend_from_slice(&[0x58, 0x20]);
            bytes.extend_from_slice(&c);
        }
        None => bytes.push(0xf6),
    }
    assert!(args.len() < 24);
    bytes.push(0x80 + args.len() as u8);
    for (name, digest) in args {
        assert!(name.len() < 24);
        bytes.extend_from_slice(&[0x82, 0x60 + name.len() as u8]);
        bytes.extend_from_slice(name.as_bytes());
        bytes.extend_from_slice(&[0x58, 0x20]);
        bytes.extend_from_slice(digest.as_bytes());
    }
    let mut h = blake3::Hasher::new_derive_key(CALL_KEY_CONTEXT);
    h.update(&bytes);
    h.finalize().into()
}

#[test]
fn call_keys_are_pinned() {
    let x = codec::digest(&3u64).unwrap();
    let y = codec::digest("y").unwrap();
    let cases: [(&str, Digest, Digest, &str); 6] = [
        (
            "x",
            SQUARE.key(&[("x", x)]),
            key_by_hand(0, None, &[("x", x)]),
            "a584c34c81c07dcc49a554e0d7abe285f1fc3d0bb09963a1bbee7e5b05cc7161",
        ),
        (
            "version 2",
            SQUARE_V2.key(&[("x", x)]),
            key_by_hand(2, None, &[("x", x)]),
            "af0988f18ff61c3482ccd9a9363791c7cb9ca7d5145464e6a47976b2c97c25fe",
        ),
        (
            "code",
            SQUARE_CODE.key(&[("x", x)]),
            key_by_hand(0, Some([7u8; 32]), &[("x", x)]),
            "6859264ec9aa5a8c498902da143917bf0d0fd16be807324cd56a27e41a5ed4ad",
        ),
        (
            "no args",
            SQUARE.key(&[]),
            key_by_hand(0, None, &[]),
            "93c38dc0091dd15e756ff784ece115b484772c21fa09ffe7b8476e092b0009a7",
        ),
        (
            "x, y",
            SQUARE.key(&[("x", x), ("y", y)]),
            key_by_hand(0, None, &[("x", x), ("y", y)]),
            "75669a8cfe92124008251aaeef9de7604602c4fcf0d93f92831471c1d5b5c00d",
        ),
        (
            "y, x",
            SQUARE.key(&[("y", y), ("x", x)]),
            key_by_hand(0, None, &[("y", y), ("x", x)]),
            "b4e2d1e296b7d7b5e7137257384caca89d924514eb2b5d79d4548a71e0b07dbb",
        ),
    ];
    for (what, key, by_hand, pinned) in cases {
        assert_eq!(key.to_hex(), pinned, "call key ({what})");
        assert_eq!(key, by_hand, "call key ({what}) against hand-written CBOR");
    }
    // A fresh spec (no cached prefix yet) gives the same key.
    assert_eq!(
        FnSpec::new("golden::square").key(&[("x", x)]),
        SQUARE.key(&[("x", x)])
    );
    // Argument order is part of the key.
    assert_ne!(cases[4].1, cases[5].1);
    let mut all: Vec<Digest> = cases.iter().map(|c| c.1).collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), cases.len(), "every case has its own key");
}

/// The one record whose bytes are pinned.
fn golden_record() -> CallRecord {
    let x = codec::digest(&3u64).unwrap();
    let y = codec::digest("y").unwrap();
    let inline = codec::encode(&42u64).unwrap();
    let result = ValueRef {
        digest: Digest::of(&inline),
        inline: Some(inline.into()),
    };
    let metadata: Metadata = [
        ("tags".to_owned(), serde_json::json!({"project": "x"})),
        ("runtime".to_owned(), serde_json::json!({"wall_s": 0.5})),
    ]
    .into_iter()
    .collect();
    CallRecord::new(Digest::from_bytes([0xab; 32]), "golden::f", result)
        .with_version(1)
        .with_code(None)
        .with_args(vec![
            ArgDigest {
                name: "x".into(),
                digest: x,
            },
            ArgDigest {
                name: "y".into(),
                digest: y,
            },
        ])
        .with_metadata(metadata)
        .with_created_at(Timestamp::from_micros(1_700_000_000_000_000))
}

/// `golden_record()` as deterministic CBOR, one map entry a line.
const GOLDEN_RECORD: &str = concat!(
    "a9",
    "636b6579",
    "5820abababababababababababababababababababababababababababababababab",
    "6461726773",
    "82",
    "a2646e616d656178666469676573745820e1e0e81d6ea39b0cf8b86ffd440921011f57400cbc3f76a8a171906a9b8d7505",
    "a2646e616d656179666469676573745820a1b4df527952b114e594d18478a2647d23ab44faefacea1dbdb7afd174cf257f",
    "64636f6465",
    "f6",
    "66666f726d6174",
    "01",
    "66726573756c74",
    "a2666469676573745820b828e7bda50941d5618ae287093288dd06a229250fca262764a408defd29f91c66696e6c696e6542182a",
    "6776657273696f6e",
    "01",
    "6866756e6374696f6e",
    "69676f6c64656e3a3a66",
    "686d65746164617461",
    "a26474616773a16770726f6a65637461786772756e74696d65a16677616c6c5f73f93800",
    "6a637265617465645f6174",
    "1b00060a24181e4000",
);

#[test]
fn call_record_bytes_are_pinned() {
    let record = golden_record();
    let bytes = record.to_bytes().unwrap();
    assert_eq!(hex::encode(&bytes), GOLDEN_RECORD);
    let golden = hex::decode(GOLDEN_RECORD).unwrap();
    let back = CallRecord::from_bytes(&golden).unwrap();
    assert_eq!(back, record);
    assert_eq!(back.format, RECORD_FORMAT);
    assert_eq!(
        back.metadata_at("runtime.wall_s"),
        Some(&serde_json::json!(0.5))
    );
    assert_eq!(
        back.metadata_at("tags.project"),
        Some(&serde_json::json!("x"))
    );
    assert_eq!(back.result.inline.as_deref(), Some(&[0x18, 0x2a][..]));
    assert_eq!(
        codec::decode::<u64>(back.result.inline.as_deref().unwrap()).unwrap(),
        42
    );
    assert_eq!(back.created_at.to_string(), "2023-11-14T22:13:20.000000Z");
}

fn assert_refused_as_newer(bytes: &[u8]) {
    // The whole record, and the head a hit reads.
    for err in [
        CallRecord::from_bytes(bytes).unwrap_err(),
        RecordHead::from_bytes(bytes).unwrap_err(),
    ] {
        assert!(matches!(err, CodecError::Decode(_)), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains("newer"), "{msg}");
        assert!(msg.contains(&(RECORD_FORMAT + 1).to_string()), "{msg}");
    }
}

#[test]
fn the_head_of_the_golden_record_is_its_key_and_result() {
    let head = RecordHead::from_bytes(&hex::decode(GOLDEN_RECORD).unwrap()).unwrap();
    let record = golden_record();
    assert_eq!(head.format, RECORD_FORMAT);
    assert_eq!(head.key, record.key);
    assert_eq!(head.result, record.result);
}

#[test]
fn a_newer_record_format_is_refused() {
    let mut record = golden_record();
    record.format = RECORD_FORMAT + 1;
    assert_refused_as_newer(&record.to_bytes().unwrap());
    // The same, edited in the pinned bytes: "format": 1 becomes "format": 2.
    let edited = GOLDEN_RECORD.replacen("66666f726d617401", "66666f726d617402", 1);
    assert_ne!(edited, GOLDEN_RECORD);
    assert_refused_as_newer(&hex::decode(edited).unwrap());
    // The current format still reads.
    record.format = RECORD_FORMAT;
    assert_eq!(
        CallRecord::from_bytes(&record.to_bytes().unwrap()).unwrap(),
        golden_record()
    );
}
