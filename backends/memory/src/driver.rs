//! The driver: `memory://` and `memory://NAME`.

use std::sync::Arc;

use fleche_core::driver::{Driver, OpenError, StoreUrl, Stores, UrlError};

use crate::MemoryStore;

/// Opens `memory://` (a new store) and `memory://NAME` (the process-wide
/// store called `NAME`). Takes no options.
///
/// ```
/// # fleche_core::bridge::block_on(async {
/// fleche_core::driver::register(fleche_memory::MemoryDriver);
/// let a = fleche_core::driver::open("memory://shared").await.unwrap();
/// let b = fleche_core::driver::open("memory://shared").await.unwrap();
/// assert_eq!(format!("{:?}", a.values()), format!("{:?}", b.values()));
/// # });
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct MemoryDriver;

#[fleche_core::async_trait]
impl Driver for MemoryDriver {
    fn schemes(&self) -> &[&str] {
        &["memory"]
    }

    fn help(&self) -> &str {
        "memory:// (a new in-process store) or memory://NAME (the process-wide store NAME)"
    }

    async fn open(&self, url: &StoreUrl) -> Result<Stores, OpenError> {
        if !url.has_authority() || !url.path().is_empty() || url.port().is_some() {
            return Err(UrlError::malformed(
                "a memory URL is memory:// or memory://NAME, with no path",
            )
            .into());
        }
        let store = match url.host() {
            None => Arc::new(MemoryStore::new()),
            Some(name) => MemoryStore::named(&name),
        };
        Ok(Stores::both(store))
    }
}

#[cfg(test)]
mod tests {
    use fleche_core::driver::{Driver, OpenError, StoreUrl, UrlError};

    use super::MemoryDriver;

    fn open(url: &str) -> Result<(), OpenError> {
        let url = StoreUrl::parse(url).expect("a well-formed URL");
        futures::executor::block_on(MemoryDriver.open(&url)).map(drop)
    }

    #[test]
    fn opens_new_and_named_stores() {
        open("memory://").unwrap();
        open("memory://driver-test").unwrap();
    }

    #[test]
    fn refuses_a_path_or_a_port() {
        for url in ["memory://x/y", "memory://x:1", "memory:x"] {
            assert!(
                matches!(open(url), Err(OpenError::Url(UrlError::Malformed { .. }))),
                "{url} should be refused as malformed"
            );
        }
    }

    #[test]
    fn serves_its_scheme_and_says_so() {
        assert_eq!(MemoryDriver.schemes(), ["memory"]);
        assert!(MemoryDriver.help().contains("memory://NAME"));
    }
}
