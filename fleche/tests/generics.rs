//! Generic functions: the type parameters are part of the key.

use std::str::FromStr;

use fleche::fleche;
use serde::Serialize;
use serde::de::DeserializeOwned;

#[fleche]
fn parse<T: FromStr + Serialize + DeserializeOwned>(text: String) -> Option<T> {
    text.parse().ok()
}

#[fleche]
fn repeat<const N: usize>(x: u8) -> Vec<u8> {
    vec![x; N]
}

#[test]
fn type_parameters_are_part_of_the_key() {
    let cache = fleche::open("memory://").unwrap();
    fleche::with_cache(cache, || {
        assert_eq!(parse::<u8>("300".into()), None);
        assert_eq!(
            parse::<u16>("300".into()),
            Some(300),
            "u16 must not reuse u8's result"
        );
        assert_ne!(
            parse::digest::<u8>(&"300".to_string()),
            parse::digest::<u16>(&"300".to_string())
        );
        assert_eq!(
            parse::load::<u16>(&"300".to_string()).unwrap(),
            Some(Some(300))
        );

        assert_eq!(repeat::<2>(7), vec![7, 7]);
        assert_eq!(
            repeat::<3>(7),
            vec![7, 7, 7],
            "const parameters are part of the key"
        );
    });
}

#[test]
fn type_parameters_are_recorded() {
    let cache = fleche::open("memory://").unwrap();
    fleche::with_cache(cache.clone(), || parse::<i32>("5".into()));
    let key = fleche::with_cache(cache.clone(), || parse::digest::<i32>(&"5".to_string()));
    let record = fleche::bridge::block_on(cache.record(key))
        .unwrap()
        .unwrap();
    let names: Vec<_> = record.args.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["text", "<T>"]);
}
