//! A store of your own: `DirStore`, a plain directory of files, written
//! against the two traits of `fleche-core` the way a third-party crate
//! would, opened by URL (`dir:///path`) through a driver of its own,
//! handed to a worker process, and proven by the `fleche-conformance`
//! suite.
//!
//! ```text
//! cargo run --example custom_store                        # the demo
//! cargo test -p fleche-examples --example custom_store    # the conformance suite and more
//! ```
//!
//! The walk-through is the book chapter "Write your own store"
//! (`book/src/write-your-own-store.md`).

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use fleche::{
    Bytes, CallRecord, CallStore, Capabilities, Digest, Driver, ErrorKind, OpenError, Query,
    StoreError, StoreUrl, Stores, ValueStore, async_trait, fleche,
};
use futures::stream::{self, BoxStream, StreamExt};

// ---------------------------------------------------------------------------
// The store
// ---------------------------------------------------------------------------

/// The name errors carry, so a log says which store failed.
const BACKEND: &str = "dir-store";

/// A value store and a call store in one directory:
///
/// ```text
/// <root>/values/<hex digest>   the raw bytes of a value
/// <root>/calls/<hex call key>  CallRecord::to_bytes() of a call
/// ```
///
/// Every operation is a plain `std::fs` call. The trait methods are
/// `async`, but these calls finish before they return, so each future is
/// ready on its first poll (which is what fleche's sync bridge expects of
/// a fast store); a store on slow disks would use `spawn_blocking`.
#[derive(Clone, Debug)]
pub struct DirStore {
    root: PathBuf,
}

impl DirStore {
    /// Opens (and if needed creates) the store at `root`. Any number of
    /// handles, in any number of processes, may open one directory.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let root = root.into();
        for dir in ["values", "calls"] {
            let path = root.join(dir);
            fs::create_dir_all(&path).map_err(|e| io_error("create", None, &path, e))?;
        }
        Ok(Self { root })
    }

    fn path(&self, dir: &str, key: Digest) -> PathBuf {
        self.root.join(dir).join(key.to_hex())
    }

    /// The file's bytes; a missing file is `None`, not an error.
    fn read(&self, dir: &str, key: Digest) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.path(dir, key);
        match fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error("read", Some(key), &path, e)),
        }
    }

    /// Writes atomically: the bytes go to a temp file of a name nobody else
    /// uses, in the same directory (a rename never crosses filesystems),
    /// which is then renamed over the target. Readers see the old file or
    /// the new one, never half of one, and of concurrent writers the last
    /// rename wins. Always writes, even if the file exists: the cache
    /// repairs a damaged value by putting it again.
    fn write(&self, dir: &str, key: Digest, bytes: &[u8]) -> Result<(), StoreError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let path = self.path(dir, key);
        // Temp names start with a dot: not a digest, so `keys` skips them.
        // `create_new` refuses a name already taken (say by another machine
        // sharing the directory, with our pid); then we take the next one.
        let (tmp, mut file) = loop {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let tmp = path.with_file_name(format!(".tmp-{}-{n}", std::process::id()));
            match OpenOptions::new().write(true).create_new(true).open(&tmp) {
                Ok(file) => break (tmp, file),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io_error("create", Some(key), &tmp, e)),
            }
        };
        // No fsync, for speed: after a power cut a file may be lost or
        // empty. An empty value fails the cache's digest check (a miss); an
        // empty record is `Corrupt`, see `decode`.
        let written = file.write_all(bytes).and_then(|()| fs::rename(&tmp, &path));
        written.map_err(|e| {
            let _ = fs::remove_file(&tmp);
            io_error("write", Some(key), &path, e)
        })
    }

    /// Removes the file; `false` if it was not there.
    fn remove(&self, dir: &str, key: Digest) -> Result<bool, StoreError> {
        let path = self.path(dir, key);
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_error("delete", Some(key), &path, e)),
        }
    }

    /// Every key in `dir`: the file names that parse as a digest.
    fn keys(&self, dir: &str) -> Result<Vec<Digest>, StoreError> {
        let path = self.root.join(dir);
        let list = |e| io_error("list", None, &path, e);
        let mut keys = Vec::new();
        for entry in fs::read_dir(&path).map_err(list)? {
            let name = entry.map_err(list)?.file_name();
            if let Some(key) = name.to_str().and_then(|n| n.parse().ok()) {
                keys.push(key);
            }
        }
        Ok(keys)
    }
}

