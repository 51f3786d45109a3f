//! The memory store runs the whole conformance suite, opened the way a
//! program opens it: by URL, through its driver.

use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};

use fleche_conformance::{Factory, Location, Stores};
use fleche_core::driver::{self, OpenError, StoreUrl};
use fleche_core::{ErrorKind, StoreError, async_trait};
use fleche_memory::{MemoryDriver, MemoryStore};

/// Each case gets its own named store, `memory://NAME`; the URL is the
/// location.
struct MemoryFactory;

/// A location the driver refuses: a fault of this factory, not the store.
fn url_error(e: &dyn std::fmt::Display) -> StoreError {
    StoreError::new(ErrorKind::Backend, MemoryStore::BACKEND, e.to_string())
}

/// The name in a `memory://NAME` location.
fn name(at: &Location) -> &str {
    at.0.strip_prefix("memory://").unwrap_or(&at.0)
}

#[async_trait]
impl Factory for MemoryFactory {
    async fn create(&self) -> Result<Location, StoreError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        Ok(Location(format!(
            "memory://conformance-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        )))
    }

    async fn open(&self, at: &Location) -> Result<Stores, StoreError> {
        static REGISTER: Once = Once::new();
        REGISTER.call_once(|| driver::register(MemoryDriver));
        let url = StoreUrl::parse(&at.0).map_err(|e| url_error(&e))?;
        driver::open_stores(&url).await.map_err(|e| match e {
            OpenError::Store(e) => e,
            other => url_error(&other),
        })
    }

    /// Empties the store and forgets its name, as a program would.
    async fn destroy(&self, at: &Location) -> Result<(), StoreError> {
        MemoryStore::named(name(at)).destroy().await
    }
}

fleche_conformance::suite!(
    factory: MemoryFactory,
    claims: true,
    persistent: false,
    processes: false,
);
