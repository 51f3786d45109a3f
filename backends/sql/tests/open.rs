//! Opening SQL caches by URL through the `fleche` facade.

#[test]
fn sqlite_url_opens_a_cache_that_persists() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/sub dir/cache.db?strict=true", dir.path().display());
    let cache = fleche::open(&url).unwrap();
    assert!(cache.options().strict);
    let n = cache
        .get_or_compute_blocking("f", &[("x", &2u32)], || 4u32)
        .unwrap();
    assert_eq!(n, 4);
}
