use fleche::fleche;

#[fleche]
fn identity<T: serde::Serialize + serde::de::DeserializeOwned + Clone>(x: T) -> T {
    x
}

fn main() {
    let cache = fleche::open("memory://").unwrap();
    fleche::with_cache(cache, || {
        assert_eq!(identity(String::from("a")), "a");
        assert!(identity::contains(&String::from("a")).unwrap());
        assert_eq!(identity::load::<String>(&"a".into()).unwrap().as_deref(), Some("a"));
        let _ = identity::digest(&vec![1u8, 2]);
    });
}
