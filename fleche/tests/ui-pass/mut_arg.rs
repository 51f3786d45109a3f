use fleche::fleche;

#[fleche]
fn sorted(mut v: Vec<u32>) -> Vec<u32> {
    v.sort_unstable();
    v
}

fn main() {
    let cache = fleche::open("memory://").unwrap();
    fleche::with_cache(cache, || {
        assert_eq!(sorted(vec![3, 1, 2]), [1, 2, 3]);
        assert_eq!(sorted::load(&vec![3, 1, 2]).unwrap(), Some(vec![1, 2, 3]));
    });
}
