//! PostgreSQL: one database shared by many machines, each cache in a
//! schema of its own.

use std::fmt;

use fleche_core::driver::{OpenError, StoreUrl, UrlError, UrlOption};
use fleche_core::{Digest, ErrorKind, Metadata};
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgSslMode};

use crate::SqlOptions;
use crate::database::{Database, try_connect};
use crate::exec::Bind;
use crate::filter::Sql;
use crate::options::{
    ACQUIRE_TIMEOUT, MAX_CONNECTIONS, PLAIN_IDENTIFIER, SCHEMA, plain_identifier,
};

static MIGRATOR: Migrator = sqlx::migrate!("migrations/postgres");

const SSLMODE: UrlOption = UrlOption::new(
    "sslmode",
    "disable, allow, prefer (default), require, verify-ca or verify-full",
);
const SSLROOTCERT: UrlOption = UrlOption::new(
    "sslrootcert",
    "the file of the certificate authorities that sign the server's certificate",
);
const SSLCERT: UrlOption = UrlOption::new("sslcert", "the file of the client's certificate");
const SSLKEY: UrlOption = UrlOption::new("sslkey", "the file of the client's private key");
const HOST: UrlOption = UrlOption::new(
    "host",
    "the server's host, or the directory of its Unix socket (/var/run/postgresql); overrides the URL's",
);
const PORT: UrlOption = UrlOption::new("port", "the server's port; overrides the URL's");
const DBNAME: UrlOption = UrlOption::new("dbname", "the database; overrides the URL's path");
const USER: UrlOption = UrlOption::new("user", "the user; overrides the URL's");
const PASSWORD: UrlOption = UrlOption::new("password", "the password; overrides the URL's");
const APPLICATION_NAME: UrlOption = UrlOption::new(
    "application_name",
    "the name the server shows for the connections",
);
const STATEMENT_CACHE_CAPACITY: UrlOption = UrlOption::new(
    "statement-cache-capacity",
    "prepared statements kept per connection (default 100)",
);

/// A PostgreSQL database: the pool, and the schema that holds the tables.
///
/// The type parameter of [`PgStore`](crate::PgStore); you do not make one
/// yourself.
pub struct Postgres {
    pool: PgPool,
    schema: String,
}

impl fmt::Debug for Postgres {
    /// The schema only: the pool's options hold the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Postgres")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl Postgres {
    /// The schema that holds the tables.
    pub(crate) fn schema(&self) -> &str {
        &self.schema
    }
}

