//! What the statements write and read: a call record as the columns of
//! one row (and back), the row of a hit, the rows of a claim.
//!
//! Both databases keep the same columns: the record's fields, with the
//! argument list and the metadata as JSON so that queries can reach into
//! them. Every statement that reads records selects
//! [`record_columns`](crate::statements::record_columns), in that order.
//!
//! A row that does not make what it should (a digest of the wrong length,
//! JSON that does not parse, a newer record format) is `Corrupt`, which the
//! cache reads as a miss and repairs.

use fleche_core::{
    ArgDigest, CallRecord, Digest, ErrorKind, Metadata, RECORD_FORMAT, StoreError, Timestamp,
    ValueRef,
};

use crate::database::Database;
use crate::exec::{Bind, Cells, FromCells};

/// One record's column values.
#[derive(Debug)]
pub(crate) struct RecordColumns {
    key: Vec<u8>,
    function: String,
    version: i64,
    code: Option<Vec<u8>>,
    /// `[{"name": …, "digest": hex}, …]`, in order.
    args: String,
    result_digest: Vec<u8>,
    result_inline: Option<Vec<u8>>,
    /// A JSON object.
    metadata: String,
    /// Microseconds since the Unix epoch.
    created_at: i64,
    format: i32,
}

impl RecordColumns {
    /// The columns of `record`, as database `D` keeps them.
    pub(crate) fn of<D: Database>(record: &CallRecord) -> Result<Self, StoreError> {
        let backend = D::BACKEND;
        let json = |what: &str, r: serde_json::Result<String>| {
            r.map_err(|e| {
                let message = format!("cannot encode the record's {what} as JSON");
                StoreError::new(ErrorKind::Backend, backend, message)
                    .with_source(e)
                    .with_key(record.key)
            })
        };
        Ok(Self {
            key: record.key.as_bytes().to_vec(),
            function: record.function.clone(),
            version: i64::from(record.version),
            code: record.code.map(|d| d.as_bytes().to_vec()),
            args: json("arguments", serde_json::to_string(&record.args))?,
            result_digest: record.result.digest.as_bytes().to_vec(),
            result_inline: record.result.inline.as_ref().map(|b| b.to_vec()),
            metadata: json("metadata", D::metadata_json(&record.metadata))?,
            created_at: record.created_at.as_micros(),
            format: i32::try_from(record.format).unwrap_or(i32::MAX),
        })
    }

    /// The values of the record upsert's `$1 … $10`, in the columns' order.
    pub(crate) fn into_binds(self) -> Vec<Bind> {
        vec![
            Bind::Blob(self.key),
            Bind::Text(self.function),
            Bind::Int(self.version),
            Bind::MaybeBlob(self.code),
            Bind::Text(self.args),
            Bind::Blob(self.result_digest),
            Bind::MaybeBlob(self.result_inline),
            Bind::Text(self.metadata),
            Bind::Int(self.created_at),
            Bind::Int(i64::from(self.format)),
        ]
    }

    /// The record these columns hold.
    pub(crate) fn into_record(self, backend: &'static str) -> Result<CallRecord, StoreError> {
        let key = digest(&self.key, backend, "key")?;
        let corrupt = |what: &str| StoreError::new(ErrorKind::Corrupt, backend, what).with_key(key);
        check_format(self.format, backend, key)?;
        let args: Vec<ArgDigest> = serde_json::from_str(&self.args)
            .map_err(|e| corrupt("the record's arguments do not parse").with_source(e))?;
        let metadata: Metadata = serde_json::from_str(&self.metadata)
            .map_err(|e| corrupt("the record's metadata does not parse").with_source(e))?;
        let code = match &self.code {
            Some(bytes) => {
                Some(digest(bytes, backend, "code digest").map_err(|e| e.with_key(key))?)
            }
            None => None,
        };
        let result = ValueRef {
            digest: digest(&self.result_digest, backend, "result digest")
                .map_err(|e| e.with_key(key))?,
            inline: self.result_inline.map(Into::into),
        };
        let version = u32::try_from(self.version)
            .map_err(|_| corrupt(&format!("version {} is out of range", self.version)))?;
        let mut record = CallRecord::new(key, self.function, result)
            .with_version(version)
            .with_code(code)
            .with_args(args)
            .with_metadata(metadata)
            .with_created_at(Timestamp::from_micros(self.created_at));
        record.format = self.format as u32;
        Ok(record)
    }
}

