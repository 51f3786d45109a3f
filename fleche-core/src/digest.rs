//! Content digests: 32-byte BLAKE3 hashes shown as 64 lowercase hex digits.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// The shortest prefix, in hex digits, that [`Digest::expand`] accepts.
pub const MIN_PREFIX_LEN: usize = 4;

/// A 32-byte BLAKE3 digest: the identity of a stored value or of a call.
///
/// Displayed and parsed as 64 lowercase hex digits. In binary formats (CBOR)
/// it is a 32-byte byte string; in human-readable ones (JSON) a hex string.
///
/// ```
/// use fleche_core::Digest;
/// let d = Digest::of(b"hello");
/// assert_eq!(d.to_string().len(), 64);
/// assert_eq!(d.to_string().parse::<Digest>().unwrap(), d);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest([u8; 32]);

impl Digest {
    /// Wraps 32 raw bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The BLAKE3 digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(*blake3::hash(bytes).as_bytes())
    }

    /// The raw 32 bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The 64-digit lowercase hex form.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Whether the hex form of this digest starts with `prefix` (any case).
    pub fn has_prefix(&self, prefix: &str) -> bool {
        let hex = self.to_hex();
        prefix.len() <= hex.len()
            && hex.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
    }

    /// Expands a hex prefix (at least [`MIN_PREFIX_LEN`] digits) to the one
    /// digest among `candidates` that starts with it.
    ///
    /// ```
    /// use fleche_core::Digest;
    /// let a = Digest::of(b"a");
    /// let b = Digest::of(b"b");
    /// let prefix = &a.to_hex()[..8];
    /// assert_eq!(Digest::expand(prefix, [a, b]).unwrap(), a);
    /// ```
    pub fn expand(
        prefix: &str,
        candidates: impl IntoIterator<Item = Digest>,
    ) -> Result<Digest, PrefixError> {
        let prefix = validate_prefix(prefix)?;
        let mut matches: Vec<Digest> = candidates
            .into_iter()
            .filter(|d| d.has_prefix(&prefix))
            .collect();
        matches.sort_unstable();
        matches.dedup();
        match matches.len() {
            0 => Err(PrefixError::NotFound { prefix }),
            1 => Ok(matches[0]),
            n => {
                let needed = common_hex_len(&matches) + 1;
                Err(PrefixError::Ambiguous {
                    prefix,
                    matches: n,
                    needed,
                })
            }
        }
    }

    /// The shortest prefix (at least [`MIN_PREFIX_LEN`] digits) of this digest
    /// that no other digest among `others` shares.
    ///
    /// ```
    /// use fleche_core::Digest;
    /// let a = Digest::of(b"a");
    /// let short = a.shrink([Digest::of(b"b")]);
    /// assert!(short.len() >= 4);
    /// assert_eq!(Digest::expand(&short, [a, Digest::of(b"b")]).unwrap(), a);
    /// ```
    pub fn shrink(&self, others: impl IntoIterator<Item = Digest>) -> String {
        let longest_shared = others
            .into_iter()
            .filter(|o| o != self)
            .map(|o| shared_hex_digits(self, &o))
            .max()
            .unwrap_or(0);
        let len = (longest_shared + 1).clamp(MIN_PREFIX_LEN, 64);
        self.to_hex()[..len].to_owned()
    }
}

/// Checks that `prefix` is 4 to 64 hex digits and returns it lowercased.
fn validate_prefix(prefix: &str) -> Result<String, PrefixError> {
    if prefix.len() < MIN_PREFIX_LEN || prefix.len() > 64 {
        return Err(PrefixError::Length {
            prefix: prefix.to_owned(),
        });
    }
    if !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(PrefixError::NotHex {
            prefix: prefix.to_owned(),
        });
    }
    Ok(prefix.to_ascii_lowercase())
}

/// How many leading hex digits two digests share.
fn shared_hex_digits(a: &Digest, b: &Digest) -> usize {
    for (i, (x, y)) in a.0.iter().zip(b.0.iter()).enumerate() {
        if x != y {
            return i * 2 + usize::from(x >> 4 == y >> 4);
        }
    }
    64
}

/// How many leading hex digits all of `sorted` (at least two) share.
fn common_hex_len(sorted: &[Digest]) -> usize {
    // In sorted order the first and last share the least.
    shared_hex_digits(&sorted[0], &sorted[sorted.len() - 1])
}

