//! Queries and key prefixes as SQL, run in the database.
//!
//! The two dialects share the statement's frame (function, time range,
//! order, limit) and differ in how they reach into JSON: the [`Dialect`]
//! trait holds those differences.

use std::fmt::Write;

use fleche_core::{Digest, Order, Query};

/// A value bound to a placeholder.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Bind {
    Text(String),
    Int(i64),
}

/// A statement under construction, with its bound values in order.
#[derive(Debug, Default)]
pub(crate) struct Sql {
    pub(crate) text: String,
    pub(crate) binds: Vec<Bind>,
    /// `$1, $2, …` (PostgreSQL) rather than `?` (SQLite).
    numbered: bool,
}

impl Sql {
    fn new(numbered: bool) -> Self {
        Self {
            numbered,
            ..Self::default()
        }
    }

    pub(crate) fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder for `value`.
    pub(crate) fn bind(&mut self, value: Bind) -> &mut Self {
        self.binds.push(value);
        if self.numbered {
            let _ = write!(self.text, "${}", self.binds.len());
        } else {
            self.text.push('?');
        }
        self
    }
}

/// What differs between the SQL of the two databases.
pub(crate) trait Dialect {
    /// Whether placeholders are numbered (`$1`) rather than `?`.
    const NUMBERED: bool;
    /// The record columns to select (see [`crate::columns`]).
    const COLUMNS: &'static str;

    /// A condition: the record has argument `name` with `digest`.
    fn arg_condition(sql: &mut Sql, name: &str, digest: &Digest);

    /// A condition: the record's metadata at `path` equals `value`.
    fn metadata_condition(sql: &mut Sql, path: &[&str], value: &serde_json::Value);
}

/// The `SELECT` of the records that match `query`, in its order and up to
/// its limit.
pub(crate) fn select_records<D: Dialect>(query: &Query) -> Sql {
    let mut sql = Sql::new(D::NUMBERED);
    sql.push("SELECT ")
        .push(D::COLUMNS)
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

/// The argument condition's JSON: `[{"name": …, "digest": hex}]`, the shape
/// of a record's `args` column.
#[cfg(feature = "postgres")]
pub(crate) fn arg_json(name: &str, digest: &Digest) -> String {
    serde_json::json!([{ "name": name, "digest": digest.to_hex() }]).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleche_core::Timestamp;

    struct Plain;
    impl Dialect for Plain {
        const NUMBERED: bool = true;
        const COLUMNS: &'static str = "*";
        fn arg_condition(sql: &mut Sql, name: &str, _: &Digest) {
            sql.push("arg ").bind(Bind::Text(name.into()));
        }
        fn metadata_condition(sql: &mut Sql, path: &[&str], _: &serde_json::Value) {
            sql.push("meta ").bind(Bind::Text(path.join("/")));
        }
    }

    #[test]
    fn every_condition_becomes_sql_with_binds_in_order() {
        let q = Query::new()
            .function("f")
            .arg("x", &1u8)
            .metadata("tags.p", "v")
            .created_after(Timestamp::from_micros(5))
            .order(Order::NewestFirst)
            .limit(3);
        let sql = select_records::<Plain>(&q);
        assert_eq!(
            sql.text,
            "SELECT * FROM fleche_calls WHERE TRUE AND function = $1 AND arg $2 AND meta $3 \
             AND created_at >= $4 ORDER BY created_at DESC, key ASC LIMIT $5"
        );
        assert_eq!(sql.binds[2], Bind::Text("tags/p".into()));
        assert_eq!(sql.binds[4], Bind::Int(3));
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
