//! Opening S3 caches by URL through the `fleche` facade.

mod support;

use fleche_core::{Digest, FnSpec, codec};

static F: FnSpec = FnSpec::new("fleche_s3::tests::open::f");

#[test]
fn s3_url_opens_a_shared_cache() {
    let Some(endpoint) = fleche_conformance::server_url(support::SERVER) else {
        return;
    };
    let url = support::fresh_url(&endpoint, "open", "&strict=true&claims=always");
    let cache = fleche::open(&url).unwrap();
    assert!(cache.options().strict);
    assert!(cache.calls().capabilities().claims);
    let args = [("x", codec::digest(&2u32).unwrap())];
    let n = cache.get_or_compute_blocking(&F, &args, || 4u32).unwrap();
    assert_eq!(n, 4);
    // A second cache on the same URL sees the record.
    let again = fleche::open(&url).unwrap();
    let n = again.get_or_compute_blocking(&F, &args, || 5u32).unwrap();
    assert_eq!(n, 4, "the second cache did not find the first one's result");
    assert!(
        fleche_core::bridge::block_on(again.calls().get(Digest::of(b"nothing")))
            .unwrap()
            .is_none()
    );
    let store = fleche_core::bridge::block_on(fleche_s3::S3Store::open(
        &url.replace("&strict=true&claims=always", ""),
    ))
    .unwrap();
    fleche_core::bridge::block_on(store.destroy()).unwrap();
}

#[test]
fn bad_s3_urls_fail_to_open_without_secrets() {
    let chain = |e: fleche::Error| format!("{} {e:?}", fleche::ErrorChain(&e));
    let e = chain(fleche::open("s3://bucket/p?colour=blue&secret_access_key=hunter2").unwrap_err());
    assert!(e.contains("unknown option `colour`"), "{e}");
    assert!(!e.contains("hunter2"), "{e}");
    let e = chain(fleche::open("s3://bucket/p?access_key_id=AKIDLEAK&region=").unwrap_err());
    assert!(e.contains("`region` is empty"), "{e}");
    assert!(!e.contains("AKIDLEAK"), "{e}");
}
