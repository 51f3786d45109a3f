//! The memory store runs the whole conformance suite.

use std::sync::atomic::{AtomicU64, Ordering};

use fleche_conformance::{Factory, Location, Stores};
use fleche_core::{StoreError, async_trait};
use fleche_memory::MemoryStore;

/// Each case gets its own named store; a name is the location.
struct MemoryFactory;

#[async_trait]
impl Factory for MemoryFactory {
    async fn create(&self) -> Result<Location, StoreError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        Ok(Location(format!(
            "conformance-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        )))
    }

    async fn open(&self, at: &Location) -> Result<Stores, StoreError> {
        Ok(Stores::both(MemoryStore::named(&at.0)))
    }

    async fn destroy(&self, at: &Location) -> Result<(), StoreError> {
        MemoryStore::forget_named(&at.0);
        Ok(())
    }
}

fleche_conformance::suite!(
    factory: MemoryFactory,
    claims: true,
    persistent: false,
    processes: false,
);
