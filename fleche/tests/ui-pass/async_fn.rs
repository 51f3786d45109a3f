use fleche::fleche;

#[fleche]
async fn fetch(url: String) -> usize {
    url.len()
}

fn main() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let cache = fleche::open("memory://").unwrap();
        fleche::Scope::current()
            .with_cache(cache)
            .run_async(async {
                assert_eq!(fetch("abc".into()).await, 3);
                assert!(fetch::contains(&"abc".to_string()).await.unwrap());
                assert_eq!(fetch::load(&"abc".to_string()).await.unwrap(), Some(3));
                assert_eq!(fetch::rerun("abc".into()).await, 3);
            })
            .await;
    });
}
