use fleche::fleche;

#[fleche(name = "x", version = 3, ignore(b), hash_code, isolate)]
fn f(a: u64, b: bool) -> u64 {
    let _verbose = b;
    assert!(fleche::isolate::scratch_dir().is_some());
    a + 1
}

fn main() {
    let cache = fleche::open("memory://").unwrap();
    fleche::with_cache(cache, || {
        assert_eq!(f(1, true), 2);
        // `b` is not part of the key.
        assert!(f::contains(&1).unwrap());
        assert_eq!(f::load(&1).unwrap(), Some(2));
        assert_eq!(f::spec().name(), "x");
        assert_eq!(f::spec().version(), 3);
        assert!(f::spec().code().is_some());
    });
}
