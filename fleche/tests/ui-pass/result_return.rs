use fleche::fleche;

#[fleche]
fn parse(text: String) -> Result<u32, String> {
    text.parse().map_err(|e| format!("{e}"))
}

#[fleche]
fn read_len(path: String) -> std::io::Result<u64> {
    std::fs::metadata(path).map(|m| m.len())
}

fn main() {
    let cache = fleche::open("memory://").unwrap();
    fleche::with_cache(cache, || {
        assert_eq!(parse("7".into()), Ok(7));
        assert!(parse("x".into()).is_err());
        // Only `Ok` is stored, and `load` gives the `Ok` type.
        let loaded: Option<u32> = parse::load(&"7".into()).unwrap();
        assert_eq!(loaded, Some(7));
        assert_eq!(parse::load(&"x".into()).unwrap(), None);

        assert!(read_len("/nonexistent/fleche/path".into()).is_err());
        let loaded: Option<u64> = read_len::load(&"/nonexistent/fleche/path".into()).unwrap();
        assert_eq!(loaded, None);
    });
}
