//! Call records: what the call store keeps for each computed call.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::Digest;

/// The record format this crate writes. A record with a larger number was
/// written by a newer fleche and is refused rather than misread.
pub const RECORD_FORMAT: u32 = 1;

/// Metadata of a call: a map from namespace (`"runtime"`, `"environment"`,
/// `"tags"`, or a custom one) to a JSON value. Never part of the call key.
pub type Metadata = BTreeMap<String, serde_json::Value>;

/// A point in time, in microseconds since the Unix epoch (UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The current time.
    pub fn now() -> Self {
        Self::from(SystemTime::now())
    }

    /// A timestamp from microseconds since the Unix epoch.
    pub const fn from_micros(micros: i64) -> Self {
        Self(micros)
    }

    /// Microseconds since the Unix epoch.
    pub const fn as_micros(self) -> i64 {
        self.0
    }

    /// This time as a [`SystemTime`].
    pub fn to_system_time(self) -> SystemTime {
        let magnitude = Duration::from_micros(self.0.unsigned_abs());
        if self.0 >= 0 {
            UNIX_EPOCH + magnitude
        } else {
            UNIX_EPOCH - magnitude
        }
    }
}

impl From<SystemTime> for Timestamp {
    fn from(t: SystemTime) -> Self {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => Self(i64::try_from(d.as_micros()).unwrap_or(i64::MAX)),
            Err(e) => Self(-i64::try_from(e.duration().as_micros()).unwrap_or(i64::MAX)),
        }
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC, with microseconds.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 >= 0 {
            write!(
                f,
                "{}",
                humantime::format_rfc3339_micros(self.to_system_time())
            )
        } else {
            write!(f, "{}µs before 1970-01-01T00:00:00Z", -self.0)
        }
    }
}

/// Where a stored value is: its digest, and its bytes when they are small
/// enough to travel inside the record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValueRef {
    /// BLAKE3 of the value's encoded bytes.
    pub digest: Digest,
    /// The encoded bytes themselves, for values up to the cache's inline
    /// limit; otherwise they are in the value store under `digest`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline: Option<Bytes>,
}

/// One argument of a call: its name and the digest of its encoded value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArgDigest {
    /// The parameter name.
    pub name: String,
    /// BLAKE3 of the argument's deterministic CBOR encoding.
    pub digest: Digest,
}

/// The part of an encoded [`CallRecord`] that a hit reads: its format, key
/// and result. Decoding only these skips the arguments' and metadata's
/// allocations, so stores that keep whole records as CBOR read their hits
/// with it.
///
/// ```
/// use fleche_core::{CallRecord, Digest, RecordHead, ValueRef};
/// let key = Digest::of(b"a call");
/// let result = ValueRef { digest: Digest::of(b"42"), inline: Some(b"42".to_vec().into()) };
/// let bytes = CallRecord::new(key, "f", result.clone()).to_bytes().unwrap();
/// let head = RecordHead::from_bytes(&bytes).unwrap();
/// assert_eq!((head.key, head.result), (key, result));
/// ```
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct RecordHead {
    /// The record format.
    pub format: u32,
    /// The call key the record is for.
    pub key: Digest,
    /// The result.
    pub result: ValueRef,
}

impl RecordHead {
    /// Reads the head of a record written by [`CallRecord::to_bytes`],
    /// refusing records of a newer format, as [`CallRecord::from_bytes`]
    /// does.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, crate::CodecError> {
        let head: Self = crate::codec::decode(bytes)?;
        check_format(head.format)?;
        Ok(head)
    }
}

/// Refuses a record format newer than this crate reads.
fn check_format(format: u32) -> Result<(), crate::CodecError> {
    if format > RECORD_FORMAT {
        return Err(crate::CodecError::Decode(format!(
            "call record format {format} is newer than the {RECORD_FORMAT} this fleche reads; upgrade fleche"
        )));
    }
    Ok(())
}

/// The record of one computed call, as the call store keeps it.
///
/// Records are encoded as deterministic CBOR (see [`CallRecord::to_bytes`]);
/// stores may keep them in any form that gives the same record back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CallRecord {
    /// The record format ([`RECORD_FORMAT`] when written by this crate).
    pub format: u32,
    /// The call key (see [`crate::FnSpec`]).
    pub key: Digest,
    /// The function's name (module path and function name, or the name given).
    pub function: String,
    /// The function's version.
    pub version: u32,
    /// Digest of the function's code, when it is part of the key.
    pub code: Option<Digest>,
    /// The arguments that are part of the key, in order.
    pub args: Vec<ArgDigest>,
    /// The result.
    pub result: ValueRef,
    /// Metadata: runtime, environment, tags, custom. Not part of the key.
    pub metadata: Metadata,
    /// When the record was made.
    pub created_at: Timestamp,
}

impl CallRecord {
    /// A record with the current format, the current time and no metadata.
    pub fn new(key: Digest, function: impl Into<String>, result: ValueRef) -> Self {
        Self {
            format: RECORD_FORMAT,
            key,
            function: function.into(),
            version: 0,
            code: None,
            args: Vec::new(),
            result,
            metadata: Metadata::new(),
            created_at: Timestamp::now(),
        }
    }

    /// Sets the version.
    pub fn with_version(mut self, version: u32) -> Self {
        self.version = version;
        self
    }

    /// Sets the code digest.
    pub fn with_code(mut self, code: Option<Digest>) -> Self {
        self.code = code;
        self
    }

    /// Sets the arguments.
    pub fn with_args(mut self, args: Vec<ArgDigest>) -> Self {
        self.args = args;
        self
    }

    /// Sets the metadata.
    pub fn with_metadata(mut self, metadata: Metadata) -> Self {
        self.metadata = metadata;
        self
    }

    /// Sets the creation time.
    pub fn with_created_at(mut self, at: Timestamp) -> Self {
        self.created_at = at;
        self
    }

    /// The record as deterministic CBOR: the form file, SQL, Redis and S3
    /// stores keep.
    pub fn to_bytes(&self) -> Result<Vec<u8>, crate::CodecError> {
        crate::codec::encode(self)
    }

    /// Reads a record written by [`CallRecord::to_bytes`], refusing records
    /// of a newer format.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, crate::CodecError> {
        let record: Self = crate::codec::decode(bytes)?;
        check_format(record.format)?;
        Ok(record)
    }

    /// The value of a metadata path such as `"tags.project"` or
    /// `"runtime.wall_s"`: a namespace, then keys into its JSON objects.
    pub fn metadata_at(&self, path: &str) -> Option<&serde_json::Value> {
        let mut parts = path.split('.');
        let mut value = self.metadata.get(parts.next()?)?;
        for part in parts {
            value = value.get(part)?;
        }
        Some(value)
    }
}
