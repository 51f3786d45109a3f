//! A serde `Serializer` that writes deterministic CBOR (see the module docs).

use serde::ser::{self, Serialize};

use super::CodecError;
use super::sink::Sink;

const MAJOR_UNSIGNED: u8 = 0;
const MAJOR_NEGATIVE: u8 = 1;
const MAJOR_BYTES: u8 = 2;
const MAJOR_TEXT: u8 = 3;
const MAJOR_ARRAY: u8 = 4;
const MAJOR_MAP: u8 = 5;
const MAJOR_TAG: u8 = 6;
const NULL: u8 = 0xf6;
const FALSE: u8 = 0xf4;
const TRUE: u8 = 0xf5;
const TAG_BIGPOS: u64 = 2;
const TAG_BIGNEG: u64 = 3;

/// ciborium's private names for CBOR tags, kept so that `ciborium::tag` and
/// `ciborium::Value::Tag` encode here as they do there.
const CIBORIUM_TAG: &str = "@@TAG@@";
const CIBORIUM_TAGGED: &str = "@@TAGGED@@";
const CIBORIUM_UNTAGGED: &str = "@@UNTAGGED@@";

pub(crate) fn encode_into<S: Sink, T: Serialize + ?Sized>(
    sink: &mut S,
    value: &T,
) -> Result<(), CodecError> {
    value.serialize(Encoder { sink })
}

/// Writes a head: major type and argument in the shortest form. Inlined
/// always: it runs once per element of a long list.
#[inline(always)]
fn head<S: Sink>(sink: &mut S, major: u8, n: u64) {
    let m = major << 5;
    if n < 24 {
        sink.put_byte(m | n as u8);
    } else if n <= u64::from(u8::MAX) {
        sink.put(&[m | 24, n as u8]);
    } else if n <= u64::from(u16::MAX) {
        let b = (n as u16).to_be_bytes();
        sink.put(&[m | 25, b[0], b[1]]);
    } else if n <= u64::from(u32::MAX) {
        let b = (n as u32).to_be_bytes();
        sink.put(&[m | 26, b[0], b[1], b[2], b[3]]);
    } else {
        let mut buf = [0u8; 9];
        buf[0] = m | 27;
        buf[1..].copy_from_slice(&n.to_be_bytes());
        sink.put(&buf);
    }
}

fn text<S: Sink>(sink: &mut S, s: &str) {
    head(sink, MAJOR_TEXT, s.len() as u64);
    sink.put(s.as_bytes());
}

fn bytes<S: Sink>(sink: &mut S, b: &[u8]) {
    head(sink, MAJOR_BYTES, b.len() as u64);
    sink.put(b);
}

/// The shortest IEEE 754 form that holds `v` exactly; every NaN as `f9 7e 00`.
fn float<S: Sink>(sink: &mut S, v: f64) {
    if v.is_nan() {
        sink.put(&[0xf9, 0x7e, 0x00]);
        return;
    }
    let h = half::f16::from_f64(v);
    if f64::from(h).to_bits() == v.to_bits() {
        let b = h.to_be_bytes();
        sink.put(&[0xf9, b[0], b[1]]);
        return;
    }
    let s = v as f32;
    if f64::from(s).to_bits() == v.to_bits() {
        let b = s.to_be_bytes();
        sink.put(&[0xfa, b[0], b[1], b[2], b[3]]);
        return;
    }
    let mut buf = [0u8; 9];
    buf[0] = 0xfb;
    buf[1..].copy_from_slice(&v.to_be_bytes());
    sink.put(&buf);
}

/// A bignum (tag 2 or 3) for integers beyond 64 bits.
fn bignum<S: Sink>(sink: &mut S, tag: u64, raw: u128) {
    let be = raw.to_be_bytes();
    let skip = be.iter().take_while(|&&b| b == 0).count();
    head(sink, MAJOR_TAG, tag);
    bytes(sink, &be[skip..]);
}

impl ser::Error for CodecError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        CodecError::Encode(msg.to_string())
    }
}

