//! `s3://bucket/prefix?options`: parsing, and showing it without secrets.

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::{ClientConfigKey, RetryConfig};

use crate::S3Options;

/// The URL options that configure the S3 client, beside [`S3Options`]'s.
/// Each has the `AWS_…` environment variable of the same name in upper
/// case as a default (`AWS_ENDPOINT`, `AWS_REGION`, `AWS_ALLOW_HTTP`, …).
pub(crate) const CLIENT_KEYS: &[&str] = &[
    "endpoint",
    "region",
    "allow_http",
    "access_key_id",
    "secret_access_key",
    "session_token",
    "virtual_hosted_style_request",
    "skip_signature",
];

/// URL options whose values are never shown.
const SECRET_KEYS: &[&str] = &["access_key_id", "secret_access_key", "session_token"];

/// A parsed `s3://` URL.
pub(crate) struct S3Url {
    pub(crate) bucket: String,
    /// The key prefix, without leading or trailing `/` (may be empty).
    pub(crate) prefix: String,
    /// Client options from the query, in order.
    pub(crate) client: Vec<(String, String)>,
}

/// `url` with every secret replaced by `***`: passwords in the authority
/// (by [`fleche_core::redact_url`]) and the values of the credential
/// options, the access key id included.
pub fn redact(url: &str) -> String {
    let mut shown = fleche_core::redact_url(url);
    // `s3://KEY:SECRET@bucket`: the user part is a credential too.
    if let Some(start) = shown.find("://").map(|i| i + 3) {
        let end = shown[start..]
            .find(['/', '?', '#'])
            .map_or(shown.len(), |i| start + i);
        if let Some(at) = shown[start..end].rfind('@') {
            shown.replace_range(start..start + at, "***");
        }
    }
    let Some((base, query)) = shown.split_once('?') else {
        return shown;
    };
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if SECRET_KEYS.contains(&key.to_ascii_lowercase().as_str()) => {
                format!("{key}=***")
            }
            _ => pair.to_owned(),
        })
        .collect();
    format!("{base}?{}", pairs.join("&"))
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Parses `s3://bucket[/prefix][?options]`, applying [`S3Options`]' keys
/// to `options`. Errors never quote an option's value.
pub(crate) fn parse(url: &str, options: &mut S3Options) -> Result<S3Url, String> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let Some(rest) = base.strip_prefix("s3://") else {
        return Err("an S3 URL starts with s3://, as in s3://bucket/prefix".into());
    };
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.contains('@') {
        return Err(
            "credentials do not go before the bucket; use the AWS_ACCESS_KEY_ID and \
             AWS_SECRET_ACCESS_KEY environment variables or the access_key_id and \
             secret_access_key options"
                .into(),
        );
    }
    check_bucket(bucket)?;
    let prefix = decode(prefix).trim_matches('/').to_owned();
    if !prefix.is_empty() {
        object_store::path::Path::parse(&prefix)
            .map_err(|e| format!("prefix `{prefix}` is not a valid object key prefix: {e}"))?;
    }
    let mut client = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = decode(value);
        if S3Options::URL_KEYS.contains(&key) {
            options.set(key, &value)?;
        } else if CLIENT_KEYS.contains(&key) {
            if matches!(
                key,
                "allow_http" | "virtual_hosted_style_request" | "skip_signature"
            ) && value.parse::<bool>().is_err()
            {
                return Err(format!("option `{key}` takes true or false"));
            }
            client.push((key.to_owned(), value));
        } else {
            return Err(format!(
                "unknown option `{key}`; this store takes {}, {}",
                CLIENT_KEYS.join(", "),
                S3Options::URL_KEYS.join(", ")
            ));
        }
    }
    Ok(S3Url {
        bucket: bucket.to_owned(),
        prefix,
        client,
    })
}

