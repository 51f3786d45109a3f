//! The conformance suite on object_store's `InMemory` store: the fast path
//! for developers without the S3 server. Not a substitute for
//! `moto_conformance`: the store lives in this process only, so the
//! persistence and cross-process cases are declared absent (and ignored).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use fleche_conformance::{Factory, Location, Stores};
use fleche_core::{Digest, ErrorKind, StoreError, async_trait};
use fleche_s3::object_store::memory::InMemory;
use fleche_s3::object_store::{ObjectStoreExt, PutPayload, path::Path};
use fleche_s3::{S3Options, S3Store};

/// One `InMemory` per case, kept by name so that `open` finds it again.
struct MemoryFactory;

fn stores() -> &'static Mutex<HashMap<String, Arc<InMemory>>> {
    static STORES: OnceLock<Mutex<HashMap<String, Arc<InMemory>>>> = OnceLock::new();
    STORES.get_or_init(Default::default)
}

#[async_trait]
impl Factory for MemoryFactory {
    async fn create(&self) -> Result<Location, StoreError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let name = format!("memory-{}", COUNTER.fetch_add(1, Ordering::Relaxed));
        stores()
            .lock()
            .unwrap()
            .insert(name.clone(), Arc::new(InMemory::new()));
        Ok(Location(name))
    }

    async fn open(&self, at: &Location) -> Result<Stores, StoreError> {
        let memory = stores().lock().unwrap().get(&at.0).cloned();
        let memory = memory.ok_or_else(|| {
            StoreError::new(
                ErrorKind::Backend,
                S3Store::BACKEND,
                format!("no store {at}"),
            )
        })?;
        let store =
            S3Store::from_object_store_with(memory, "cache", S3Options::in_process()).await?;
        Ok(Stores::both(Arc::new(store)))
    }

    async fn destroy(&self, at: &Location) -> Result<(), StoreError> {
        stores().lock().unwrap().remove(&at.0);
        Ok(())
    }

    /// Overwrites the record's object, `cache/calls/ab/<hex>`, with bytes
    /// that are not a record.
    async fn damage_record(&self, at: &Location, key: Digest) -> Result<bool, StoreError> {
        let memory = stores().lock().unwrap().get(&at.0).cloned();
        let memory = memory.expect("the store exists");
        let hex = key.to_hex();
        let path = Path::from(format!("cache/calls/{}/{hex}", &hex[..2]));
        let failed = |e: fleche_s3::object_store::Error| {
            StoreError::new(
                ErrorKind::Backend,
                S3Store::BACKEND,
                "cannot damage the record",
            )
            .with_key(key)
            .with_source(e)
        };
        memory.head(&path).await.map_err(failed)?;
        memory
            .put(
                &path,
                PutPayload::from_static(b"\xffdamaged by the conformance suite"),
            )
            .await
            .map_err(failed)?;
        Ok(true)
    }
}

fleche_conformance::suite!(
    factory: MemoryFactory,
    claims: true,
    persistent: false,
    processes: false,
    damage: true,
);
