fn main() {
    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Point {
        x: i64,
        y: i64,
    }

    #[fleche::fleche]
    fn norm1(p: Point) -> i64 {
        p.x.abs() + p.y.abs()
    }

    let cache = fleche::open("memory://").unwrap();
    fleche::with_cache(cache, || {
        assert_eq!(norm1(Point { x: 3, y: -4 }), 7);
        assert!(norm1::contains(&Point { x: 3, y: -4 }).unwrap());
    });
}
