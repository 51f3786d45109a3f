//! From a parsed `s3://bucket/prefix?…` URL to an S3 client: the bucket
//! and prefix read from the [`StoreUrl`], the client's options given to
//! object_store's `AmazonS3Builder` by their config keys, over the `AWS_…`
//! environment.

use fleche_core::driver::{StoreUrl, UrlError};
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::{ClientConfigKey, RetryConfig};

use crate::S3Options;
use crate::layout::Layout;

/// The URL options that configure the client, with their config keys and
/// whether they take `true` or `false`.
const CLIENT_OPTIONS: &[(&str, AmazonS3ConfigKey, bool)] = &[
    ("endpoint", AmazonS3ConfigKey::Endpoint, false),
    ("region", AmazonS3ConfigKey::Region, false),
    (
        "allow_http",
        AmazonS3ConfigKey::Client(ClientConfigKey::AllowHttp),
        true,
    ),
    ("access_key_id", AmazonS3ConfigKey::AccessKeyId, false),
    (
        "secret_access_key",
        AmazonS3ConfigKey::SecretAccessKey,
        false,
    ),
    ("session_token", AmazonS3ConfigKey::Token, false),
    (
        "virtual_hosted_style_request",
        AmazonS3ConfigKey::VirtualHostedStyleRequest,
        true,
    ),
    ("skip_signature", AmazonS3ConfigKey::SkipSignature, true),
];

/// Where the store is: a bucket, and the key prefix under it.
#[derive(Debug)]
pub(crate) struct Location {
    pub(crate) bucket: String,
    /// Without leading or trailing `/`; empty for the bucket's root.
    pub(crate) prefix: String,
    /// The objects' paths under the prefix.
    pub(crate) layout: Layout,
}

/// The bucket and prefix of `s3://bucket[/prefix]`. Errors never quote a
/// credential.
pub(crate) fn location(url: &StoreUrl) -> Result<Location, UrlError> {
    if url.scheme() != "s3" || !url.has_authority() {
        return Err(UrlError::malformed(
            "an S3 URL starts with s3://, as in s3://bucket/prefix",
        ));
    }
    if url.username().is_some() || url.password().is_some() {
        return Err(UrlError::malformed(
            "credentials do not go before the bucket; use the AWS_ACCESS_KEY_ID and \
             AWS_SECRET_ACCESS_KEY environment variables or the access_key_id and \
             secret_access_key options",
        ));
    }
    let bucket = url
        .host()
        .ok_or_else(|| UrlError::malformed("the URL names no bucket; use s3://bucket/prefix"))?;
    check_bucket(&bucket)?;
    if url.port().is_some() {
        return Err(UrlError::malformed(
            "a bucket has no port: name the server with endpoint=http://host:port",
        ));
    }
    if url.fragment().is_some() {
        return Err(UrlError::malformed(
            "an S3 URL takes no #fragment (write a `#` in the prefix as %23)",
        ));
    }
    let path = url.path();
    let prefix = path.trim_matches('/');
    let layout = Layout::new(prefix).map_err(|e| {
        UrlError::malformed(format!(
            "prefix `{prefix}` is not a valid object key prefix: {e}"
        ))
    })?;
    Ok(Location {
        bucket,
        prefix: prefix.to_owned(),
        layout,
    })
}

/// The rules every S3 implementation agrees on: 3 to 63 lowercase letters,
/// digits, dots and hyphens, starting and ending with a letter or digit.
fn check_bucket(bucket: &str) -> Result<(), UrlError> {
    let ok = (3..=63).contains(&bucket.len())
        && bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
        && bucket.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(UrlError::malformed(format!(
            "`{bucket}` is not a bucket name (3 to 63 lowercase letters, digits, dots and hyphens)"
        )))
    }
}