impl Database for Postgres {
    const BACKEND: &'static str = "postgres";
    const STORE: &'static str = "PgStore";
    const SCHEMES: &'static [&'static str] = &["postgres", "postgresql"];
    const URL_OPTIONS: &'static [UrlOption] = &[
        MAX_CONNECTIONS,
        ACQUIRE_TIMEOUT,
        SCHEMA,
        SSLMODE,
        SSLROOTCERT,
        SSLCERT,
        SSLKEY,
        HOST,
        PORT,
        DBNAME,
        USER,
        PASSWORD,
        APPLICATION_NAME,
        STATEMENT_CACHE_CAPACITY,
    ];

    type Pool = PgPool;

    async fn connect(url: &StoreUrl, options: &SqlOptions) -> Result<Self, OpenError> {
        // Options given by the program rather than the URL are checked here.
        let schema = plain_identifier(&options.schema)
            .ok_or_else(|| UrlError::bad_value(SCHEMA.name, PLAIN_IDENTIFIER, &options.schema))?
            .to_owned();
        let connect = connect_options(url)?.options([("search_path", schema.as_str())]);
        let server = match connect.get_socket() {
            Some(socket) => socket.display().to_string(),
            None => format!("{}:{}", connect.get_host(), connect.get_port()),
        };
        let opening = format!("cannot connect to {server}");
        try_connect::<Self, _>(&connect, options.acquire_timeout, &opening).await?;
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.acquire_timeout)
            // A broken connection fails one statement (as Unavailable) and
            // is dropped when it returns to the pool; testing each one
            // before use would cost a round trip on every hit.
            .test_before_acquire(false)
            .connect_lazy_with(connect);
        Ok(Self { pool, schema })
    }

    fn pool(&self) -> &PgPool {
        &self.pool
    }

    // Claims expire at a TIMESTAMPTZ, on the server's clock (the time of the
    // statement, not of its transaction).
    const NOW: &'static str = "clock_timestamp()";
    const LEASE: &'static str = "clock_timestamp() + $3::float8 * interval '1 millisecond'";
    const REMAINING_MS: &'static str = "GREATEST(0, CEIL(EXTRACT(EPOCH FROM \
         (expires_at - clock_timestamp())) * 1000))::bigint";
    // Arguments and metadata are JSONB, sent and read as text.
    const TEXT_TO_JSON: &'static str = "::jsonb";
    const JSON_TO_TEXT: &'static str = "::text";
    const HAS_MIGRATIONS: &'static str =
        "SELECT 1 WHERE to_regclass('_sqlx_migrations') IS NOT NULL";

    /// Whole floats keep a fraction digit (see [`WholeFloatsKeepTheirPoint`]).
    fn metadata_json(metadata: &Metadata) -> serde_json::Result<String> {
        let mut out = Vec::new();
        let mut ser = serde_json::Serializer::with_formatter(&mut out, WholeFloatsKeepTheirPoint);
        serde::Serialize::serialize(metadata, &mut ser)?;
        // serde_json writes UTF-8 only.
        Ok(String::from_utf8(out).unwrap_or_default())
    }

    /// Containment (`@>`), on the GIN index.
    fn arg_condition(sql: &mut Sql, name: &str, digest: &Digest) {
        sql.push("args @> ")
            .bind(Bind::Text(arg_json(name, digest)))
            .push("::jsonb");
    }

    /// Containment narrows on the GIN index, and `#>` checks the exact
    /// value.
    fn metadata_condition(sql: &mut Sql, path: &[&str], value: &serde_json::Value) {
        // {"tags": {"project": "demo"}} for the index; containment alone
        // would also accept [1, 2] for [1], hence the exact check after it.
        let nested = path.iter().rev().fold(
            value.clone(),
            |inner, key| serde_json::json!({ *key: inner }),
        );
        sql.push("(metadata @> ")
            .bind(Bind::Text(nested.to_string()))
            .push("::jsonb AND metadata #> ARRAY[");
        for (i, part) in path.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.bind(Bind::Text((*part).to_owned()));
        }
        sql.push("]::text[] = ")
            .bind(Bind::Text(value.to_string()))
            .push("::jsonb)");
    }

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }

    /// Creates the schema first. sqlx holds an advisory lock meanwhile, so
    /// processes that open a fresh database together take turns.
    async fn run_migrations(&self) -> Result<(), MigrateError> {
        let mut migrator = Migrator::with_migrations(MIGRATOR.migrations.to_vec());
        migrator.create_schema(self.schema.clone());
        migrator.run(&self.pool).await
    }

    /// The schema, with everything in it.
    fn destroy_statements(&self) -> Vec<String> {
        vec![format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema)]
    }

    /// A SQLSTATE: five characters, often all digits.
    fn error_kind(code: &str) -> ErrorKind {
        match code {
            // Connection exceptions, server shutting down or starting up,
            // too many connections, out of resources.
            c if c.starts_with("08") || c.starts_with("53") || c.starts_with("57P") => {
                ErrorKind::Unavailable
            }
            // Serialization failure, deadlock: the transaction can be retried.
            "40001" | "40P01" => ErrorKind::Unavailable,
            _ => ErrorKind::Backend,
        }
    }

    fn persistent(&self) -> bool {
        true
    }
}

/// serde_json's compact JSON, except for floats that are whole numbers of
/// 10¹⁶ or more, which serde_json writes with an exponent (`1e18`): JSONB
/// reads those as integers and gives them back as `1000000000000000000`,
/// which reads back as an integer, not the float that was stored. Written
/// out with a fraction digit (`1000000000000000000.0`) they keep it — JSONB
/// keeps a number's scale — and read back as the same float. Queries are
/// unaffected: JSONB compares numbers by value.
struct WholeFloatsKeepTheirPoint;

impl serde_json::ser::Formatter for WholeFloatsKeepTheirPoint {
    fn write_f64<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        value: f64,
    ) -> std::io::Result<()> {
        if value.is_finite() && value.fract() == 0.0 && value.abs() >= 1e16 {
            // `{:.1}` prints the float's exact decimal value, which parses
            // back to the same float.
            write!(writer, "{value:.1}")
        } else {
            serde_json::ser::CompactFormatter.write_f64(writer, value)
        }
    }
}

/// The argument condition's JSON: `[{"name": …, "digest": hex}]`, the shape
/// of a record's `args` column.
fn arg_json(name: &str, digest: &Digest) -> String {
    serde_json::json!([{ "name": name, "digest": digest.to_hex() }]).to_string()
}

