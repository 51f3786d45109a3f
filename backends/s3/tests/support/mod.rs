//! What the tests against the moto server share: where it is, and a fresh
//! prefix per store.

#![allow(dead_code, unreachable_pub)]

/// The variable naming the S3 endpoint (`eval "$(scripts/services up)"`).
pub const SERVER: &str = "FLECHE_TEST_S3_URL";

/// The bucket the tests use; `scripts/services up` makes it.
pub fn bucket() -> String {
    std::env::var("FLECHE_TEST_S3_BUCKET")
        .ok()
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| "fleche-test".to_owned())
}

/// `s3://BUCKET/PREFIX?endpoint=…` for a prefix no other store uses, with
/// `extra` options appended (`&max_retries=1`).
pub fn fresh_url(endpoint: &str, what: &str, extra: &str) -> String {
    let prefix = fleche_conformance::unique_name(what);
    let http = if endpoint.starts_with("http://") {
        "&allow_http=true"
    } else {
        ""
    };
    format!(
        "s3://{}/{prefix}?endpoint={endpoint}{http}{extra}",
        bucket()
    )
}