/// A record file that does not decode, or holds another key's record, is
/// `Corrupt`, never silently `None`: someone should hear of it. (The cache
/// logs it, treats it as a miss, and its recomputation overwrites the file.)
fn decode(key: Digest, bytes: &[u8]) -> Result<CallRecord, StoreError> {
    let corrupt = |why: String| StoreError::new(ErrorKind::Corrupt, BACKEND, why).with_key(key);
    match CallRecord::from_bytes(bytes) {
        Ok(rec) if rec.key == key => Ok(rec),
        Ok(rec) => Err(corrupt(format!(
            "calls/{key} holds the record of {}",
            rec.key
        ))),
        Err(e) => Err(corrupt(format!("calls/{key} does not decode: {e}")).with_source(e)),
    }
}

/// An I/O failure as a `StoreError`: what we did, to which path, for which
/// key. Timeouts and interruptions may pass (`Unavailable`, retryable);
/// anything else (permissions, a full disk) will not by itself (`Backend`).
fn io_error(op: &str, key: Option<Digest>, path: &Path, e: io::Error) -> StoreError {
    let kind = match e.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock => {
            ErrorKind::Unavailable
        }
        _ => ErrorKind::Backend,
    };
    let message = format!("cannot {op} {}: {e}", path.display());
    let err = StoreError::new(kind, BACKEND, message).with_source(e);
    match key {
        Some(key) => err.with_key(key),
        None => err,
    }
}

/// A whole answer as a stream: `list` and `query` read the directory first.
fn to_stream<T: Send + 'static>(
    items: Result<Vec<T>, StoreError>,
) -> BoxStream<'static, Result<T, StoreError>> {
    match items {
        Ok(items) => stream::iter(items.into_iter().map(Ok)).boxed(),
        Err(e) => stream::iter([Err(e)]).boxed(),
    }
}

#[async_trait]
impl ValueStore for DirStore {
    async fn put(&self, key: Digest, bytes: Bytes) -> Result<(), StoreError> {
        self.write("values", key, &bytes)
    }

    async fn get(&self, key: Digest) -> Result<Option<Bytes>, StoreError> {
        Ok(self.read("values", key)?.map(Bytes::from))
    }

    // Overridden so that asking does not read the whole value.
    async fn contains(&self, key: Digest) -> Result<bool, StoreError> {
        let path = self.path("values", key);
        fs::exists(&path).map_err(|e| io_error("look up", Some(key), &path, e))
    }

    async fn delete(&self, key: Digest) -> Result<bool, StoreError> {
        self.remove("values", key)
    }

    fn list(&self, prefix: &str) -> BoxStream<'_, Result<Digest, StoreError>> {
        let keys = self.keys("values");
        to_stream(keys.map(|keys| keys.into_iter().filter(|k| k.has_prefix(prefix)).collect()))
    }
}

#[async_trait]
impl CallStore for DirStore {
    async fn put(&self, record: CallRecord) -> Result<(), StoreError> {
        let bytes = record.to_bytes().map_err(|e| {
            StoreError::new(ErrorKind::Backend, BACKEND, format!("cannot encode: {e}"))
                .with_key(record.key)
        })?;
        self.write("calls", record.key, &bytes)
    }

    async fn get(&self, key: Digest) -> Result<Option<CallRecord>, StoreError> {
        self.read("calls", key)?
            .map(|b| decode(key, &b))
            .transpose()
    }

    async fn delete(&self, key: Digest) -> Result<bool, StoreError> {
        self.remove("calls", key)
    }

    // No index to push the query down to: read every record, let
    // `Query::apply` filter, order and limit them.
    fn query<'a>(&'a self, query: &'a Query) -> BoxStream<'a, Result<CallRecord, StoreError>> {
        let records = self.keys("calls").and_then(|keys| {
            let mut records = Vec::new();
            for key in keys {
                // A record deleted since the listing is simply not there.
                if let Some(bytes) = self.read("calls", key)? {
                    records.push(decode(key, &bytes)?);
                }
            }
            Ok(query.apply(records))
        });
        to_stream(records)
    }

    fn capabilities(&self) -> Capabilities {
        let mut caps = Capabilities::default();
        caps.persistent = true; // files outlive the process
        caps.shared = true; // atomic renames make concurrent processes safe
        // No claims: `claim`, `renew` and `release` keep their default
        // bodies, which answer `Unsupported`; the cache then relies on
        // single-flight within each process.
        caps
    }

    fn backend_name(&self) -> &'static str {
        BACKEND
    }
}

// ---------------------------------------------------------------------------
// The driver: `dir:///path` opens a DirStore
// ---------------------------------------------------------------------------

/// Opens `dir:///absolute/path`. Registered with
/// `fleche::register_driver(DirDriver)`, it lets `fleche::open` open the
/// store by URL, gives its caches a configuration, and lets a worker
/// process that registered it too reopen the store from that
/// configuration.
#[derive(Debug)]
pub struct DirDriver;

#[async_trait]
impl Driver for DirDriver {
    fn schemes(&self) -> &[&str] {
        &["dir"]
    }

