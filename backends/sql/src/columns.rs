//! A call record as the columns of one row, and back.
//!
//! Both databases keep the same columns: the record's fields, with the
//! argument list and the metadata as JSON so that queries can reach into
//! them. Every statement that reads records selects [`RECORD_COLUMNS`], in
//! that order.

use fleche_core::{
    ArgDigest, CallRecord, Digest, ErrorKind, Metadata, RECORD_FORMAT, StoreError, Timestamp,
    ValueRef,
};

/// The columns of a record, in the order [`Columns::read`] expects them.
#[cfg(feature = "postgres")]
pub(crate) const RECORD_COLUMNS: &str = "key, function, version, code, args::text, result_digest, result_inline, metadata::text, created_at, format";

/// The same for SQLite, which has no `::text` casts (its JSON is text).
#[cfg(feature = "sqlite")]
pub(crate) const RECORD_COLUMNS_SQLITE: &str = "key, function, version, code, args, result_digest, result_inline, metadata, created_at, format";

/// One record's column values.
#[derive(Debug)]
pub(crate) struct Columns {
    pub(crate) key: Vec<u8>,
    pub(crate) function: String,
    pub(crate) version: i64,
    pub(crate) code: Option<Vec<u8>>,
    /// `[{"name": …, "digest": hex}, …]`, in order.
    pub(crate) args: String,
    pub(crate) result_digest: Vec<u8>,
    pub(crate) result_inline: Option<Vec<u8>>,
    /// A JSON object.
    pub(crate) metadata: String,
    /// Microseconds since the Unix epoch.
    pub(crate) created_at: i64,
    pub(crate) format: i32,
}

impl Columns {
    /// The columns of `record`.
    pub(crate) fn of(record: &CallRecord, backend: &'static str) -> Result<Self, StoreError> {
        let json = |what: &str, r: serde_json::Result<String>| {
            r.map_err(|e| {
                StoreError::new(
                    ErrorKind::Backend,
                    backend,
                    format!("cannot encode the record's {what} as JSON: {e}"),
                )
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
            metadata: json("metadata", serde_json::to_string(&record.metadata))?,
            created_at: record.created_at.as_micros(),
            format: i32::try_from(record.format).unwrap_or(i32::MAX),
        })
    }

    /// Reads the columns from a row that selected [`RECORD_COLUMNS`].
    pub(crate) fn read<'r, R>(row: &'r R) -> Result<Self, sqlx::Error>
    where
        R: sqlx::Row,
        usize: sqlx::ColumnIndex<R>,
        Vec<u8>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
        String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
        i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
        i32: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    {
        Ok(Self {
            key: row.try_get(0)?,
            function: row.try_get(1)?,
            version: row.try_get(2)?,
            code: row.try_get(3)?,
            args: row.try_get(4)?,
            result_digest: row.try_get(5)?,
            result_inline: row.try_get(6)?,
            metadata: row.try_get(7)?,
            created_at: row.try_get(8)?,
            format: row.try_get(9)?,
        })
    }

    /// The record these columns hold. A row that does not make a record
    /// (a bad digest, JSON that does not parse, a newer format) is
    /// `Corrupt`, which the cache reads as a miss and repairs.
    pub(crate) fn into_record(self, backend: &'static str) -> Result<CallRecord, StoreError> {
        let key = digest(&self.key, backend, "key")?;
        let corrupt =
            |what: String| StoreError::new(ErrorKind::Corrupt, backend, what).with_key(key);
        check_format(self.format, backend, key)?;
        let args: Vec<ArgDigest> = serde_json::from_str(&self.args)
            .map_err(|e| corrupt(format!("arguments do not parse: {e}")))?;
        let metadata: Metadata = serde_json::from_str(&self.metadata)
            .map_err(|e| corrupt(format!("metadata does not parse: {e}")))?;
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
            .map_err(|_| corrupt(format!("version {} is out of range", self.version)))?;
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

/// The result a hit reads from a record's row: its format, result digest
/// and result bytes (inline, or joined in from the value).
pub(crate) fn hit_result(
    backend: &'static str,
    key: Digest,
    format: i32,
    digest: &[u8],
    bytes: Option<Vec<u8>>,
) -> Result<ValueRef, StoreError> {
    check_format(format, backend, key)?;
    Ok(ValueRef {
        digest: self::digest(digest, backend, "result digest").map_err(|e| e.with_key(key))?,
        inline: bytes.map(Into::into),
    })
}

/// Refuses a record written in a newer format than this crate reads.
pub(crate) fn check_format(
    format: i32,
    backend: &'static str,
    key: Digest,
) -> Result<(), StoreError> {
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
