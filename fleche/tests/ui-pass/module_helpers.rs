mod work {
    use fleche::fleche;

    #[fleche(version = 1)]
    pub(crate) fn double(x: u64) -> u64 {
        x * 2
    }
}

fn main() {
    let cache = fleche::open("memory://").unwrap();
    fleche::with_cache(cache, || {
        assert_eq!(work::double(21), 42);
        assert!(work::double::contains(&21).unwrap());
        assert_eq!(work::double::load(&21).unwrap(), Some(42));
        assert_eq!(work::double::rerun(21), 42);
        let _ = work::double::digest(&21);
        let _ = work::double::query();
        assert_eq!(work::double::spec().version(), 1);
    });
}