    fn help(&self) -> &str {
        "dir:///absolute/path: a DirStore, a plain directory of files"
    }

    // No options of its own: the default `options()` lists none, so any
    // option but the cache's is refused before `open` is called.

    async fn open(&self, url: &StoreUrl) -> Result<Stores, OpenError> {
        // An absolute path, decoded; `dir://relative` and `dir:/x` are
        // refused with what to write instead.
        let root = url.local_path()?;
        Ok(Stores::both(Arc::new(DirStore::open(root)?)))
    }
}

// ---------------------------------------------------------------------------
// The demo
// ---------------------------------------------------------------------------

/// A slow function whose result (about 50 kB) is too big to live inside its call
/// record, so it lands in `values/` and the record in `calls/`.
#[fleche]
fn slow_table(n: u64) -> Vec<u64> {
    std::thread::sleep(Duration::from_millis(500));
    (0..n).map(|i| i * i).collect()
}

/// The environment variable that makes this program a worker: it holds
/// the scope configuration its parent sent.
const WORKER_ENV: &str = "DIR_STORE_WORKER_SCOPE";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Every process that opens `dir://` URLs registers the driver first,
    // workers included.
    fleche::register_driver(DirDriver);
    if let Ok(scope) = std::env::var(WORKER_ENV) {
        return worker(&scope);
    }

    let dir = tempfile::tempdir()?;
    let url = format!("dir://{}", dir.path().display());
    let cache = fleche::open(&url)?;
    println!("store: {url}");

    fleche::with_cache(cache.clone(), || {
        for call in ["first call: ", "second call:"] {
            let t = Instant::now();
            let table = slow_table(10_000);
            let took = t.elapsed();
            let how = if took < Duration::from_millis(500) {
                "a hit: read back from the directory"
            } else {
                "a miss: the body ran"
            };
            println!("{call} {} entries in {took:.2?} ({how})", table.len());
        }
    });

    // The record is a file; read it back without fleche's cache.
    let key = slow_table::digest(&10_000);
    let path = dir.path().join("calls").join(key.to_hex());
    let record = CallRecord::from_bytes(&fs::read(&path)?)?;
    println!("on disk: calls/{}", key.shrink([]));
    println!(
        "  function {}, created {}, result {}",
        record.function, record.created_at, record.result.digest
    );
    let value = record.result.digest;
    let size = fs::metadata(dir.path().join("values").join(value.to_hex()))?.len();
    println!("on disk: values/{} ({size} bytes)", value.shrink([]));

    // A worker process: this program again, given the scope's
    // configuration (the URL and the cache's options) as JSON.
    let scope = fleche::Scope::current().with_cache(cache);
    let config = serde_json::to_string(&scope.to_config()?)?;
    let status = std::process::Command::new(std::env::current_exe()?)
        .env(WORKER_ENV, config)
        .status()?;
    assert!(status.success(), "the worker failed");
    Ok(())
}

/// The worker's side: reopen the parent's store from its configuration
/// and call the same function, which is now a hit.
fn worker(config: &str) -> Result<(), Box<dyn std::error::Error>> {
    let scope = fleche::reopen(&serde_json::from_str(config)?)?;
    let t = Instant::now();
    let table = scope.run(|| slow_table(10_000));
    println!(
        "worker (pid {}): {} entries in {:.2?} (a hit: the parent's result)",
        std::process::id(),
        table.len(),
        t.elapsed()
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// The conformance suite
// ---------------------------------------------------------------------------

#[cfg(test)]
use fleche_conformance::{Factory, Location};

/// Makes a fresh directory per case; a location is the directory's path,
/// which is all a child process needs to open the same store.
#[cfg(test)]
struct DirFactory;

#[cfg(test)]
impl DirFactory {
    const fn new() -> Self {
        DirFactory
    }
}

#[cfg(test)]
#[async_trait]
impl Factory for DirFactory {
    async fn create(&self) -> Result<Location, StoreError> {
        let tmp = std::env::temp_dir();
        let dir = tempfile::Builder::new()
            .prefix("fleche-dir-store-")
            .tempdir_in(&tmp)
            .map_err(|e| io_error("create a directory in", None, &tmp, e))?;
        // `keep`: the suite says when it goes, by calling `destroy`.
        Ok(Location(dir.keep().to_string_lossy().into_owned()))
    }

    async fn open(&self, at: &Location) -> Result<Stores, StoreError> {
        Ok(Stores::both(Arc::new(DirStore::open(&at.0)?)))
    }

    async fn destroy(&self, at: &Location) -> Result<(), StoreError> {
        match fs::remove_dir_all(&at.0) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(io_error("remove", None, Path::new(&at.0), e))
            }
            _ => Ok(()),
        }
    }

    /// Overwrites the record's file, `calls/<hex>`, with bytes that are not
    /// a record, as another program or a bad disk could.
    async fn damage_record(&self, at: &Location, key: Digest) -> Result<bool, StoreError> {
        let path = Path::new(&at.0).join("calls").join(key.to_hex());
        if !path.exists() {
            return Err(io_error(
                "damage",
                Some(key),
                &path,
                io::ErrorKind::NotFound.into(),
            ));
        }
        fs::write(&path, b"\xffdamaged by the conformance suite\x00")
            .map_err(|e| io_error("damage", Some(key), &path, e))?;
        Ok(true)
    }
}

