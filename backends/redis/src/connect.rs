//! From a parsed URL to a connection: the server's address, database and
//! credentials read from the [`StoreUrl`] into the driver's typed
//! configuration, then one multiplexed connection that reconnects by
//! itself.

use std::time::Duration;

use fleche_core::driver::{StoreUrl, UrlError};
use fleche_core::{ErrorKind, StoreError};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo, RedisConnectionInfo};

use crate::error::kind_of;
use crate::{RedisOptions, RedisStore};

/// The port of a URL that names none.
const DEFAULT_PORT: u16 = 6379;

/// The form of a Redis URL, for errors.
const FORM: &str =
    "a Redis URL is redis://[user:password@]host[:port][/db] (or rediss://… for TLS)";

/// Where and how to connect: what the URL names.
pub(crate) struct Address {
    info: ConnectionInfo,
    /// `host:port`, for messages (no credentials).
    shown: String,
}

/// Reads the server, database, user and password of `url`, and whether it
/// asks for TLS (`rediss://`, with `#insecure` to skip the certificate
/// check).
pub(crate) fn address(url: &StoreUrl) -> Result<Address, UrlError> {
    let tls = match url.scheme() {
        "redis" => false,
        "rediss" => true,
        other => {
            return Err(UrlError::malformed(format!("{FORM}, not {other}://")));
        }
    };
    if !url.has_authority() {
        return Err(UrlError::malformed(FORM));
    }
    let host = url
        .host()
        .ok_or_else(|| UrlError::malformed(format!("the URL names no host; {FORM}")))?;
    let port = url.port().unwrap_or(DEFAULT_PORT);
    let db = match url.path().trim_start_matches('/') {
        "" => 0,
        db => db.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
            UrlError::malformed(format!(
                "the path is the database number, as in redis://host:6379/0; `{db}` is not one"
            ))
        })?,
    };
    let insecure = match url.fragment() {
        None => false,
        Some("insecure") if tls => true,
        Some("insecure") => {
            return Err(UrlError::malformed(
                "#insecure (no certificate check) is for rediss:// URLs only",
            ));
        }
        Some(_) => {
            return Err(UrlError::malformed(
                "the only fragment a Redis URL takes is #insecure (rediss:// without a certificate check)",
            ));
        }
    };
    let shown = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let addr = if tls {
        tls_address(host, port, insecure)?
    } else {
        ConnectionAddr::Tcp(host, port)
    };
    let mut redis = RedisConnectionInfo::default().set_db(db);
    if let Some(user) = url.username() {
        redis = redis.set_username(user);
    }
    if let Some(password) = url.password() {
        redis = redis.set_password(password);
    }
    let info = addr
        .into_connection_info()
        .map_err(|e| UrlError::malformed(format!("the driver refuses the address {shown}: {e}")))?
        .set_redis_settings(redis);
    Ok(Address { info, shown })
}

#[cfg(feature = "tls")]
fn tls_address(host: String, port: u16, insecure: bool) -> Result<ConnectionAddr, UrlError> {
    Ok(ConnectionAddr::TcpTls {
        host,
        port,
        insecure,
        tls_params: None,
    })
}

#[cfg(not(feature = "tls"))]
fn tls_address(_: String, _: u16, _: bool) -> Result<ConnectionAddr, UrlError> {
    Err(UrlError::malformed(
        "rediss:// (TLS) needs fleche-redis built with its `tls` feature \
         (the `redis-tls` feature of fleche)",
    ))
}

/// Connects to `address`: one multiplexed connection, which reconnects by
/// itself. A server that refuses is reported at once, one that does not
/// answer within the timeouts of `options`; either as unavailable, with the
/// driver's cause as the source.
pub(crate) async fn connect(
    address: Address,
    options: &RedisOptions,
) -> Result<ConnectionManager, StoreError> {
    let Address { info, shown } = address;
    let fail = |e: redis::RedisError| {
        StoreError::new(
            kind_of(&e),
            RedisStore::BACKEND,
            format!("cannot connect to {shown}"),
        )
        .with_cause(e)
    };
    let client = redis::Client::open(info).map_err(|e| {
        StoreError::new(
            ErrorKind::Backend,
            RedisStore::BACKEND,
            format!("cannot set up a client for {shown}"),
        )
        .with_cause(e)
    })?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(options.connect_timeout))
        .set_response_timeout(Some(options.response_timeout))
        .set_number_of_retries(options.reconnect_retries)
        .set_min_delay(Duration::from_millis(20))
        .set_max_delay(Duration::from_millis(250));
    ConnectionManager::new_with_config(client, config)
        .await
        .map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(url: &str) -> Result<Address, String> {
        address(&StoreUrl::parse(url).map_err(|e| e.to_string())?).map_err(|e| e.to_string())
    }

    #[test]
    fn the_parts_go_to_the_driver() {
        let a = read("redis://me:p%40ss@cache.internal:6380/3?namespace=x").unwrap();
        assert_eq!(a.shown, "cache.internal:6380");
        assert_eq!(
            a.info.addr(),
            &ConnectionAddr::Tcp("cache.internal".into(), 6380)
        );
        let r = a.info.redis_settings();
        assert_eq!(
            (r.db(), r.username(), r.password()),
            (3, Some("me"), Some("p@ss"))
        );
        let a = read("redis://[::1]/").unwrap();
        assert_eq!(a.shown, "[::1]:6379");
        assert_eq!(a.info.addr(), &ConnectionAddr::Tcp("::1".into(), 6379));
        assert_eq!(a.info.redis_settings().db(), 0);
        assert_eq!(a.info.redis_settings().password(), None);
    }

    #[test]
    fn wrong_urls_say_what_to_write() {
        for (url, says) in [
            ("http://h:6379", "redis://[user:password@]host"),
            ("redis:h", "redis://[user:password@]host"),
            ("redis:///0", "names no host"),
            ("redis://h:6379/notadb", "database number"),
            ("redis://h:6379/-1", "database number"),
            ("redis://h:6379/0#insecure", "rediss:// URLs only"),
            ("rediss://h:6379/0#nocheck", "only fragment"),
        ] {
            let e = read(url).err().unwrap_or_else(|| panic!("{url} was taken"));
            assert!(e.contains(says), "{url}: {e}");
        }
    }

    #[cfg(feature = "tls")]
    #[test]
    fn rediss_is_tls_and_insecure_is_honoured() {
        let a = read("rediss://h:6380/0?namespace=n&strict=true#insecure").unwrap();
        assert!(matches!(
            a.info.addr(),
            ConnectionAddr::TcpTls {
                insecure: true,
                port: 6380,
                ..
            }
        ));
        let a = read("rediss://h/0").unwrap();
        assert!(matches!(
            a.info.addr(),
            ConnectionAddr::TcpTls {
                insecure: false,
                port: 6379,
                ..
            }
        ));
    }

    #[cfg(not(feature = "tls"))]
    #[test]
    fn rediss_without_the_feature_names_it() {
        let e = read("rediss://:pw@h:6380/0#insecure").err().unwrap();
        assert!(e.contains("`tls` feature") && !e.contains("pw"), "{e}");
    }
}
