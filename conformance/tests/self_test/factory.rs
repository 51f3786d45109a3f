//! Factories: the inner stores the broken wrapper goes around, and the
//! factory that gives each `open` its own wrapper.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use fleche_conformance::{Factory, Location, Stores};
use fleche_core::{CallStore, Digest, ErrorKind, OpenError, StoreError, ValueStore, async_trait};

use crate::broken::{Broken, Fault, Shared};

/// How to make, open and remove the store a wrapper goes around.
#[async_trait]
pub(crate) trait Inner: Send + Sync + 'static {
    /// The store.
    type Store: ValueStore + CallStore + 'static;
    /// A fresh location.
    async fn create(&self) -> Result<Location, StoreError>;
    /// The store at `at`: a handle on the data every handle shares.
    async fn open(&self, at: &Location) -> Result<Arc<Self::Store>, StoreError>;
    /// Removes the store at `at`.
    async fn destroy(&self, at: &Location) -> Result<(), StoreError>;
}

/// A factory of `Broken` handles with one fault around `I`'s stores: each
/// `open` makes a new handle (with its own caches) on the location's inner
/// store and shared state. The shared state lives in this process only, as
/// a client library's would; a child process makes its own on `open`.
pub(crate) struct WrapFactory<I> {
    fault: Fault,
    inner: I,
    shared: Mutex<HashMap<String, Arc<Shared>>>,
}

impl<I: Inner> WrapFactory<I> {
    pub(crate) fn new(fault: Fault, inner: I) -> Self {
        Self {
            fault,
            inner,
            shared: Mutex::default(),
        }
    }

    fn shared(&self, at: &Location) -> Arc<Shared> {
        let mut map = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(at.0.clone()).or_default().clone()
    }
}

#[async_trait]
impl<I: Inner> Factory for WrapFactory<I> {
    async fn create(&self) -> Result<Location, StoreError> {
        self.inner.create().await
    }

    async fn open(&self, at: &Location) -> Result<Stores, StoreError> {
        let inner = self.inner.open(at).await?;
        let handle = Broken::new(self.fault, inner, self.shared(at), at.0.clone());
        Ok(Stores::both(Arc::new(handle)))
    }

    async fn destroy(&self, at: &Location) -> Result<(), StoreError> {
        self.shared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&at.0);
        self.inner.destroy(at).await
    }

    /// Marks the record damaged in the location's shared state: the
    /// wrapper then reads it as a real store reads a record whose bytes no
    /// longer decode (correctly: `Corrupt` with the key), until a put or
    /// delete replaces it.
    async fn damage_record(&self, at: &Location, key: Digest) -> Result<bool, StoreError> {
        self.shared(at)
            .damaged
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key);
        Ok(true)
    }
}

/// A broken store around a memory store.
pub(crate) fn broken(fault: Fault) -> WrapFactory<MemoryInner> {
    WrapFactory::new(fault, MemoryInner)
}

fn backend_error(backend: &'static str, e: impl std::fmt::Display) -> StoreError {
    StoreError::new(ErrorKind::Backend, backend, e.to_string())
}

/// A URL's open error as the store error the suite takes.
fn open_error(backend: &'static str, e: OpenError) -> StoreError {
    match e {
        OpenError::Store(e) => e,
        other => StoreError::new(ErrorKind::Backend, backend, "bad URL").with_source(other),
    }
}

/// Named memory stores. A location is a URL with a password
/// (`broken://fleche:s3cret-N@self-test/N`), so the suite's credential
/// check has a secret to look for; the memory store's name leaves it out.
pub(crate) struct MemoryInner;

#[async_trait]
impl Inner for MemoryInner {
    type Store = fleche_memory::MemoryStore;

    async fn create(&self) -> Result<Location, StoreError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        Ok(Location(format!(
            "broken://fleche:s3cret-{pid}-{n}@self-test/{pid}-{n}"
        )))
    }

    async fn open(&self, at: &Location) -> Result<Arc<Self::Store>, StoreError> {
        Ok(fleche_memory::MemoryStore::named(memory_name(at)))
    }

    async fn destroy(&self, at: &Location) -> Result<(), StoreError> {
        fleche_memory::MemoryStore::forget_named(memory_name(at));
        Ok(())
    }
}

/// The memory store's name for `at`: what follows the credentials.
fn memory_name(at: &Location) -> &str {
    at.0.rsplit_once('@').map_or(&at.0, |(_, name)| name)
}

/// File stores, a temporary directory each; fsync off, as in the file
/// store's own conformance test.
pub(crate) struct FileInner;

#[async_trait]
impl Inner for FileInner {
    type Store = fleche_file::FileStore;

    async fn create(&self) -> Result<Location, StoreError> {
        let dir = tempfile::Builder::new()
            .prefix("fleche self-test file ")
            .tempdir()
            .map_err(|e| backend_error("file", e))?;
        Ok(Location(dir.keep().to_string_lossy().into_owned()))
    }

