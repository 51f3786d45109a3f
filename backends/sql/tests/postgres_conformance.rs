//! PostgreSQL runs the whole conformance suite against the server named by
//! `FLECHE_TEST_POSTGRES_URL` (`eval "$(scripts/services up)"`), each case
//! in a schema of its own that is dropped afterwards.

use fleche_conformance::{Factory, Location, Stores};
use fleche_core::{Digest, ErrorKind, StoreError, async_trait};
use fleche_sql::{PgStore, SqlOptions};

mod common;
use common::store_error;

const SERVER: &str = "FLECHE_TEST_POSTGRES_URL";

/// A fresh schema per case; the URL naming it is the location.
struct PgFactory;

/// The password the locations carry when the server's URL has none, so
/// that the suite checks that no error or `Debug` output shows it. The
/// test server trusts local connections and does not ask for it.
const PASSWORD: &str = "conformance-pg-secret-7f3a";

/// `url` with [`PASSWORD`] as the password of its user, if it names a
/// user without one.
fn with_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) if !rest[..at].contains(':') => {
            format!("{scheme}://{}:{PASSWORD}{}", &rest[..at], &rest[at..])
        }
        _ => url.to_owned(),
    }
}

#[async_trait]
impl Factory for PgFactory {
    async fn create(&self) -> Result<Location, StoreError> {
        let base = std::env::var(SERVER).expect("the suite checks the server first");
        let base = with_password(&base);
        let schema = fleche_conformance::unique_name("fleche_test");
        let sep = if base.contains('?') { '&' } else { '?' };
        Ok(Location(format!("{base}{sep}schema={schema}")))
    }

    async fn open(&self, at: &Location) -> Result<Stores, StoreError> {
        let options = SqlOptions::default().max_connections(4);
        let store = PgStore::open_with(&at.0, options)
            .await
            .map_err(store_error)?;
        Ok(Stores::both(std::sync::Arc::new(store)))
    }

    async fn destroy(&self, at: &Location) -> Result<(), StoreError> {
        PgStore::open(&at.0)
            .await
            .map_err(store_error)?
            .destroy()
            .await
    }

    /// Writes columns that cannot make a record into the record's row,
    /// through a connection of its own: a result digest of 2 bytes (what
    /// the hit path reads), arguments that are not a list and metadata
    /// that is not an object.
    async fn damage_record(&self, at: &Location, key: Digest) -> Result<bool, StoreError> {
        use sqlx::Connection;
        let sql = |e: sqlx::Error| {
            StoreError::new(ErrorKind::Backend, "postgres", "cannot damage the record")
                .with_key(key)
                .with_source(e)
        };
        // The location without its `schema=`, which is the store's option,
        // not the driver's; the schema names the table instead.
        let (base, query) = at.0.split_once('?').unwrap_or((&at.0, ""));
        let (schemas, rest): (Vec<&str>, Vec<&str>) = query
            .split('&')
            .filter(|p| !p.is_empty())
            .partition(|p| p.starts_with("schema="));
        let schema = schemas
            .first()
            .map(|p| &p["schema=".len()..])
            .expect("the factory's locations name a schema");
        let url = match rest.is_empty() {
            true => base.to_owned(),
            false => format!("{base}?{}", rest.join("&")),
        };
        let mut conn = sqlx::PgConnection::connect(&url).await.map_err(sql)?;
        let update = format!(
            "UPDATE \"{schema}\".fleche_calls SET result_digest = '\\xdead'::bytea, \
             args = '\"damaged\"'::jsonb, metadata = '[1]'::jsonb WHERE key = $1"
        );
        let done = sqlx::query(sqlx::AssertSqlSafe(update))
            .bind(key.as_bytes().to_vec())
            .execute(&mut conn)
            .await
            .map_err(sql)?;
        conn.close().await.map_err(sql)?;
        if done.rows_affected() != 1 {
            return Err(
                StoreError::new(ErrorKind::Backend, "postgres", "no record to damage")
                    .with_key(key),
            );
        }
        Ok(true)
    }
}

fleche_conformance::suite!(
    factory: PgFactory,
    claims: true,
    persistent: true,
    processes: true,
    damage: true,
    server: "FLECHE_TEST_POSTGRES_URL",
);