struct Encoder<'a, S: Sink> {
    sink: &'a mut S,
}

impl<'a, S: Sink> ser::Serializer for Encoder<'a, S> {
    type Ok = ();
    type Error = CodecError;
    type SerializeSeq = SeqEncoder<'a, S>;
    type SerializeTuple = SeqEncoder<'a, S>;
    type SerializeTupleStruct = SeqEncoder<'a, S>;
    type SerializeTupleVariant = SeqEncoder<'a, S>;
    type SerializeMap = MapEncoder<'a, S>;
    type SerializeStruct = MapEncoder<'a, S>;
    type SerializeStructVariant = MapEncoder<'a, S>;

    fn is_human_readable(&self) -> bool {
        false
    }

    fn serialize_bool(self, v: bool) -> Result<(), CodecError> {
        self.sink.put_byte(if v { TRUE } else { FALSE });
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), CodecError> {
        self.serialize_i64(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<(), CodecError> {
        self.serialize_i64(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<(), CodecError> {
        self.serialize_i64(v.into())
    }
    #[inline]
    fn serialize_i64(self, v: i64) -> Result<(), CodecError> {
        if v < 0 {
            head(self.sink, MAJOR_NEGATIVE, !(v as u64));
        } else {
            head(self.sink, MAJOR_UNSIGNED, v as u64);
        }
        Ok(())
    }
    fn serialize_i128(self, v: i128) -> Result<(), CodecError> {
        // The CBOR argument of a negative integer n is -1 - n, i.e. !n.
        let (major, tag, raw) = if v < 0 {
            (MAJOR_NEGATIVE, TAG_BIGNEG, !(v as u128))
        } else {
            (MAJOR_UNSIGNED, TAG_BIGPOS, v as u128)
        };
        match u64::try_from(raw) {
            Ok(n) => head(self.sink, major, n),
            Err(_) => bignum(self.sink, tag, raw),
        }
        Ok(())
    }
    #[inline(always)]
    fn serialize_u8(self, v: u8) -> Result<(), CodecError> {
        self.serialize_u64(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<(), CodecError> {
        self.serialize_u64(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<(), CodecError> {
        self.serialize_u64(v.into())
    }
    #[inline(always)]
    fn serialize_u64(self, v: u64) -> Result<(), CodecError> {
        head(self.sink, MAJOR_UNSIGNED, v);
        Ok(())
    }
    fn serialize_u128(self, v: u128) -> Result<(), CodecError> {
        match u64::try_from(v) {
            Ok(n) => head(self.sink, MAJOR_UNSIGNED, n),
            Err(_) => bignum(self.sink, TAG_BIGPOS, v),
        }
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> Result<(), CodecError> {
        float(self.sink, v.into());
        Ok(())
    }
    fn serialize_f64(self, v: f64) -> Result<(), CodecError> {
        float(self.sink, v);
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<(), CodecError> {
        text(self.sink, v.encode_utf8(&mut [0u8; 4]));
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), CodecError> {
        text(self.sink, v);
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), CodecError> {
        bytes(self.sink, v);
        Ok(())
    }
    fn serialize_none(self) -> Result<(), CodecError> {
        self.sink.put_byte(NULL);
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), CodecError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), CodecError> {
        self.serialize_none()
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), CodecError> {
        self.serialize_none()
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _i: u32,
        variant: &'static str,
    ) -> Result<(), CodecError> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), CodecError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        _i: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), CodecError> {
        if !(name == CIBORIUM_TAG && variant == CIBORIUM_UNTAGGED) {
            head(self.sink, MAJOR_MAP, 1);
            text(self.sink, variant);
        }
        value.serialize(self)
    }
    fn collect_seq<I>(self, iter: I) -> Result<(), CodecError>
    where
        I: IntoIterator,
        I::Item: Serialize,
    {
        if is_hash_set::<I>() {
            return sorted_set(self.sink, iter);
        }
        let iter = iter.into_iter();
        let Some(len) = exact_len(&iter) else {
            let mut seq = SeqEncoder::new(self.sink, None);
            for item in iter {
                seq.element(&item)?;
            }
            return seq.finish();
        };
        // The common case (a Vec, a slice): stream the elements with no
        // per-element bookkeeping beyond a count.
        head(self.sink, MAJOR_ARRAY, len as u64);
        let mut count = 0usize;
        for item in iter {
            item.serialize(Encoder {
                sink: &mut *self.sink,
            })?;
            count += 1;
        }
        if count != len {
            return Err(length_mismatch(Some(len), count));
        }
        Ok(())
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<SeqEncoder<'a, S>, CodecError> {
        Ok(SeqEncoder::new(self.sink, len))
    }
    fn serialize_tuple(self, len: usize) -> Result<SeqEncoder<'a, S>, CodecError> {
        Ok(SeqEncoder::new(self.sink, Some(len)))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<SeqEncoder<'a, S>, CodecError> {
        Ok(SeqEncoder::new(self.sink, Some(len)))
    }
    fn serialize_tuple_variant(
        self,
        name: &'static str,
        _i: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<SeqEncoder<'a, S>, CodecError> {
        if name == CIBORIUM_TAG && variant == CIBORIUM_TAGGED {
            return Ok(SeqEncoder::tagged(self.sink));
        }
        head(self.sink, MAJOR_MAP, 1);
        text(self.sink, variant);
        Ok(SeqEncoder::new(self.sink, Some(len)))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<MapEncoder<'a, S>, CodecError> {
        Ok(MapEncoder::new(self.sink))
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<MapEncoder<'a, S>, CodecError> {
        Ok(MapEncoder::new(self.sink))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _i: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<MapEncoder<'a, S>, CodecError> {
        head(self.sink, MAJOR_MAP, 1);
        text(self.sink, variant);
        Ok(MapEncoder::new(self.sink))
    }
}

/// How a sequence is being written.
enum SeqMode {
    /// Length known and head written: elements stream into the sink.
    Direct,
    /// Length unknown: encoded elements are gathered to be counted.
    Buffered(Vec<u8>),
    /// A ciborium tag: the first element is the tag number.
    Tag { tag_written: bool },
}

struct SeqEncoder<'a, S: Sink> {
    sink: &'a mut S,
    len: Option<usize>,
    count: usize,
    mode: SeqMode,
}

impl<'a, S: Sink> SeqEncoder<'a, S> {
    fn new(sink: &'a mut S, len: Option<usize>) -> Self {
        let mode = match len {
            Some(n) => {
                head(sink, MAJOR_ARRAY, n as u64);
                SeqMode::Direct
            }
            None => SeqMode::Buffered(Vec::new()),
        };
        Self {
            sink,
            len,
            count: 0,
            mode,
        }
    }

    fn tagged(sink: &'a mut S) -> Self {
        Self {
            sink,
            len: None,
            count: 0,
            mode: SeqMode::Tag { tag_written: false },
        }
    }

    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CodecError> {
        self.count += 1;
        match &mut self.mode {
            SeqMode::Direct => encode_into(self.sink, value),
            SeqMode::Buffered(buf) => encode_into(buf, value),
            SeqMode::Tag { tag_written: false } => {
                let tag = value
                    .serialize(U64Probe)
                    .map_err(|_| CodecError::Encode("CBOR tag number must be a u64".into()))?;
                head(self.sink, MAJOR_TAG, tag);
                self.mode = SeqMode::Tag { tag_written: true };
                Ok(())
            }
            SeqMode::Tag { tag_written: true } => encode_into(self.sink, value),
        }
    }

    fn finish(self) -> Result<(), CodecError> {
        // The head already promised this many elements.
        if self.len.is_some_and(|n| n != self.count) {
            return Err(length_mismatch(self.len, self.count));
        }
        if let SeqMode::Buffered(buf) = self.mode {
            head(self.sink, MAJOR_ARRAY, self.count as u64);
            self.sink.put(&buf);
        }
        Ok(())
    }
}

/// The exact length of an iterator, if its size hint promises one.
fn exact_len<I: Iterator>(iter: &I) -> Option<usize> {
    match iter.size_hint() {
        (lo, Some(hi)) if lo == hi => Some(lo),
        _ => None,
    }
}

fn length_mismatch(announced: Option<usize>, given: usize) -> CodecError {
    CodecError::Encode(format!(
        "sequence announced {announced:?} elements but gave {given}"
    ))
}

/// Whether `I` (what `collect_seq` iterates) is a hash set, whose iteration
/// order differs between sets with equal elements and between processes.
/// serde serializes sets and lists alike, so the type's name is the only
/// way to tell; golden tests pin the result, so a compiler that named types
/// differently would be noticed.
fn is_hash_set<I>() -> bool {
    let name = std::any::type_name::<I>();
    let outer = name
        .trim_start_matches('&')
        .trim_start_matches("mut ")
        .split('<')
        .next()
        .unwrap_or("");
    // A slice or array (`[HashSet<T>]`) names its element type before any
    // `<`, but it is a sequence, whose order is part of its value.
    if outer.contains('[') {
        return false;
    }
    outer.ends_with("HashSet") || outer.contains("::hash::set::") || outer.contains("hash_set::")
}

/// Writes the elements of an unordered set sorted by their encodings, like
/// map keys, so equal sets encode equally.
fn sorted_set<S: Sink, I>(sink: &mut S, iter: I) -> Result<(), CodecError>
where
    I: IntoIterator,
    I::Item: Serialize,
{
    let mut arena = Vec::new();
    let mut spans = Vec::new();
    for item in iter {
        let start = arena.len();
        encode_into(&mut arena, &item)?;
        spans.push((start, arena.len()));
    }
    spans.sort_unstable_by(|a, b| arena[a.0..a.1].cmp(&arena[b.0..b.1]));
    head(sink, MAJOR_ARRAY, spans.len() as u64);
    for (start, end) in spans {
        sink.put(&arena[start..end]);
    }
    Ok(())
}

macro_rules! seq_impl {
    ($trait:ident, $method:ident) => {
        impl<S: Sink> ser::$trait for SeqEncoder<'_, S> {
            type Ok = ();
            type Error = CodecError;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CodecError> {
                self.element(value)
            }
            fn end(self) -> Result<(), CodecError> {
                self.finish()
            }
        }
    };
}
seq_impl!(SerializeSeq, serialize_element);
seq_impl!(SerializeTuple, serialize_element);
seq_impl!(SerializeTupleStruct, serialize_field);
seq_impl!(SerializeTupleVariant, serialize_field);

/// Gathers map entries in one arena, then writes them sorted by their
/// encoded keys (RFC 8949 §4.2.1).
struct MapEncoder<'a, S: Sink> {
    sink: &'a mut S,
    arena: Vec<u8>,
    /// (key start, value start, value end) in `arena`.
    entries: Vec<(usize, usize, usize)>,
    key_start: usize,
}

impl<'a, S: Sink> MapEncoder<'a, S> {
    fn new(sink: &'a mut S) -> Self {
        Self {
            sink,
            arena: Vec::new(),
            entries: Vec::new(),
            key_start: 0,
        }
    }

    fn key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), CodecError> {
        self.key_start = self.arena.len();
        encode_into(&mut self.arena, key)
    }

    fn value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CodecError> {
        let value_start = self.arena.len();
        encode_into(&mut self.arena, value)?;
        self.entries
            .push((self.key_start, value_start, self.arena.len()));
        Ok(())
    }

    fn finish(mut self) -> Result<(), CodecError> {
        let arena = &self.arena;
        self.entries
            .sort_unstable_by(|a, b| arena[a.0..a.1].cmp(&arena[b.0..b.1]));
        if let Some(w) = self
            .entries
            .windows(2)
            .find(|w| arena[w[0].0..w[0].1] == arena[w[1].0..w[1].1])
        {
            return Err(CodecError::Encode(format!(
                "map has the key {} twice",
                hex::encode(&arena[w[0].0..w[0].1])
            )));
        }
        head(self.sink, MAJOR_MAP, self.entries.len() as u64);
        for &(k, _, end) in &self.entries {
            self.sink.put(&arena[k..end]);
        }
        Ok(())
    }
}

impl<S: Sink> ser::SerializeMap for MapEncoder<'_, S> {
    type Ok = ();
    type Error = CodecError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), CodecError> {
        self.key(key)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CodecError> {
        self.value(value)
    }
    fn end(self) -> Result<(), CodecError> {
        self.finish()
    }
}

macro_rules! struct_impl {
    ($trait:ident) => {
        impl<S: Sink> ser::$trait for MapEncoder<'_, S> {
            type Ok = ();
            type Error = CodecError;
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> Result<(), CodecError> {
                self.key(key)?;
                self.value(value)
            }
            fn end(self) -> Result<(), CodecError> {
                self.finish()
            }
        }
    };
}
struct_impl!(SerializeStruct);
struct_impl!(SerializeStructVariant);