#[cfg(test)]
fleche_conformance::suite!(
    factory: DirFactory::new(),
    claims: false,    // claim/renew/release answer Unsupported: ignored cases
    persistent: true, // files survive reopening
    processes: true,  // several processes may share one directory
    damage: true,     // DirFactory::damage_record overwrites a record's file
);

/// Checks of our own, beside the suite's.
#[cfg(test)]
mod tests {
    use super::*;

    /// Runs of `counted`'s body in this process.
    static RUNS: AtomicU64 = AtomicU64::new(0);

    #[fleche]
    fn counted(x: u64) -> u64 {
        RUNS.fetch_add(1, Ordering::SeqCst);
        x + 1
    }

    /// A store of our own reaches a worker process: the parent opens it by
    /// URL and computes; a child process, given only the scope's
    /// configuration, reopens it through the driver and hits.
    #[test]
    fn a_worker_process_reopens_the_store_by_url_and_hits() {
        fleche::register_driver(DirDriver);
        let dir = tempfile::tempdir().unwrap();
        let url = format!("dir://{}?strict=true", dir.path().display());
        let cache = fleche::open(&url).unwrap();
        assert_eq!(fleche::with_cache(cache.clone(), || counted(41)), 42);
        assert_eq!(RUNS.load(Ordering::SeqCst), 1);

        let scope = fleche::tags([("job", "7")]).with_cache(cache);
        let config = scope.to_config().unwrap();
        assert_eq!(config.cache.url, url);
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "tests::worker", "--ignored", "--nocapture"])
            .env(WORKER_ENV, serde_json::to_string(&config).unwrap())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{text}");
        assert!(
            text.contains("worker: 42, body runs 0, job 7, strict"),
            "{text}"
        );
    }

    /// The child side of the test above.
    #[test]
    #[ignore = "helper: runs only as the child process of a_worker_process_reopens_the_store_by_url_and_hits"]
    fn worker() {
        let Ok(config) = std::env::var(WORKER_ENV) else {
            return;
        };
        fleche::register_driver(DirDriver);
        let scope = fleche::reopen(&serde_json::from_str(&config).unwrap()).unwrap();
        let value = scope.run(|| counted(41));
        let strict = scope.cache().unwrap().options().strict;
        println!(
            "worker: {value}, body runs {}, job {}, {}",
            RUNS.load(Ordering::SeqCst),
            scope.tags()["job"],
            if strict { "strict" } else { "not strict" }
        );
    }

    #[test]
    fn dir_urls_open_and_wrong_ones_say_why() {
        fleche::register_driver(DirDriver);
        let dir = tempfile::tempdir().unwrap();
        let cache = fleche::open(&format!("dir://{}", dir.path().display())).unwrap();
        assert!(cache.config().is_some());
        assert!(dir.path().join("calls").is_dir());
        let err = |url: &str| fleche::ErrorChain(&fleche::open(url).unwrap_err()).to_string();
        let e = err("dir://relative/x");
        assert!(e.contains("names a host `relative`"), "{e}");
        let e = err(&format!("dir://{}?colour=blue", dir.path().display()));
        assert!(e.contains("unknown option `colour`"), "{e}");
        assert!(fleche::schemes().contains(&"dir".to_owned()));
    }

    #[test]
    fn a_damaged_record_file_is_corrupt_and_names_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::open(dir.path()).unwrap();
        let key = Digest::of(b"some call");
        fs::write(dir.path().join("calls").join(key.to_hex()), b"not cbor").unwrap();
        let err = futures::executor::block_on(CallStore::get(&store, key)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Corrupt);
        assert_eq!(err.key(), Some(key));
        assert_eq!(err.backend(), "dir-store");
    }

    #[test]
    fn temp_files_are_not_listed() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::open(dir.path()).unwrap();
        fs::write(dir.path().join("values").join(".tmp-1-0"), b"half").unwrap();
        let listed: Vec<_> = futures::executor::block_on(store.list("").collect::<Vec<_>>());
        assert!(listed.is_empty(), "{listed:?}");
    }
}