impl FromCells for RecordColumns {
    fn from_cells(row: &impl Cells) -> Result<Self, sqlx::Error> {
        Ok(Self {
            key: row.blob(0)?,
            function: row.text(1)?,
            version: row.int(2)?,
            code: row.maybe_blob(3)?,
            args: row.text(4)?,
            result_digest: row.blob(5)?,
            result_inline: row.maybe_blob(6)?,
            metadata: row.text(7)?,
            created_at: row.int(8)?,
            format: row.int32(9)?,
        })
    }
}

/// What a hit reads from a record's row: its format, result digest and
/// result bytes (inline, or joined in from the value).
#[derive(Debug)]
pub(crate) struct Hit {
    pub(crate) format: i32,
    pub(crate) digest: Vec<u8>,
    pub(crate) bytes: Option<Vec<u8>>,
}

impl Hit {
    /// The result of the record under `key`.
    pub(crate) fn into_result(
        self,
        backend: &'static str,
        key: Digest,
    ) -> Result<ValueRef, StoreError> {
        check_format(self.format, backend, key)?;
        Ok(ValueRef {
            digest: digest(&self.digest, backend, "result digest").map_err(|e| e.with_key(key))?,
            inline: self.bytes.map(Into::into),
        })
    }
}

impl FromCells for Hit {
    fn from_cells(row: &impl Cells) -> Result<Self, sqlx::Error> {
        Ok(Self {
            format: row.int32(0)?,
            digest: row.blob(1)?,
            bytes: row.maybe_blob(2)?,
        })
    }
}

/// A row of one blob: a value's bytes, a digest.
pub(crate) struct Blob(pub(crate) Vec<u8>);

impl FromCells for Blob {
    fn from_cells(row: &impl Cells) -> Result<Self, sqlx::Error> {
        row.blob(0).map(Blob)
    }
}

/// The row of a claim won: the owner it was taken from, if it had one.
pub(crate) struct PreviousOwner(pub(crate) Option<String>);

impl FromCells for PreviousOwner {
    fn from_cells(row: &impl Cells) -> Result<Self, sqlx::Error> {
        row.maybe_text(0).map(PreviousOwner)
    }
}

/// The row of a claim held by someone else.
pub(crate) struct Holder {
    pub(crate) owner: String,
    pub(crate) remaining_ms: i64,
}

impl FromCells for Holder {
    fn from_cells(row: &impl Cells) -> Result<Self, sqlx::Error> {
        Ok(Self {
            owner: row.text(0)?,
            remaining_ms: row.int(1)?,
        })
    }
}

/// The newest migration applied, if any.
pub(crate) struct SchemaVersion(pub(crate) Option<i64>);

impl FromCells for SchemaVersion {
    fn from_cells(row: &impl Cells) -> Result<Self, sqlx::Error> {
        row.maybe_int(0).map(SchemaVersion)
    }
}

/// Refuses a record written in a newer format than this crate reads.
fn check_format(format: i32, backend: &'static str, key: Digest) -> Result<(), StoreError> {
    if format < 0 || format as u32 > RECORD_FORMAT {
        return Err(StoreError::new(
            ErrorKind::Corrupt,
            backend,
            format!(
                "call record format {format} is not one this fleche reads (up to {RECORD_FORMAT}); upgrade fleche"
            ),
        )
        .with_key(key));
    }
    Ok(())
}

/// A digest from a 32-byte column.
pub(crate) fn digest(
    bytes: &[u8],
    backend: &'static str,
    what: &str,
) -> Result<Digest, StoreError> {
    <[u8; 32]>::try_from(bytes)
        .map(Digest::from_bytes)
        .map_err(|_| {
            StoreError::new(
                ErrorKind::Corrupt,
                backend,
                format!("a stored {what} has {} bytes, not 32", bytes.len()),
            )
        })
}