/// Why a digest or digest prefix could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PrefixError {
    /// The text is not 4 to 64 characters long.
    #[error("digest prefix {prefix:?} must be {MIN_PREFIX_LEN} to 64 hex digits long")]
    Length {
        /// The text given.
        prefix: String,
    },
    /// The text has a character that is not a hex digit.
    #[error("digest prefix {prefix:?} has a character that is not a hex digit")]
    NotHex {
        /// The text given.
        prefix: String,
    },
    /// No digest starts with the prefix.
    #[error("no digest starts with {prefix}")]
    NotFound {
        /// The prefix given.
        prefix: String,
    },
    /// More than one digest starts with the prefix.
    #[error(
        "digest prefix {prefix} is ambiguous: {matches} digests start with it; give at least {needed} hex digits"
    )]
    Ambiguous {
        /// The prefix given.
        prefix: String,
        /// How many digests start with it.
        matches: usize,
        /// How many leading digits tell them apart.
        needed: usize,
    },
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 64];
        hex::encode_to_slice(self.0, &mut buf).map_err(|_| fmt::Error)?;
        // Hex digits are ASCII.
        f.write_str(std::str::from_utf8(&buf).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

impl FromStr for Digest {
    type Err = PrefixError;

    /// Parses exactly 64 hex digits; use [`Digest::expand`] for prefixes.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 64 {
            return Err(PrefixError::Length {
                prefix: s.to_owned(),
            });
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|_| PrefixError::NotHex {
            prefix: s.to_owned(),
        })?;
        Ok(Self(out))
    }
}

impl From<blake3::Hash> for Digest {
    fn from(h: blake3::Hash) -> Self {
        Self(*h.as_bytes())
    }
}

impl AsRef<[u8]> for Digest {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&self.to_hex())
        } else {
            s.serialize_bytes(&self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Digest;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a 32-byte digest or 64 hex digits")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Digest, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Digest, E> {
                let arr: [u8; 32] = v
                    .try_into()
                    .map_err(|_| E::invalid_length(v.len(), &self))?;
                Ok(Digest(arr))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Digest, A::Error> {
                let mut out = [0u8; 32];
                for (i, b) in out.iter_mut().enumerate() {
                    *b = seq
                        .next_element()?
                        .ok_or_else(|| de::Error::invalid_length(i, &self))?;
                }
                Ok(Digest(out))
            }
        }
        if d.is_human_readable() {
            d.deserialize_str(V)
        } else {
            d.deserialize_bytes(V)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest_with_prefix(hex_prefix: &str, fill: u8) -> Digest {
        let mut s = hex_prefix.to_owned();
        while s.len() < 64 {
            s.push(char::from_digit(u32::from(fill), 16).unwrap());
        }
        s.parse().unwrap()
    }

    #[test]
    fn display_parse_round_trip() {
        let d = Digest::of(b"x");
        assert_eq!(d.to_string().parse::<Digest>().unwrap(), d);
        assert_eq!(d.to_string(), d.to_hex());
        assert!(
            d.to_string()
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
    }

    #[test]
    fn parse_rejects_bad_text() {
        assert!(matches!(
            "abc".parse::<Digest>(),
            Err(PrefixError::Length { .. })
        ));
        let not_hex = "g".repeat(64);
        assert!(matches!(
            not_hex.parse::<Digest>(),
            Err(PrefixError::NotHex { .. })
        ));
    }

    #[test]
    fn expand_finds_unique_and_reports_ambiguity() {
        let a = digest_with_prefix("abcd12", 0);
        let b = digest_with_prefix("abcd34", 0);
        let c = digest_with_prefix("ffff00", 0);
        assert_eq!(Digest::expand("abcd1", [a, b, c]).unwrap(), a);
        assert_eq!(Digest::expand("ABCD3", [a, b, c]).unwrap(), b);
        let err = Digest::expand("abcd", [a, b, c]).unwrap_err();
        assert_eq!(
            err,
            PrefixError::Ambiguous {
                prefix: "abcd".into(),
                matches: 2,
                needed: 5
            }
        );
        assert!(err.to_string().contains("at least 5 hex digits"), "{err}");
        assert!(matches!(
            Digest::expand("0000", [a, b]),
            Err(PrefixError::NotFound { .. })
        ));
        assert!(matches!(
            Digest::expand("abc", [a]),
            Err(PrefixError::Length { .. })
        ));
        assert!(matches!(
            Digest::expand("abcz", [a]),
            Err(PrefixError::NotHex { .. })
        ));
    }

    #[test]
    fn expand_tolerates_duplicate_candidates() {
        let a = Digest::of(b"a");
        assert_eq!(Digest::expand(&a.to_hex()[..4], [a, a]).unwrap(), a);
    }

    #[test]
    fn shrink_is_shortest_unambiguous() {
        let a = digest_with_prefix("abcd12", 0);
        let b = digest_with_prefix("abcd34", 0);
        let c = digest_with_prefix("ffff00", 0);
        assert_eq!(a.shrink([a, b, c]), "abcd1");
        assert_eq!(c.shrink([a, b, c]), "ffff");
        assert_eq!(c.shrink([]), "ffff");
        let nibble = digest_with_prefix("abcd1f", 0);
        assert_eq!(a.shrink([nibble]), "abcd12");
    }

    #[test]
    fn serde_forms() {
        let d = Digest::of(b"y");
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, format!("\"{d}\""));
        assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), d);
        let cbor = crate::codec::encode(&d).unwrap();
        assert_eq!(cbor[0], 0x58);
        assert_eq!(crate::codec::decode::<Digest>(&cbor).unwrap(), d);
    }
}
