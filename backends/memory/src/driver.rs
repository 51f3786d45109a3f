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
