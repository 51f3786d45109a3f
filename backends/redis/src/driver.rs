//! The driver: `redis://` and `rediss://`.

use std::sync::Arc;

use fleche_core::async_trait;
use fleche_core::driver::{Driver, OpenError, StoreUrl, Stores, UrlOption};

use crate::{RedisOptions, RedisStore};

/// Opens `redis://[user:password@]host[:port][/db]` and, with the `tls`
/// feature, `rediss://…` (TLS, trusting the system's certificates;
/// `#insecure` skips the certificate check). Without the feature a
/// `rediss://` URL is refused with an error that names it. Takes the
/// options of [`RedisOptions::URL_OPTIONS`].
///
/// ```
/// # fleche_core::bridge::block_on(async {
/// fleche_core::driver::register(fleche_redis::RedisDriver);
/// let err = fleche_core::driver::open("redis://127.0.0.1:notaport/0").await.unwrap_err();
/// assert!(fleche_core::ErrorChain(&err).to_string().contains("port is not a number"));
/// let err = fleche_core::driver::open("redis://h/0?colour=blue").await.unwrap_err();
/// assert!(fleche_core::ErrorChain(&err).to_string().contains("unknown option `colour`"));
/// # });
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct RedisDriver;

#[async_trait]
impl Driver for RedisDriver {
    fn schemes(&self) -> &[&str] {
        &["redis", "rediss"]
    }

    fn help(&self) -> &str {
        if cfg!(feature = "tls") {
            "redis://[user:password@]host[:port][/db] (rediss:// for TLS): a namespace of a Redis server, shared by many machines"
        } else {
            "redis://[user:password@]host[:port][/db]: a namespace of a Redis server, shared by many machines (rediss:// needs the `redis-tls` feature)"
        }
    }

    fn options(&self) -> &[UrlOption] {
        RedisOptions::URL_OPTIONS
    }

    async fn open(&self, url: &StoreUrl) -> Result<Stores, OpenError> {
        let options = RedisOptions::default().with_url(url)?;
        let store = RedisStore::open_url(url, options).await?;
        Ok(Stores::both(Arc::new(store)))
    }
}
