//! The driver: `s3://bucket/prefix`.

use std::sync::Arc;

use fleche_core::async_trait;
use fleche_core::driver::{Driver, OpenError, StoreUrl, Stores, UrlOption};

use crate::{S3Options, S3Store};

/// Opens `s3://bucket/prefix`: the objects under `prefix` in `bucket`, on
/// Amazon S3 or the S3-compatible server of the `endpoint` option (or of
/// `AWS_ENDPOINT`). Takes the options of [`S3Options::URL_OPTIONS`], the
/// `AWS_…` environment variables as their defaults.
///
/// ```
/// # fleche_core::bridge::block_on(async {
/// fleche_core::driver::register(fleche_s3::S3Driver);
/// let err = fleche_core::driver::open("s3://Not_A_Bucket/x").await.unwrap_err();
/// assert!(fleche_core::ErrorChain(&err).to_string().contains("not a bucket name"));
/// let err = fleche_core::driver::open("s3://bucket/x?colour=blue&secret_access_key=hunter2")
///     .await
///     .unwrap_err();
/// let text = fleche_core::ErrorChain(&err).to_string();
/// assert!(text.contains("unknown option `colour`") && !text.contains("hunter2"));
/// # });
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct S3Driver;

#[async_trait]
impl Driver for S3Driver {
    fn schemes(&self) -> &[&str] {
        &["s3"]
    }

    fn help(&self) -> &str {
        "s3://bucket/prefix: objects under a prefix of an S3 (or S3-compatible) bucket, shared by a whole cluster"
    }

    fn options(&self) -> &[UrlOption] {
        S3Options::URL_OPTIONS
    }

    async fn open(&self, url: &StoreUrl) -> Result<Stores, OpenError> {
        let options = S3Options::default().with_url(url)?;
        let store = S3Store::open_url(url, options).await?;
        Ok(Stores::both(Arc::new(store)))
    }
}