/// The client of `bucket`: the `AWS_…` environment first, then the URL's
/// client options, then the timeouts and retries of `options`. A plain-HTTP
/// endpoint without `allow_http` is refused here rather than failing later.
pub(crate) fn build(
    url: &StoreUrl,
    bucket: &str,
    options: &S3Options,
) -> Result<AmazonS3, UrlError> {
    let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
    for &(name, key, flag) in CLIENT_OPTIONS {
        let value = if flag {
            url.flag(name)?.map(|on| on.to_string())
        } else {
            url.text(name)?.map(str::to_owned)
        };
        if let Some(value) = value {
            builder = builder.with_config(key, value);
        }
    }
    let endpoint = builder.get_config_value(&AmazonS3ConfigKey::Endpoint);
    let allow_http = builder
        .get_config_value(&AmazonS3ConfigKey::Client(ClientConfigKey::AllowHttp))
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if let Some(endpoint) = endpoint
        && endpoint.starts_with("http://")
        && !allow_http
    {
        return Err(UrlError::malformed(format!(
            "the endpoint {} is plain HTTP; add allow_http=true (or set AWS_ALLOW_HTTP=true) to allow it",
            fleche_core::redact_url(&endpoint)
        )));
    }
    let millis = |d: std::time::Duration| format!("{}ms", d.as_millis());
    builder
        .with_config(
            AmazonS3ConfigKey::Client(ClientConfigKey::Timeout),
            millis(options.timeout),
        )
        .with_config(
            AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout),
            millis(options.connect_timeout),
        )
        .with_retry(RetryConfig {
            max_retries: options.max_retries,
            retry_timeout: options.retry_timeout,
            ..RetryConfig::default()
        })
        .build()
        // The builder's messages name settings, never their values.
        .map_err(|e| UrlError::malformed(format!("cannot set up the S3 client: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> StoreUrl {
        StoreUrl::parse(url).unwrap()
    }

    fn problem(url: &str) -> String {
        location(&parse(url)).unwrap_err().to_string()
    }

    #[test]
    fn bucket_and_prefix() {
        let at = location(&parse(
            "s3://my-bucket/team/cache%20one/?endpoint=http://127.0.0.1:5055&allow_http=true",
        ))
        .unwrap();
        assert_eq!(at.bucket, "my-bucket");
        assert_eq!(at.prefix, "team/cache one");
        let at = location(&parse("s3://b-1")).unwrap();
        assert_eq!((at.bucket.as_str(), at.prefix.as_str()), ("b-1", ""));
    }

    #[test]
    fn wrong_urls_say_why_without_values() {
        assert!(problem("http://bucket/x").contains("starts with s3://"));
        assert!(problem("s3:bucket/x").contains("starts with s3://"));
        assert!(problem("s3:///x").contains("names no bucket"));
        assert!(problem("s3://Bad_Bucket/x").contains("not a bucket name"));
        assert!(problem("s3://bucket/a//b").contains("not a valid object key prefix"));
        assert!(problem("s3://bucket:9000/x").contains("endpoint="));
        assert!(problem("s3://bucket/x#y").contains("%23"));
        let e = problem("s3://AKIA:hunter2@bucket/x");
        assert!(
            !e.contains("hunter2") && !e.contains("AKIA") && e.contains("environment"),
            "{e}"
        );
    }

    #[test]
    fn client_options_are_typed() {
        let url = parse("s3://bucket?allow_http=yes");
        let e = build(&url, "bucket", &S3Options::default()).unwrap_err();
        assert!(e.to_string().contains("true or false"), "{e}");
        let url = parse("s3://bucket?region=&secret_access_key=hunter2");
        let e = build(&url, "bucket", &S3Options::default()).unwrap_err();
        assert!(e.to_string().contains("`region` is empty"), "{e}");
        let url = parse("s3://bucket?secret_access_key=");
        let e = build(&url, "bucket", &S3Options::default()).unwrap_err();
        assert!(e.to_string().contains("secret_access_key"), "{e}");
    }

    #[test]
    fn plain_http_needs_allow_http() {
        // The environment may allow it; only check when it does not.
        if std::env::var_os("AWS_ALLOW_HTTP").is_none() {
            let url = parse("s3://bucket?endpoint=http://127.0.0.1:1");
            let e = build(&url, "bucket", &S3Options::default()).unwrap_err();
            assert!(e.to_string().contains("allow_http=true"), "{e}");
        }
        let url = parse("s3://bucket?endpoint=http://127.0.0.1:1&allow_http=true");
        assert!(build(&url, "bucket", &S3Options::default()).is_ok());
    }
}
