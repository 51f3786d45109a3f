//! Where things are under the store's prefix.
//!
//! ```text
//! PREFIX/values/ab/<hex>           a value's bytes, under their digest
//! PREFIX/calls/ab/<hex>            a call record (deterministic CBOR)
//! PREFIX/functions/<fn>/<hex>      empty: record <hex> was written for the
//!                                  function whose name's BLAKE3 is <fn>
//! PREFIX/claims/ab/<hex>           a claim (JSON: owner, lease, nonce)
//! ```
//!
//! `ab` is the first two hex digits of the digest: 256 shards, so that a
//! listing by prefix reads one shard, and the server spreads the keys.

use fleche_core::Digest;
use object_store::path::Path;

/// The object paths of one store.
#[derive(Clone, Debug)]
pub(crate) struct Layout {
    root: Path,
}

impl Layout {
    /// The layout under `prefix` (`""` for the bucket's root).
    pub(crate) fn new(prefix: &str) -> Result<Self, object_store::path::Error> {
        Ok(Self {
            root: if prefix.is_empty() {
                Path::default()
            } else {
                Path::parse(prefix)?
            },
        })
    }

    /// The prefix everything lives under.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    fn sharded(&self, dir: &str, key: Digest) -> Path {
        let hex = key.to_hex();
        self.root.clone().join(dir).join(&hex[..2]).join(hex)
    }

    pub(crate) fn value(&self, key: Digest) -> Path {
        self.sharded("values", key)
    }

    pub(crate) fn call(&self, key: Digest) -> Path {
        self.sharded("calls", key)
    }

    pub(crate) fn claim(&self, key: Digest) -> Path {
        self.sharded("claims", key)
    }

    /// The directory of `dir` (`values`, `calls`), or of one of its shards.
    pub(crate) fn dir(&self, dir: &str, shard: Option<&str>) -> Path {
        let path = self.root.clone().join(dir);
        match shard {
            Some(shard) => path.join(shard),
            None => path,
        }
    }

    /// The index directory of the records of `function`.
    pub(crate) fn function_dir(&self, function: &str) -> Path {
        self.root
            .clone()
            .join("functions")
            .join(Digest::of(function.as_bytes()).to_hex())
    }

    /// The index entry of the record `key` of `function`.
    pub(crate) fn function_entry(&self, function: &str, key: Digest) -> Path {
        self.function_dir(function).join(key.to_hex())
    }

    /// A scratch object for probing the server's conditional writes.
    pub(crate) fn probe(&self, nonce: &str) -> Path {
        self.root.clone().join("claims").join("probe").join(nonce)
    }
}

/// The digest a listed object is named by (its last segment), if any.
pub(crate) fn key_of(path: &Path) -> Option<Digest> {
    path.filename()?.parse().ok()
}
