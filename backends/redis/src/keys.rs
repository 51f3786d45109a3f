//! The key layout: every key of a store starts with `{NAMESPACE}:`, a hash
//! tag, so all of them fall in one Redis Cluster slot and every script may
//! touch any of them.
//!
//! | key | type | holds |
//! |---|---|---|
//! | `{NS}:v:<hex>` | string | the bytes of the value whose digest is `<hex>` |
//! | `{NS}:c:<hex>` | hash | the call record of key `<hex>`: field `r` its CBOR, `f` its function, `v` its result's digest when the result is not inline |
//! | `{NS}:i` | sorted set | every record's key (hex), scored by `created_at` (µs) |
//! | `{NS}:f:<function>` | sorted set | the keys of one function's records, scored likewise |
//! | `{NS}:l:<hex>` | string | the owner token of a live claim, expiring with its lease |
//! | `{NS}:h:<hex>` | string | the last owner that claimed and did not release: tells a takeover |

use fleche_core::Digest;

/// The keys of one namespace.
#[derive(Clone, Debug)]
pub(crate) struct Keys {
    /// `{NS}:`
    root: String,
}

impl Keys {
    pub(crate) fn new(namespace: &str) -> Self {
        Self {
            root: format!("{{{namespace}}}:"),
        }
    }

    fn with(&self, kind: &str, key: Digest) -> String {
        let mut s = String::with_capacity(self.root.len() + kind.len() + 64);
        s.push_str(&self.root);
        s.push_str(kind);
        s.push_str(&key.to_hex());
        s
    }

    /// `{NS}:v:<hex>`
    pub(crate) fn value(&self, key: Digest) -> String {
        self.with("v:", key)
    }

    /// `{NS}:v:`, the prefix of value keys (for scripts and scans).
    pub(crate) fn value_prefix(&self) -> String {
        format!("{}v:", self.root)
    }

    /// `{NS}:c:<hex>`
    pub(crate) fn record(&self, key: Digest) -> String {
        self.with("c:", key)
    }

    /// `{NS}:i`
    pub(crate) fn all_index(&self) -> String {
        format!("{}i", self.root)
    }

    /// `{NS}:f:`, the prefix of function indexes.
    pub(crate) fn function_prefix(&self) -> String {
        format!("{}f:", self.root)
    }

    /// `{NS}:f:<function>`
    pub(crate) fn function_index(&self, function: &str) -> String {
        format!("{}f:{function}", self.root)
    }

    /// `{NS}:l:<hex>`
    pub(crate) fn lease(&self, key: Digest) -> String {
        self.with("l:", key)
    }

    /// `{NS}:h:<hex>`
    pub(crate) fn holder(&self, key: Digest) -> String {
        self.with("h:", key)
    }

    /// The `SCAN` pattern of every key of the namespace.
    pub(crate) fn everything(&self) -> String {
        format!("{}*", self.root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_hash_tag() {
        let k = Keys::new("ns");
        let d = Digest::of(b"x");
        for key in [
            k.value(d),
            k.record(d),
            k.all_index(),
            k.function_index("m::f{}"),
            k.lease(d),
        ] {
            assert!(key.starts_with("{ns}:"), "{key}");
        }
        assert_eq!(k.record(d), format!("{{ns}}:c:{}", d.to_hex()));
    }
}