/// The rules every S3 implementation agrees on: 3 to 63 lowercase letters,
/// digits, dots and hyphens, starting and ending with a letter or digit.
fn check_bucket(bucket: &str) -> Result<(), String> {
    if bucket.is_empty() {
        return Err("the URL names no bucket; use s3://bucket/prefix".into());
    }
    let ok = (3..=63).contains(&bucket.len())
        && bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
        && bucket.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{bucket}` is not a bucket name (3 to 63 lowercase letters, digits, dots and hyphens)"
        ))
    }
}

/// The client for `parsed`: the `AWS_…` environment first, then the URL's
/// options, then the timeouts and retries of `options`.
pub(crate) fn builder(parsed: &S3Url, options: &S3Options) -> Result<AmazonS3Builder, String> {
    let mut builder = AmazonS3Builder::from_env().with_bucket_name(&parsed.bucket);
    for (key, value) in &parsed.client {
        let config = match key.as_str() {
            "endpoint" => AmazonS3ConfigKey::Endpoint,
            "region" => AmazonS3ConfigKey::Region,
            "allow_http" => AmazonS3ConfigKey::Client(ClientConfigKey::AllowHttp),
            "access_key_id" => AmazonS3ConfigKey::AccessKeyId,
            "secret_access_key" => AmazonS3ConfigKey::SecretAccessKey,
            "session_token" => AmazonS3ConfigKey::Token,
            "virtual_hosted_style_request" => AmazonS3ConfigKey::VirtualHostedStyleRequest,
            "skip_signature" => AmazonS3ConfigKey::SkipSignature,
            other => return Err(format!("unknown option `{other}`")),
        };
        builder = builder.with_config(config, value);
    }
    let endpoint = builder.get_config_value(&AmazonS3ConfigKey::Endpoint);
    let allow_http = builder
        .get_config_value(&AmazonS3ConfigKey::Client(ClientConfigKey::AllowHttp))
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if let Some(endpoint) = endpoint
        && endpoint.starts_with("http://")
        && !allow_http
    {
        return Err(format!(
            "the endpoint {endpoint} is plain HTTP; add allow_http=true (or set AWS_ALLOW_HTTP=true) to allow it"
        ));
    }
    let millis = |d: std::time::Duration| format!("{}ms", d.as_millis());
    builder = builder
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
        });
    Ok(builder)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_into_bucket_prefix_and_options() {
        let mut options = S3Options::default();
        let u = parse(
            "s3://my-bucket/team/cache%20one/?endpoint=http://127.0.0.1:5055&allow_http=true&max_retries=1",
            &mut options,
        )
        .unwrap();
        assert_eq!(u.bucket, "my-bucket");
        assert_eq!(u.prefix, "team/cache one");
        assert_eq!(options.max_retries, 1);
        assert_eq!(u.client.len(), 2);
        let u = parse("s3://b-1", &mut options).unwrap();
        assert_eq!((u.bucket.as_str(), u.prefix.as_str()), ("b-1", ""));
    }

    #[test]
    fn bad_urls_say_why_without_values() {
        let mut o = S3Options::default();
        let e = |url: &str, o: &mut S3Options| parse(url, o).err().unwrap();
        assert!(e("http://bucket/x", &mut o).contains("starts with s3://"));
        assert!(e("s3:///x", &mut o).contains("names no bucket"));
        assert!(e("s3://Bad_Bucket/x", &mut o).contains("not a bucket name"));
        assert!(e("s3://bucket/a/../b", &mut o).contains("not a valid"));
        let err = e("s3://bucket?colour=blue", &mut o);
        assert!(err.contains("unknown option `colour`") && err.contains("endpoint"));
        assert!(e("s3://bucket?timeout_ms=soon", &mut o).contains("takes milliseconds"));
        assert!(e("s3://bucket?allow_http=yes", &mut o).contains("true or false"));
        let err = e("s3://AKIA:hunter2@bucket/x", &mut o);
        assert!(
            !err.contains("hunter2") && err.contains("environment"),
            "{err}"
        );
    }

    #[test]
    fn secrets_are_redacted() {
        let url = "s3://b/p?access_key_id=AKIAXYZ&secret_access_key=hunter2&session_token=tok3n&region=eu-west-1";
        let shown = redact(url);
        for secret in ["AKIAXYZ", "hunter2", "tok3n"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("region=eu-west-1"), "{shown}");
        assert_eq!(redact("s3://AKIA:hunter2@b/p"), "s3://***@b/p");
    }

    #[test]
    fn plain_http_needs_allow_http() {
        let mut o = S3Options::default();
        let u = parse("s3://bucket?endpoint=http://127.0.0.1:1", &mut o).unwrap();
        // The environment may allow it; only check when it does not.
        if std::env::var_os("AWS_ALLOW_HTTP").is_none() {
            let e = builder(&u, &o).err().unwrap();
            assert!(e.contains("allow_http=true"), "{e}");
        }
    }
}