    async fn open(&self, at: &Location) -> Result<Arc<Self::Store>, StoreError> {
        let options = fleche_file::FileOptions::default().fsync(false);
        Ok(Arc::new(fleche_file::FileStore::open_with(&at.0, options)?))
    }

    async fn destroy(&self, at: &Location) -> Result<(), StoreError> {
        std::fs::remove_dir_all(&at.0).map_err(|e| backend_error("file", e))
    }
}

/// SQLite databases, a file in a temporary directory each; the URL is the
/// location.
pub(crate) struct SqliteInner;

#[async_trait]
impl Inner for SqliteInner {
    type Store = fleche_sql::SqliteStore;

    async fn create(&self) -> Result<Location, StoreError> {
        let dir = tempfile::Builder::new()
            .prefix("fleche self-test sqlite ")
            .tempdir()
            .map_err(|e| backend_error("sqlite", e))?;
        let path = dir.keep().join("cache.db");
        Ok(Location(format!("sqlite://{}", path.display())))
    }

    async fn open(&self, at: &Location) -> Result<Arc<Self::Store>, StoreError> {
        let store = fleche_sql::SqliteStore::open(&at.0)
            .await
            .map_err(|e| open_error("sqlite", e))?;
        Ok(Arc::new(store))
    }

    async fn destroy(&self, at: &Location) -> Result<(), StoreError> {
        let path = std::path::Path::new(at.0.trim_start_matches("sqlite://"));
        let dir = path.parent().expect("the database is in a directory");
        std::fs::remove_dir_all(dir).map_err(|e| backend_error("sqlite", e))
    }
}

/// PostgreSQL, a schema of its own per location on the server named by
/// `FLECHE_TEST_POSTGRES_URL`.
pub(crate) struct PgInner {
    pub(crate) base: String,
}

#[async_trait]
impl Inner for PgInner {
    type Store = fleche_sql::PgStore;

    async fn create(&self) -> Result<Location, StoreError> {
        let schema = fleche_conformance::unique_name("fleche_selftest");
        let sep = if self.base.contains('?') { '&' } else { '?' };
        Ok(Location(format!("{}{sep}schema={schema}", self.base)))
    }

    async fn open(&self, at: &Location) -> Result<Arc<Self::Store>, StoreError> {
        let options = fleche_sql::SqlOptions::default().max_connections(4);
        let store = fleche_sql::PgStore::open_with(&at.0, options)
            .await
            .map_err(|e| open_error("postgres", e))?;
        Ok(Arc::new(store))
    }

    async fn destroy(&self, at: &Location) -> Result<(), StoreError> {
        self.open(at).await?.destroy().await
    }
}

/// Redis, a namespace of its own per location on the server named by
/// `FLECHE_TEST_REDIS_URL`.
pub(crate) struct RedisInner {
    pub(crate) base: String,
}

#[async_trait]
impl Inner for RedisInner {
    type Store = fleche_redis::RedisStore;

    async fn create(&self) -> Result<Location, StoreError> {
        let namespace = fleche_conformance::unique_name("fleche_selftest");
        let sep = if self.base.contains('?') { '&' } else { '?' };
        Ok(Location(format!("{}{sep}namespace={namespace}", self.base)))
    }

    async fn open(&self, at: &Location) -> Result<Arc<Self::Store>, StoreError> {
        let store = fleche_redis::RedisStore::open(&at.0)
            .await
            .map_err(|e| open_error("redis", e))?;
        Ok(Arc::new(store))
    }

    async fn destroy(&self, at: &Location) -> Result<(), StoreError> {
        self.open(at).await?.destroy().await
    }
}

/// Makes one store per location, kept in a map so that reopening a
/// location gives the same store object: how the plain memory store is
/// run (it is not persistent, so reopening cannot mean more).
pub(crate) struct MapFactory<S> {
    make: fn() -> S,
    stores: Mutex<HashMap<String, Arc<S>>>,
}

impl<S> MapFactory<S> {
    pub(crate) fn new(make: fn() -> S) -> Self {
        Self {
            make,
            stores: Mutex::default(),
        }
    }

    fn stores(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<S>>> {
        self.stores.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl<S: ValueStore + CallStore + 'static> Factory for MapFactory<S> {
    async fn create(&self) -> Result<Location, StoreError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let at = format!("self-test-{}", NEXT.fetch_add(1, Ordering::Relaxed));
        self.stores().insert(at.clone(), Arc::new((self.make)()));
        Ok(Location(at))
    }

    async fn open(&self, at: &Location) -> Result<Stores, StoreError> {
        match self.stores().get(&at.0) {
            Some(store) => Ok(Stores::both(store.clone())),
            None => Err(StoreError::new(
                ErrorKind::Backend,
                "self-test",
                format!("no store at {at}"),
            )),
        }
    }

    async fn destroy(&self, at: &Location) -> Result<(), StoreError> {
        self.stores().remove(&at.0);
        Ok(())
    }
}
