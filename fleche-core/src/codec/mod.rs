//! The deterministic CBOR codec.
//!
//! Every value fleche stores or hashes goes through [`encode`]: CBOR
//! (RFC 8949) in its *deterministic* form (§4.2.1) — definite lengths, the
//! shortest form of every integer, length and float, and map entries sorted
//! by their encoded keys. Equal values therefore give equal bytes, whatever
//! the iteration order of a `HashMap` or `HashSet`.
//!
//! Two choices go beyond the RFC and are part of the format contract:
//! - the elements of a hash set (`std`'s or hashbrown's `HashSet`) are
//!   written sorted by their encodings, as map entries are, so equal sets
//!   encode equally whatever their iteration order (other sequences keep
//!   their order, which is part of their value);
//! - every NaN is written as the half-precision quiet NaN `f9 7e 00`.
//!
//! A `Vec<u8>` is a CBOR array of small integers, as serde presents it (and
//! as ciborium writes it); use `serde_bytes` or `bytes::Bytes` for a byte
//! string, which is more compact and faster to hash.
//!
//! Decoding uses [`ciborium`], which reads any well-formed CBOR.
//!
//! ```
//! use std::collections::HashMap;
//! use fleche_core::codec;
//!
//! let a: HashMap<&str, u32> = [("x", 1), ("y", 2)].into_iter().collect();
//! let b: HashMap<&str, u32> = [("y", 2), ("x", 1)].into_iter().collect();
//! assert_eq!(codec::encode(&a).unwrap(), codec::encode(&b).unwrap());
//! assert_eq!(codec::digest(&a).unwrap(), codec::digest(&b).unwrap());
//!
//! let s: std::collections::HashSet<u32> = (0..100).collect();
//! let t: std::collections::HashSet<u32> = (0..100).rev().collect();
//! assert_eq!(codec::encode(&s).unwrap(), codec::encode(&t).unwrap());
//! ```

mod encoder;
mod sink;

use std::cell::RefCell;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Digest;
pub(crate) use sink::HashSink;

/// Why a value could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The value's `Serialize` implementation failed or produced something
    /// the deterministic form cannot hold (such as a repeated map key).
    #[error("cannot encode value: {0}")]
    Encode(String),
    /// The bytes are not CBOR of the expected shape.
    #[error("cannot decode value: {0}")]
    Decode(String),
}

/// Encodes `value` as deterministic CBOR.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::new();
    encoder::encode_into(&mut out, value)?;
    Ok(out)
}

/// The digest of `value`: BLAKE3 of [`encode`]`(value)`, computed without
/// holding the whole encoding in memory.
pub fn digest<T: Serialize + ?Sized>(value: &T) -> Result<Digest, CodecError> {
    let mut hasher = blake3::Hasher::new();
    let mut sink = HashSink::new(&mut hasher);
    encoder::encode_into(&mut sink, value)?;
    sink.done();
    Ok(hasher.finalize().into())
}

/// Encodes `value` and returns the bytes with their digest.
pub fn encode_with_digest<T: Serialize + ?Sized>(
    value: &T,
) -> Result<(Vec<u8>, Digest), CodecError> {
    let bytes = encode(value)?;
    let digest = Digest::of(&bytes);
    Ok((bytes, digest))
}

/// Streams the encoding of `value` into `hasher`.
pub(crate) fn hash_into<T: Serialize + ?Sized>(
    hasher: &mut blake3::Hasher,
    value: &T,
) -> Result<(), CodecError> {
    let mut sink = HashSink::new(hasher);
    encoder::encode_into(&mut sink, value)?;
    sink.done();
    Ok(())
}

/// Decodes CBOR bytes into a `T`.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    thread_local! {
        // ciborium's own entry point zeroes a 4 KiB scratch buffer on every
        // call, a tenth of a small hit; reuse one per thread instead.
        static SCRATCH: RefCell<Vec<u8>> = RefCell::new(vec![0; 4096]);
    }
    SCRATCH
        .with(|scratch| match scratch.try_borrow_mut() {
            Ok(mut buf) => ciborium::de::from_reader_with_buffer(bytes, &mut buf),
            // A Deserialize impl that decodes inside a decode.
            Err(_) => ciborium::from_reader(bytes),
        })
        .map_err(|e| CodecError::Decode(e.to_string()))
}

#[cfg(test)]
mod tests;
