use fleche::fleche;

#[fleche]
fn answer() -> u64 {
    42
}

fn main() {
    let cache = fleche::open("memory://").unwrap();
    fleche::with_cache(cache, || {
        assert_eq!(answer(), 42);
        assert!(answer::contains().unwrap());
        assert_eq!(answer::load().unwrap(), Some(42));
        let _ = answer::digest();
    });
}