/// Reads an unsigned integer: the tag number of a ciborium tag.
struct U64Probe;

/// The `Serializer` methods a probe refuses: every scalar listed, and every
/// compound or textual form.
macro_rules! refuse {
    ($out:ty; $($m:ident : $t:ty),*) => {
        type Ok = $out;
        type Error = CodecError;
        type SerializeSeq = ser::Impossible<$out, CodecError>;
        type SerializeTuple = ser::Impossible<$out, CodecError>;
        type SerializeTupleStruct = ser::Impossible<$out, CodecError>;
        type SerializeTupleVariant = ser::Impossible<$out, CodecError>;
        type SerializeMap = ser::Impossible<$out, CodecError>;
        type SerializeStruct = ser::Impossible<$out, CodecError>;
        type SerializeStructVariant = ser::Impossible<$out, CodecError>;
        $(fn $m(self, _: $t) -> Result<$out, CodecError> { Err(not_probe()) })*
        fn serialize_str(self, _: &str) -> Result<$out, CodecError> { Err(not_probe()) }
        fn serialize_bytes(self, _: &[u8]) -> Result<$out, CodecError> { Err(not_probe()) }
        fn serialize_none(self) -> Result<$out, CodecError> { Err(not_probe()) }
        fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<$out, CodecError> { Err(not_probe()) }
        fn serialize_unit(self) -> Result<$out, CodecError> { Err(not_probe()) }
        fn serialize_unit_struct(self, _: &'static str) -> Result<$out, CodecError> { Err(not_probe()) }
        fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Result<$out, CodecError> { Err(not_probe()) }
        fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, _: &T) -> Result<$out, CodecError> { Err(not_probe()) }
        fn serialize_newtype_variant<T: Serialize + ?Sized>(self, _: &'static str, _: u32, _: &'static str, _: &T) -> Result<$out, CodecError> { Err(not_probe()) }
        fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, CodecError> { Err(not_probe()) }
        fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, CodecError> { Err(not_probe()) }
        fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeTupleStruct, CodecError> { Err(not_probe()) }
        fn serialize_tuple_variant(self, _: &'static str, _: u32, _: &'static str, _: usize) -> Result<Self::SerializeTupleVariant, CodecError> { Err(not_probe()) }
        fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, CodecError> { Err(not_probe()) }
        fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, CodecError> { Err(not_probe()) }
        fn serialize_struct_variant(self, _: &'static str, _: u32, _: &'static str, _: usize) -> Result<Self::SerializeStructVariant, CodecError> { Err(not_probe()) }
    };
}

impl ser::Serializer for U64Probe {
    fn serialize_u8(self, v: u8) -> Result<u64, CodecError> {
        Ok(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<u64, CodecError> {
        Ok(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<u64, CodecError> {
        Ok(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<u64, CodecError> {
        Ok(v)
    }
    refuse!(u64; serialize_bool: bool, serialize_i8: i8, serialize_i16: i16, serialize_i32: i32,
        serialize_i64: i64, serialize_f32: f32, serialize_f64: f64, serialize_char: char);
}

fn not_probe() -> CodecError {
    CodecError::Encode(String::new())
}