/// sqlx's options for the server `url` names: the URL's parts, then the
/// options that override them. `~/.pgpass` is not read (see the crate's
/// Limits); the environment's `PG…` variables give the defaults.
fn connect_options(url: &StoreUrl) -> Result<PgConnectOptions, UrlError> {
    let mut connect = PgConnectOptions::new_without_pgpass();
    let host = url
        .text(HOST.name)?
        .map(str::to_owned)
        .or_else(|| url.host());
    if let Some(host) = host {
        connect = match host.starts_with('/') {
            true => connect.socket(host),
            false => connect.host(&host),
        };
    }
    if let Some(port) = url.number(PORT.name)?.or(url.port()) {
        connect = connect.port(port);
    }
    if let Some(user) = url
        .text(USER.name)?
        .map(str::to_owned)
        .or_else(|| url.username())
    {
        connect = connect.username(&user);
    }
    if let Some(password) = url
        .text(PASSWORD.name)?
        .map(str::to_owned)
        .or_else(|| url.password())
    {
        connect = connect.password(&password);
    }
    let path = url.path();
    let database = url
        .text(DBNAME.name)?
        .or(Some(path.trim_start_matches('/')));
    if let Some(database) = database.filter(|d| !d.is_empty()) {
        connect = connect.database(database);
    }
    let modes = "disable, allow, prefer, require, verify-ca or verify-full";
    if let Some(mode) = url.typed(SSLMODE.name, modes, |m| m.parse::<PgSslMode>().ok())? {
        connect = connect.ssl_mode(mode);
    }
    if let Some(file) = url.text(SSLROOTCERT.name)? {
        connect = connect.ssl_root_cert(file);
    }
    if let Some(file) = url.text(SSLCERT.name)? {
        connect = connect.ssl_client_cert(file);
    }
    if let Some(file) = url.text(SSLKEY.name)? {
        connect = connect.ssl_client_key(file);
    }
    if let Some(name) = url.text(APPLICATION_NAME.name)? {
        connect = connect.application_name(name);
    }
    if let Some(n) = url.number(STATEMENT_CACHE_CAPACITY.name)? {
        connect = connect.statement_cache_capacity(n);
    }
    Ok(connect)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(url: &str) -> PgConnectOptions {
        connect_options(&StoreUrl::parse(url).unwrap()).unwrap()
    }

    #[test]
    fn the_url_and_its_options_make_the_connect_options() {
        let o = options(
            "postgresql://al%40ice:p%40ss@[::1]:6543/my%20db?sslmode=require&application_name=app",
        );
        assert_eq!(o.get_host(), "::1");
        assert_eq!(o.get_port(), 6543);
        assert_eq!(o.get_username(), "al@ice");
        assert_eq!(o.get_database(), Some("my db"));
        assert!(matches!(o.get_ssl_mode(), PgSslMode::Require));
        assert_eq!(o.get_application_name(), Some("app"));
        let o = options("postgres://h/db?host=/var/run/postgresql&port=5433&dbname=other&user=bob");
        assert_eq!(
            o.get_socket().unwrap().to_str(),
            Some("/var/run/postgresql")
        );
        assert_eq!(o.get_port(), 5433);
        assert_eq!(o.get_database(), Some("other"));
        assert_eq!(o.get_username(), "bob");
    }

    #[test]
    fn whole_floats_keep_a_fraction_digit_for_jsonb() {
        let mut metadata = Metadata::new();
        metadata.insert(
            "m".into(),
            serde_json::json!({ "big": 1e18, "neg": -2.5e17, "small": 1.0, "frac": 0.1, "int": 7 }),
        );
        let text = Postgres::metadata_json(&metadata).unwrap();
        assert_eq!(
            text,
            r#"{"m":{"big":1000000000000000000.0,"frac":0.1,"int":7,"neg":-250000000000000000.0,"small":1.0}}"#
        );
        let back: Metadata = serde_json::from_str(&text).unwrap();
        assert_eq!(back, metadata);
    }

    #[test]
    fn bad_driver_options_say_what_they_take() {
        let url = StoreUrl::parse("postgres://h/db?sslmode=sometimes").unwrap();
        let err = connect_options(&url).unwrap_err();
        assert!(
            err.to_string().contains("verify-full, not `sometimes`"),
            "{err}"
        );
        let url = StoreUrl::parse("postgres://h/db?port=high").unwrap();
        assert!(connect_options(&url).is_err());
    }
}
