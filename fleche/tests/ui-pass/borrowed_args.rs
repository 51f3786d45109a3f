use fleche::fleche;

#[fleche]
fn count_chars(s: &str) -> usize {
    s.chars().count()
}

#[fleche]
fn total<'a>(xs: &'a [u64], label: &'a str) -> u64 {
    let _ = label;
    xs.iter().sum()
}

fn main() {
    let cache = fleche::open("memory://").unwrap();
    fleche::with_cache(cache, || {
        let owned = String::from("héllo");
        assert_eq!(count_chars(&owned), 5);
        assert!(count_chars::contains(&"héllo").unwrap());
        assert_eq!(total(&[1, 2, 3], "sum"), 6);
        assert_eq!(total::load(&&[1u64, 2, 3][..], &"sum").unwrap(), Some(6));
    });
}
