//! Function identity and the call key.

use std::sync::OnceLock;

use serde::Serialize;

use crate::Digest;
use crate::codec::{self, CodecError};

/// The BLAKE3 derive-key context of call keys. Changing it changes every key.
pub const CALL_KEY_CONTEXT: &str = "fleche call v1";

/// How an isolated function's body is given a working directory of its own.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Isolate {
    /// Not isolated.
    #[default]
    No,
    /// A fresh scratch directory, reachable through
    /// [`scratch_dir`](crate::isolate::scratch_dir), removed afterwards.
    Scratch,
    /// As `Scratch`, and the process's working directory is changed to it
    /// while the body runs. The working directory is process-wide, so such
    /// bodies run one at a time in a process.
    Chdir,
}

/// The identity of a cached function: what goes into its call keys besides
/// the arguments. The `#[fleche]` attribute makes one `static` per function.
///
/// The call key is BLAKE3 in derive-key mode with context
/// [`CALL_KEY_CONTEXT`] over the deterministic CBOR of the array
/// `[name, version, code digest or null, [[arg name, arg digest], …]]`.
///
/// ```
/// use fleche_core::{FnSpec, codec};
/// static SPEC: FnSpec = FnSpec::new("demo::add").with_version(2);
/// let key = SPEC.key(&[("a", codec::digest(&1u8).unwrap()), ("b", codec::digest(&2u8).unwrap())]);
/// assert_ne!(key, SPEC.key(&[]));
/// ```
#[derive(Debug)]
pub struct FnSpec {
    name: &'static str,
    version: u32,
    code: Option<[u8; 32]>,
    isolate: Isolate,
    package: (&'static str, &'static str),
    prefix: OnceLock<blake3::Hasher>,
}

impl FnSpec {
    /// A function called `name` (conventionally `module::path::fn_name`).
    pub const fn new(name: &'static str) -> Self {
        Self {
            name,
            version: 0,
            code: None,
            isolate: Isolate::No,
            package: ("", ""),
            prefix: OnceLock::new(),
        }
    }

    /// Sets the version; bump it to invalidate the function's entries.
    pub const fn with_version(mut self, version: u32) -> Self {
        self.version = version;
        self
    }

    /// Makes the function's code digest part of the key.
    pub const fn with_code(mut self, code: [u8; 32]) -> Self {
        self.code = Some(code);
        self
    }

    /// Sets how the body is isolated.
    pub const fn with_isolate(mut self, isolate: Isolate) -> Self {
        self.isolate = isolate;
        self
    }

    /// Names the crate (and its version) that defines the function, for the
    /// environment metadata.
    pub const fn with_package(mut self, name: &'static str, version: &'static str) -> Self {
        self.package = (name, version);
        self
    }

    /// The function's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The function's version.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The code digest, if the code is part of the key.
    pub fn code(&self) -> Option<Digest> {
        self.code.map(Digest::from_bytes)
    }

    /// How the body is isolated.
    pub fn isolate(&self) -> Isolate {
        self.isolate
    }

    /// The defining crate's name and version.
    pub fn package(&self) -> (&'static str, &'static str) {
        self.package
    }

    /// The hasher state after the function's identity: the first three
    /// items of the key array, computed once per function.
    fn prefix(&self) -> &blake3::Hasher {
        self.prefix.get_or_init(|| {
            let mut h = blake3::Hasher::new_derive_key(CALL_KEY_CONTEXT);
            h.update(&[0x84]); // a CBOR array of four items
            codec::hash_into(&mut h, self.name).expect("a str always encodes");
            codec::hash_into(&mut h, &self.version).expect("a u32 always encodes");
            codec::hash_into(&mut h, &self.code()).expect("a digest always encodes");
            h
        })
    }

    /// The call key for these (name, digest) arguments, in order.
    pub fn key(&self, args: &[(&str, Digest)]) -> Digest {
        let mut h = self.prefix().clone();
        codec::hash_into(&mut h, args).expect("names and digests always encode");
        h.finalize().into()
    }
}

/// The digest of one argument: BLAKE3 of its deterministic CBOR.
pub fn arg_digest<T: Serialize + ?Sized>(value: &T) -> Result<Digest, CodecError> {
    codec::digest(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_state_equals_whole_encoding() {
        static SPEC: FnSpec = FnSpec::new("m::f").with_version(3).with_code([7; 32]);
        let args = [("x", Digest::of(b"1")), ("y", Digest::of(b"2"))];
        let whole =
            codec::encode(&("m::f", 3u32, Some(Digest::from_bytes([7; 32])), &args[..])).unwrap();
        let expected: Digest = blake3::Hasher::new_derive_key(CALL_KEY_CONTEXT)
            .update(&whole)
            .finalize()
            .into();
        assert_eq!(SPEC.key(&args), expected);
    }

    #[test]
    fn every_part_of_the_identity_changes_the_key() {
        let args = [("x", Digest::of(b"1"))];
        let base = FnSpec::new("m::f").key(&args);
        assert_ne!(base, FnSpec::new("m::g").key(&args));
        assert_ne!(base, FnSpec::new("m::f").with_version(1).key(&args));
        assert_ne!(base, FnSpec::new("m::f").with_code([0; 32]).key(&args));
        assert_ne!(base, FnSpec::new("m::f").key(&[("y", Digest::of(b"1"))]));
        assert_ne!(base, FnSpec::new("m::f").key(&[]));
        // Isolation and package are not part of the key.
        assert_eq!(
            base,
            FnSpec::new("m::f")
                .with_isolate(Isolate::Scratch)
                .with_package("p", "1")
                .key(&args)
        );
    }
}
