use fleche::fleche;

#[fleche]
fn describe(value: impl serde::Serialize + std::fmt::Debug) -> String {
    format!("{value:?}")
}

fn main() {
    let cache = fleche::open("memory://").unwrap();
    fleche::with_cache(cache, || {
        assert_eq!(describe("abc"), "\"abc\"");
        assert_eq!(describe(vec![1u8]), "[1]");
        assert!(describe::contains(&"abc").unwrap());
    });
}
