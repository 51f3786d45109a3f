//! The store: two maps and a claim table behind locks.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use fleche_core::{Bytes, CallRecord, Digest, StoreError};

use crate::Claims;

/// Keys are BLAKE3 digests, already uniformly distributed: their first
/// eight bytes make a perfect hash, with no rehashing.
#[derive(Default)]
pub(crate) struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut buf = [0u8; 8];
            buf[..chunk.len()].copy_from_slice(chunk);
            self.0 ^= u64::from_le_bytes(buf);
        }
    }
}

pub(crate) type DigestMap<V> = HashMap<Digest, V, BuildHasherDefault<DigestHasher>>;

/// An in-memory value store and call store.
#[derive(Default)]
pub struct MemoryStore {
    name: Option<String>,
    pub(crate) values: RwLock<DigestMap<Bytes>>,
    pub(crate) calls: RwLock<DigestMap<CallRecord>>,
    pub(crate) claims: Claims,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("name", &self.name)
            .field("values", &self.values.read().map(|m| m.len()).unwrap_or(0))
            .field("calls", &self.calls.read().map(|m| m.len()).unwrap_or(0))
            .finish()
    }
}

impl MemoryStore {
    /// The backend name in errors.
    pub const BACKEND: &'static str = "memory";

    /// A new, empty, unnamed store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The process-wide store called `name`, made on first use.
    pub fn named(name: &str) -> Arc<MemoryStore> {
        let mut map = named_stores().lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(map.entry(name.to_owned()).or_insert_with(|| {
            Arc::new(MemoryStore {
                name: Some(name.to_owned()),
                ..Default::default()
            })
        }))
    }

    /// Forgets the process-wide store called `name`; handles already given
    /// out keep working, the next [`MemoryStore::named`] makes a new one.
    pub fn forget_named(name: &str) -> bool {
        named_stores()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name)
            .is_some()
    }

    /// The store's name, if it is a named store.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// How many values are stored.
    pub fn value_count(&self) -> usize {
        read(&self.values).len()
    }

    /// How many call records are stored.
    pub fn call_count(&self) -> usize {
        read(&self.calls).len()
    }

    /// Removes everything the store holds: values, records and claims. A
    /// named store is also forgotten, so the next
    /// [`MemoryStore::named`] makes a new one. Never fails; async, and
    /// returning a `Result`, as every store's `destroy` does.
    pub async fn destroy(&self) -> Result<(), StoreError> {
        write(&self.values).clear();
        write(&self.calls).clear();
        self.claims.clear();
        if let Some(name) = &self.name {
            Self::forget_named(name);
        }
        Ok(())
    }
}

fn named_stores() -> &'static Mutex<HashMap<String, Arc<MemoryStore>>> {
    static NAMED: OnceLock<Mutex<HashMap<String, Arc<MemoryStore>>>> = OnceLock::new();
    NAMED.get_or_init(Default::default)
}

/// A poisoned lock only means another thread panicked while holding it; the
/// maps are never left half-updated (each write is one insert or remove).
pub(crate) fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use fleche_core::{CallStore, Owner, ValueStore};

    use super::*;

    #[test]
    fn destroy_empties_and_forgets() {
        let store = MemoryStore::named("destroy-test");
        let (key, holder, other) = (Digest::of(b"x"), Owner::new(), Owner::new());
        let ttl = std::time::Duration::from_secs(60);
        futures::executor::block_on(async {
            ValueStore::put(&*store, key, Bytes::from_static(b"x"))
                .await
                .unwrap();
            let result = fleche_core::ValueRef {
                digest: key,
                inline: None,
            };
            CallStore::put(&*store, CallRecord::new(key, "f", result))
                .await
                .unwrap();
            assert!(store.claims.claim(key, &holder, ttl).is_acquired());
            assert_eq!((store.value_count(), store.call_count()), (1, 1));
            store.destroy().await.unwrap();
        });
        assert_eq!((store.value_count(), store.call_count()), (0, 0));
        assert_eq!(
            store.claims.claim(key, &other, ttl),
            fleche_core::Claim::Acquired { took_over: false },
            "destroy drops the claims too"
        );
        assert!(!Arc::ptr_eq(&store, &MemoryStore::named("destroy-test")));
        assert!(MemoryStore::forget_named("destroy-test"));
    }

    #[test]
    fn named_stores_know_their_name() {
        assert_eq!(MemoryStore::named("name-test").name(), Some("name-test"));
        assert_eq!(MemoryStore::new().name(), None);
        MemoryStore::forget_named("name-test");
    }

    #[test]
    fn named_stores_are_shared_until_forgotten() {
        let a = MemoryStore::named("lib-test");
        assert!(Arc::ptr_eq(&a, &MemoryStore::named("lib-test")));
        assert!(MemoryStore::forget_named("lib-test"));
        assert!(!MemoryStore::forget_named("lib-test"));
        assert!(!Arc::ptr_eq(&a, &MemoryStore::named("lib-test")));
    }
}
