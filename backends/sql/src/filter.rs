//! Queries and key prefixes as SQL, run in the database.
//!
//! The two databases share the statement's frame (function, time range,
//! order, limit) and differ in how they reach into JSON: those conditions
//! come from the [`Database`].

use std::fmt::Write;

use fleche_core::{Order, Query};

use crate::database::Database;
use crate::exec::Bind;
use crate::statements::record_columns;

/// A statement under construction, with its bound values in order.
#[derive(Debug, Default)]
pub(crate) struct Sql {
    pub(crate) text: String,
    pub(crate) binds: Vec<Bind>,
}

impl Sql {
    pub(crate) fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder for `value`: `$1`, `$2`, … in order.
    pub(crate) fn bind(&mut self, value: Bind) -> &mut Self {
        self.binds.push(value);
        let _ = write!(self.text, "${}", self.binds.len());
        self
    }
}

/// The `SELECT` of the records that match `query`, in its order and up to
/// its limit.
pub(crate) fn select_records<D: Database>(query: &Query) -> Sql {
    let mut sql = Sql::default();
    sql.push("SELECT ")
        .push(&record_columns::<D>())
        .push(" FROM fleche_calls WHERE TRUE");
    if let Some(function) = &query.function {
        sql.push(" AND function = ")
            .bind(Bind::Text(function.clone()));
    }
    for (name, digest) in &query.args {
        sql.push(" AND ");
        D::arg_condition(&mut sql, name, digest);
    }
    for (path, value) in &query.metadata {
        sql.push(" AND ");
        let path: Vec<&str> = path.split('.').collect();
        D::metadata_condition(&mut sql, &path, value);
    }
    if let Some(t) = query.created_after {
        sql.push(" AND created_at >= ")
            .bind(Bind::Int(t.as_micros()));
    }
    if let Some(t) = query.created_before {
        sql.push(" AND created_at < ")
            .bind(Bind::Int(t.as_micros()));
    }
    // The same order as `Query::apply`: by time, then by key.
    match query.order {
        Order::NewestFirst => sql.push(" ORDER BY created_at DESC, key ASC"),
        Order::OldestFirst => sql.push(" ORDER BY created_at ASC, key ASC"),
        _ => &mut sql,
    };
    if let Some(n) = query.limit {
        sql.push(" LIMIT ")
            .bind(Bind::Int(i64::try_from(n).unwrap_or(i64::MAX)));
    }
    sql
}

/// The inclusive range of 32-byte keys whose hex form starts with `prefix`
/// (any case), or `None` if no key can (the prefix is not hex, or too long).
pub(crate) fn prefix_range(prefix: &str) -> Option<(Vec<u8>, Vec<u8>)> {
    if prefix.len() > 64 || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let prefix = prefix.to_ascii_lowercase();
    let pad = |fill: char| {
        let mut hex = prefix.clone();
        hex.extend(std::iter::repeat_n(fill, 64 - prefix.len()));
        hex::decode(hex).ok()
    };
    Some((pad('0')?, pad('f')?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleche_core::Timestamp;

    fn query() -> Query {
        Query::new()
            .function("f")
            .arg("x", &1u8)
            .metadata("tags.p", "v")
            .created_after(Timestamp::from_micros(5))
            .order(Order::NewestFirst)
            .limit(3)
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn every_condition_becomes_sql_with_binds_in_order() {
        let sql = select_records::<crate::Postgres>(&query());
        assert_eq!(
            sql.text,
            format!(
                "SELECT {} FROM fleche_calls WHERE TRUE AND function = $1 \
                 AND args @> $2::jsonb \
                 AND (metadata @> $3::jsonb AND metadata #> ARRAY[$4, $5]::text[] = $6::jsonb) \
                 AND created_at >= $7 ORDER BY created_at DESC, key ASC LIMIT $8",
                record_columns::<crate::Postgres>()
            )
        );
        assert_eq!(sql.binds[3], Bind::Text("tags".into()));
        assert_eq!(sql.binds[7], Bind::Int(3));
    }

    #[cfg(feature = "sqlite")]
    #[test]
    fn sqlite_reaches_into_json_by_path_and_side_table() {
        let sql = select_records::<crate::Sqlite>(&query());
        assert!(
            sql.text.contains(
                "AND key IN (SELECT key FROM fleche_call_args WHERE name = $2 AND digest = $3) \
                 AND (metadata -> $4) = json($5)"
            ),
            "{}",
            sql.text
        );
        assert_eq!(sql.binds[3], Bind::Text("$.\"tags\".\"p\"".into()));
    }

    #[test]
    fn prefixes_become_key_ranges() {
        let (lo, hi) = prefix_range("aB1").unwrap();
        assert_eq!(hex::encode(&lo), format!("ab1{}", "0".repeat(61)));
        assert_eq!(hex::encode(&hi), format!("ab1{}", "f".repeat(61)));
        let (lo, hi) = prefix_range("").unwrap();
        assert_eq!((lo, hi), (vec![0; 32], vec![0xff; 32]));
        assert_eq!(prefix_range("xyz"), None);
        assert_eq!(prefix_range(&"a".repeat(65)), None);
    }
}
