//! Every statement of the store, written once for both databases.
//!
//! Placeholders are `$1, $2, …`, which PostgreSQL and sqlx's SQLite both
//! read. Where the databases differ (the clock, JSON casts) the statement
//! takes a fragment of the [`Database`]; the texts are made when a store
//! opens, so a call only clones a pointer to one.

use crate::database::Database;
use crate::exec::Text;

/// The store's statements, for one database.
#[derive(Debug)]
pub(crate) struct Statements {
    // Values.
    /// Rewrites a value only if its bytes differ: a damaged value is
    /// repaired, an intact one costs no write.
    pub(crate) put_value: Text,
    pub(crate) get_value: Text,
    pub(crate) has_value: Text,
    pub(crate) delete_value: Text,
    /// The digests between two keys, in order (a prefix is a key range).
    pub(crate) list_values: Text,

    // Call records.
    /// One upsert: a record is replaced in one statement, never deleted
    /// and re-inserted, so concurrent writers never fail and a reader never
    /// misses the key.
    pub(crate) put_record: Text,
    pub(crate) get_record: Text,
    /// The hit: one statement reads the inline result, or the value joined
    /// in.
    pub(crate) get_result: Text,
    pub(crate) delete_record: Text,

    // Claims, on the database's clock.
    /// Takes the claim if nobody holds it, its owner renews it, or its
    /// lease has expired; returns the owner it replaced (NULL if none).
    /// No row: someone else holds it.
    pub(crate) claim: Text,
    /// Who holds the claim, and for how many more milliseconds.
    pub(crate) claim_holder: Text,
    pub(crate) renew: Text,
    pub(crate) release: Text,

    // The schema.
    pub(crate) has_migrations: Text,
    pub(crate) schema_version: Text,
}

impl Statements {
    pub(crate) fn new<D: Database>() -> Self {
        let text = |sql: &str| Text::new(sql.to_owned());
        Self {
            put_value: text(
                "INSERT INTO fleche_values (digest, bytes) VALUES ($1, $2) \
                 ON CONFLICT (digest) DO UPDATE SET bytes = excluded.bytes \
                 WHERE fleche_values.bytes <> excluded.bytes",
            ),
            get_value: text("SELECT bytes FROM fleche_values WHERE digest = $1"),
            has_value: text("SELECT 1 FROM fleche_values WHERE digest = $1"),
            delete_value: text("DELETE FROM fleche_values WHERE digest = $1"),
            list_values: text(
                "SELECT digest FROM fleche_values WHERE digest BETWEEN $1 AND $2 ORDER BY digest",
            ),

            put_record: Text::new(format!(
                "INSERT INTO fleche_calls (key, function, version, code, args, result_digest, \
                 result_inline, metadata, created_at, format) \
                 VALUES ($1, $2, $3, $4, $5{json}, $6, $7, $8{json}, $9, $10) \
                 ON CONFLICT (key) DO UPDATE SET function = excluded.function, \
                 version = excluded.version, code = excluded.code, args = excluded.args, \
                 result_digest = excluded.result_digest, result_inline = excluded.result_inline, \
                 metadata = excluded.metadata, created_at = excluded.created_at, \
                 format = excluded.format",
                json = D::TEXT_TO_JSON,
            )),
            get_record: Text::new(format!(
                "SELECT {} FROM fleche_calls WHERE key = $1",
                record_columns::<D>()
            )),
            get_result: text(
                "SELECT c.format, c.result_digest, COALESCE(c.result_inline, v.bytes) \
                 FROM fleche_calls c LEFT JOIN fleche_values v \
                 ON c.result_inline IS NULL AND v.digest = c.result_digest WHERE c.key = $1",
            ),
            delete_record: text("DELETE FROM fleche_calls WHERE key = $1"),

            claim: Text::new(format!(
                "INSERT INTO fleche_claims (key, owner, expires_at) VALUES ($1, $2, {lease}) \
                 ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, \
                 expires_at = excluded.expires_at, previous_owner = fleche_claims.owner \
                 WHERE fleche_claims.owner = excluded.owner OR fleche_claims.expires_at <= {now} \
                 RETURNING previous_owner",
                lease = D::LEASE,
                now = D::NOW,
            )),
            claim_holder: Text::new(format!(
                "SELECT owner, {} FROM fleche_claims WHERE key = $1",
                D::REMAINING_MS
            )),
            renew: Text::new(format!(
                "UPDATE fleche_claims SET expires_at = {} WHERE key = $1 AND owner = $2",
                D::LEASE
            )),
            release: text("DELETE FROM fleche_claims WHERE key = $1 AND owner = $2"),

            has_migrations: text(D::HAS_MIGRATIONS),
            schema_version: text("SELECT MAX(version) FROM _sqlx_migrations"),
        }
    }
}

/// The columns of a record, in the order
/// [`RecordColumns`](crate::rows::RecordColumns) reads them, JSON as text.
pub(crate) fn record_columns<D: Database>() -> String {
    format!(
        "key, function, version, code, args{json}, result_digest, result_inline, \
         metadata{json}, created_at, format",
        json = D::JSON_TO_TEXT
    )
}
