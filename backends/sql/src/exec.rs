//! Running a statement on a connection pool, for either database.
//!
//! The store's statements are written once (see [`crate::statements`]) and
//! run through the three primitives of [`Exec`]: run a statement, read one
//! row, read a stream of rows. Values go in as [`Bind`]s and rows come out
//! through [`Cells`], so the store never names a database's sqlx types.
//!
//! `Exec` is implemented once, for any sqlx pool whose database can bind
//! and decode the few types the store uses: the long list of sqlx bounds
//! stands on that one impl, and the compiler checks it for each database
//! where the database names its pool ([`crate::database::Database::Pool`]).

use std::future::Future;

use futures::StreamExt;
use futures::stream::BoxStream;
use sqlx::{Arguments, AssertSqlSafe, SqlSafeStr, SqlStr};

/// A statement's text: one of the store's own, or a query it built from a
/// [`Query`](fleche_core::Query) with every user value bound, never spliced.
#[derive(Clone, Debug)]
pub(crate) struct Text(SqlStr);

impl Text {
    /// A statement fixed when the store opens.
    pub(crate) fn new(sql: String) -> Self {
        Self(AssertSqlSafe(std::sync::Arc::<str>::from(sql)).into_sql_str())
    }

    /// The text, as sqlx takes it (a clone of an `Arc`, not of the text).
    fn sql(&self) -> SqlStr {
        self.0.clone()
    }

    /// The text itself.
    pub(crate) fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

/// A value bound to a placeholder.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Bind {
    Text(String),
    Int(i64),
    Blob(Vec<u8>),
    /// A blob column that may be NULL (a record's code digest, its inline
    /// result).
    MaybeBlob(Option<Vec<u8>>),
}

impl Bind {
    /// A digest, as the 32-byte blob the tables keep it as.
    pub(crate) fn digest(digest: fleche_core::Digest) -> Self {
        Bind::Blob(digest.as_bytes().to_vec())
    }
}

/// The columns of one row, by position. Each getter fails if the column
/// does not hold what it asks for (a corrupt row).
pub(crate) trait Cells {
    fn blob(&self, i: usize) -> Result<Vec<u8>, sqlx::Error>;
    fn maybe_blob(&self, i: usize) -> Result<Option<Vec<u8>>, sqlx::Error>;
    fn text(&self, i: usize) -> Result<String, sqlx::Error>;
    fn maybe_text(&self, i: usize) -> Result<Option<String>, sqlx::Error>;
    fn int(&self, i: usize) -> Result<i64, sqlx::Error>;
    fn maybe_int(&self, i: usize) -> Result<Option<i64>, sqlx::Error>;
    /// A 32-bit column (a record's format is an `INTEGER`, which
    /// PostgreSQL does not decode as a 64-bit number).
    fn int32(&self, i: usize) -> Result<i32, sqlx::Error>;
}

impl<R> Cells for R
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    for<'r> Vec<u8>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i32: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    fn blob(&self, i: usize) -> Result<Vec<u8>, sqlx::Error> {
        self.try_get(i)
    }
    fn maybe_blob(&self, i: usize) -> Result<Option<Vec<u8>>, sqlx::Error> {
        self.try_get(i)
    }
    fn text(&self, i: usize) -> Result<String, sqlx::Error> {
        self.try_get(i)
    }
    fn maybe_text(&self, i: usize) -> Result<Option<String>, sqlx::Error> {
        self.try_get(i)
    }
    fn int(&self, i: usize) -> Result<i64, sqlx::Error> {
        self.try_get(i)
    }
    fn maybe_int(&self, i: usize) -> Result<Option<i64>, sqlx::Error> {
        self.try_get(i)
    }
    fn int32(&self, i: usize) -> Result<i32, sqlx::Error> {
        self.try_get(i)
    }
}

/// A row's shape: what a statement reads, decoded from its columns.
pub(crate) trait FromCells: Sized + Send {
    fn from_cells(row: &impl Cells) -> Result<Self, sqlx::Error>;
}

/// A row whose columns nobody reads: the statement answers by having one.
impl FromCells for () {
    fn from_cells(_: &impl Cells) -> Result<Self, sqlx::Error> {
        Ok(())
    }
}

/// The number of rows a statement changed. sqlx gives it by an inherent
/// method of each database's result type, which generic code cannot call.
pub(crate) trait RowsAffected {
    fn rows(&self) -> u64;
}

#[cfg(feature = "sqlite")]
impl RowsAffected for sqlx::sqlite::SqliteQueryResult {
    fn rows(&self) -> u64 {
        self.rows_affected()
    }
}

#[cfg(feature = "postgres")]
impl RowsAffected for sqlx::postgres::PgQueryResult {
    fn rows(&self) -> u64 {
        self.rows_affected()
    }
}

/// The primitives every statement of the store runs through.
pub(crate) trait Exec: Send + Sync {
    /// Runs `sql`; how many rows it changed.
    fn execute(
        &self,
        sql: &Text,
        binds: Vec<Bind>,
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send;

    /// The first row `sql` returns, if any.
    fn fetch_optional<T: FromCells>(
        &self,
        sql: &Text,
        binds: Vec<Bind>,
    ) -> impl Future<Output = Result<Option<T>, sqlx::Error>> + Send;

    /// Every row `sql` returns, as the database sends them.
    fn fetch<T: FromCells>(
        &self,
        sql: &Text,
        binds: Vec<Bind>,
    ) -> BoxStream<'_, Result<T, sqlx::Error>>;
}

impl<DB> Exec for sqlx::Pool<DB>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    DB::Arguments: sqlx::IntoArguments<DB>,
    DB::QueryResult: RowsAffected,
    DB::Row: Cells,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Vec<u8>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<Vec<u8>>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    fn execute(
        &self,
        sql: &Text,
        binds: Vec<Bind>,
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send {
        let query = arguments::<DB>(binds).map(|args| sqlx::query_with(sql.sql(), args));
        async move { Ok(query?.execute(self).await?.rows()) }
    }

    fn fetch_optional<T: FromCells>(
        &self,
        sql: &Text,
        binds: Vec<Bind>,
    ) -> impl Future<Output = Result<Option<T>, sqlx::Error>> + Send {
        let query = arguments::<DB>(binds).map(|args| sqlx::query_with(sql.sql(), args));
        async move {
            match query?.fetch_optional(self).await? {
                Some(row) => T::from_cells(&row).map(Some),
                None => Ok(None),
            }
        }
    }

    fn fetch<T: FromCells>(
        &self,
        sql: &Text,
        binds: Vec<Bind>,
    ) -> BoxStream<'_, Result<T, sqlx::Error>> {
        match arguments::<DB>(binds) {
            Ok(args) => sqlx::query_with(sql.sql(), args)
                .fetch(self)
                .map(|row| T::from_cells(&row?))
                .boxed(),
            Err(e) => futures::stream::once(async { Err(e) }).boxed(),
        }
    }
}

/// The binds as a database's arguments.
fn arguments<DB>(binds: Vec<Bind>) -> Result<DB::Arguments, sqlx::Error>
where
    DB: sqlx::Database,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Vec<u8>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<Vec<u8>>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let mut args = DB::Arguments::default();
    for bind in binds {
        match bind {
            Bind::Text(s) => args.add(s),
            Bind::Int(i) => args.add(i),
            Bind::Blob(b) => args.add(b),
            Bind::MaybeBlob(b) => args.add(b),
        }
        .map_err(sqlx::Error::Encode)?;
    }
    Ok(args)
}
