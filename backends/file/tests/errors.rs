//! Clear errors, nothing lost: what the file store says when its directory
//! is wrong, unwritable, full, locked or damaged, and that no failure
//! destroys what was already stored.
//!
//! The permission and full-disk tests need root (to switch to `nobody` and
//! to mount a tmpfs); the project's machines run as root, so these tests
//! fail loudly rather than skip when they are not.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use fleche_core::{
    Bytes, Cache, CallRecord, CallStore, Claim, Digest, ErrorKind, FnSpec, Owner, Query,
    StoreError, ValueRef, ValueStore, arg_digest,
};
use fleche_file::{FileOptions, FileStore, MARKER};
use futures::StreamExt;

// ---------------------------------------------------------------------------
// Helpers

fn hex(key: Digest) -> String {
    key.to_hex()
}

fn sharded(root: &Path, dir: &str, key: Digest) -> PathBuf {
    let h = hex(key);
    root.join(dir).join(&h[..2]).join(&h)
}

fn value_file(root: &Path, key: Digest) -> PathBuf {
    sharded(root, "values", key)
}

fn call_file(root: &Path, key: Digest) -> PathBuf {
    sharded(root, "calls", key)
}

fn lock_file(root: &Path, key: Digest) -> PathBuf {
    let h = hex(key);
    root.join("locks").join(&h[..2])
}

/// Deterministic, distinct bytes.
fn bytes_of(seed: u64, len: usize) -> Bytes {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect::<Vec<u8>>()
        .into()
}

fn record(key: Digest, function: &str, value: &Bytes) -> CallRecord {
    CallRecord::new(
        key,
        function,
        ValueRef {
            digest: Digest::of(value),
            inline: Some(value.clone()),
        },
    )
}

fn open_err(root: &Path) -> StoreError {
    match FileStore::open(root) {
        Ok(_) => panic!("opening {} should fail", root.display()),
        Err(e) => e,
    }
}

/// Every file under `dir` whose name starts with `.tmp-`.
fn temp_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return out;
    };
    for entry in entries {
        let entry = entry.unwrap();
        let path = entry.path();
        if entry.file_type().unwrap().is_dir() {
            out.extend(temp_files(&path));
        } else if entry.file_name().to_string_lossy().starts_with(".tmp-") {
            out.push(path);
        }
    }
    out
}

/// Panics unless this process runs as root: the test needs it, and the
/// project's machines always run as root, so skipping would hide a gap.
fn require_root(test: &str) {
    let out = Command::new("id").arg("-u").output().expect("run `id -u`");
    let uid = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert_eq!(
        uid, "0",
        "{test} needs root (uid 0) and runs as uid {uid:?}: it switches to `nobody` or mounts a \
         tmpfs; the project's machines run as root, so this is a failure, not a skip"
    );
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {mode:o} {}: {e}", path.display()));
}

/// Directories 0755 and files 0644 under `dir`, so any user may read.
fn make_readable(dir: &Path) {
    chmod(dir, 0o755);
    for entry in fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            make_readable(&entry.path());
        } else {
            chmod(&entry.path(), 0o644);
        }
    }
}

// ---------------------------------------------------------------------------
// The root directory

#[test]
fn root_that_is_a_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not a dir");
    fs::write(&file, b"hello").unwrap();
    let err = open_err(&file);
    assert_eq!(err.kind(), ErrorKind::Backend, "{err}");
    assert_eq!(err.backend(), "file");
    let msg = err.to_string();
    assert!(
        msg.contains("is a file, not a directory"),
        "the message should say the root is a file: {msg}"
    );
    assert!(msg.contains(&file.display().to_string()), "{msg}");
    // Nothing was touched.
    assert_eq!(fs::read(&file).unwrap(), b"hello");
}

#[test]
fn a_path_component_that_is_a_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain");
    fs::write(&file, b"x").unwrap();
    let err = open_err(&file.join("store"));
    assert_eq!(err.kind(), ErrorKind::Backend, "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("not a directory") || msg.contains("Not a directory"),
        "{msg}"
    );
}

#[test]
fn foreign_directory_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("thesis.tex"), b"precious").unwrap();
    fs::create_dir(dir.path().join("photos")).unwrap();
    let err = open_err(dir.path());
    assert_eq!(err.kind(), ErrorKind::Backend, "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(MARKER),
        "the message should name the marker: {msg}"
    );
    assert!(msg.contains("not a fleche store"), "{msg}");
    assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
    // Nothing was written there.
    let mut names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["photos", "thesis.tex"]);
}

#[test]
fn hidden_foreign_file_is_refused_too() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(".bashrc"), b"x").unwrap();
    let err = open_err(dir.path());
    assert!(err.to_string().contains("not a fleche store"), "{err}");
}

#[tokio::test]
async fn empty_existing_directory_is_accepted_and_marked() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    let marker = fs::read_to_string(dir.path().join(MARKER)).unwrap();
    assert_eq!(
        marker.trim(),
        format!("fleche-file {}", fleche_file::FORMAT)
    );
    let v = Bytes::from_static(b"v");
    ValueStore::put(&store, Digest::of(&v), v.clone())
        .await
        .unwrap();
    // Reopening the (now non-empty) store works: the marker says what it is.
    let again = FileStore::open(dir.path()).unwrap();
    assert_eq!(
        ValueStore::get(&again, Digest::of(&v)).await.unwrap(),
        Some(v)
    );
}

#[test]
fn missing_directories_are_created() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("a").join("b").join("c");
    FileStore::open(&root).unwrap();
    assert!(root.join(MARKER).is_file());
    for sub in ["values", "calls", "locks", "claims"] {
        assert!(root.join(sub).is_dir(), "{sub}");
    }
}

#[test]
fn newer_format_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(MARKER), "fleche-file 999\n").unwrap();
    let err = open_err(dir.path());
    assert_eq!(err.kind(), ErrorKind::Backend, "{err}");
    let msg = err.to_string();
    assert!(msg.contains("newer"), "{msg}");
    assert!(msg.contains("999"), "{msg}");
    assert!(msg.contains("upgrade"), "{msg}");
    // The marker is not rewritten.
    assert_eq!(
        fs::read_to_string(dir.path().join(MARKER)).unwrap(),
        "fleche-file 999\n"
    );
}

#[test]
fn garbage_marker_is_refused_clearly() {
    for garbage in [
        "hello world",
        "fleche-file",
        "fleche-file one",
        "",
        "\u{0}\u{1}",
    ] {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(MARKER), garbage).unwrap();
        let err = open_err(dir.path());
        assert_eq!(err.kind(), ErrorKind::Backend, "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains(MARKER) && msg.contains("does not hold a fleche-file format"),
            "marker {garbage:?}: {msg}"
        );
    }
    // A marker that is not UTF-8 is an error too, not a panic.
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(MARKER), [0xff, 0xfe, 0x00]).unwrap();
    let err = open_err(dir.path());
    assert_eq!(err.kind(), ErrorKind::Backend, "{err}");
    assert!(err.to_string().contains(MARKER), "{err}");
}

#[test]
fn marker_that_is_a_directory_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join(MARKER)).unwrap();
    let err = open_err(dir.path());
    assert_eq!(err.kind(), ErrorKind::Backend, "{err}");
    assert!(err.to_string().contains(MARKER), "{err}");
}

#[test]
fn older_or_equal_format_is_accepted() {
    for text in ["fleche-file 1\n", "fleche-file 0", "  fleche-file 1  \n"] {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(MARKER), text).unwrap();
        FileStore::open(dir.path()).unwrap_or_else(|e| panic!("marker {text:?}: {e}"));
    }
}

// ---------------------------------------------------------------------------
// Unusual paths

#[tokio::test]
async fn path_with_spaces_and_non_ascii_works_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("a dir").join("ünï cødé 計算");
    let store = FileStore::open(&root).unwrap();
    assert_eq!(store.root(), root);

    let mut keys = Vec::new();
    for (i, len) in [0usize, 1, 1000, 70_000].into_iter().enumerate() {
        let v = bytes_of(i as u64 + 1, len);
        let k = Digest::of(&v);
        ValueStore::put(&store, k, v.clone()).await.unwrap();
        assert_eq!(ValueStore::get(&store, k).await.unwrap(), Some(v));
        keys.push(k);
    }
    let mut listed: Vec<Digest> = store.list("").map(|k| k.unwrap()).collect::<Vec<_>>().await;
    listed.sort();
    keys.sort();
    assert_eq!(listed, keys);
    let prefix = &hex(keys[0])[..3];
    let by_prefix: Vec<Digest> = store
        .list(prefix)
        .map(|k| k.unwrap())
        .collect::<Vec<_>>()
        .await;
    assert!(by_prefix.contains(&keys[0]));
    assert!(by_prefix.iter().all(|k| k.has_prefix(prefix)));

    let v = Bytes::from("ünï cødé 計算".as_bytes());
    for i in 0..3u8 {
        let k = Digest::of(&[i]);
        let r = record(k, &format!("paths::f{i}"), &v);
        CallStore::put(&store, r.clone()).await.unwrap();
        assert_eq!(CallStore::get(&store, k).await.unwrap(), Some(r.clone()));
        assert_eq!(store.get_result(k).await.unwrap(), Some(r.result));
    }
    let all: Vec<CallRecord> = store
        .query(&Query::new())
        .map(|r| r.unwrap())
        .collect::<Vec<_>>()
        .await;
    assert_eq!(all.len(), 3);
    let one: Vec<CallRecord> = store
        .query(&Query::new().function("paths::f1"))
        .map(|r| r.unwrap())
        .collect::<Vec<_>>()
        .await;
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].key, Digest::of(&[1]));

    let owner = Owner::new();
    let ck = Digest::of(b"claim");
    assert!(
        store
            .claim(ck, &owner, Duration::from_secs(10))
            .await
            .unwrap()
            .is_acquired()
    );
    assert!(store.release(ck, &owner).await.unwrap());

    // Another handle on the same path sees everything.
    let again = FileStore::open(&root).unwrap();
    assert_eq!(again.list("").collect::<Vec<_>>().await.len(), keys.len());
    assert!(CallStore::delete(&again, Digest::of(&[0])).await.unwrap());
    assert!(ValueStore::delete(&again, keys[0]).await.unwrap());
}

// ---------------------------------------------------------------------------
// No permission

const NOPERM_ENV: &str = "FLECHE_FILE_TEST_NOPERM_STORE";
const NOPERM_OK: &str = "FLECHE-NOPERM-CHILD-OK";

/// The value the parent stores for the child to read back.
fn noperm_readable() -> Bytes {
    Bytes::from_static(b"readable by anyone")
}

/// A value whose shard directory the parent creates (root-owned), so the
/// child's write fails at the temp file rather than at the directory.
fn noperm_existing_shard() -> Bytes {
    Bytes::from_static(b"shard exists")
}

#[test]
fn no_permission_is_a_clear_error() {
    require_root("no_permission_is_a_clear_error");
    let base = tempfile::tempdir().unwrap();
    chmod(base.path(), 0o755);
    let root = base.path().join("store");
    let store = FileStore::open(&root).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let v = noperm_readable();
        ValueStore::put(&store, Digest::of(&v), v.clone())
            .await
            .unwrap();
        let k = Digest::of(b"readable record");
        CallStore::put(&store, record(k, "noperm::f", &v))
            .await
            .unwrap();
    });
    let shard = value_file(&root, Digest::of(&noperm_existing_shard()));
    fs::create_dir_all(shard.parent().unwrap()).unwrap();
    make_readable(&root);

    // The test binary usually lives where `nobody` cannot read it: run a
    // copy from a directory anyone may read.
    let exe_dir = tempfile::tempdir().unwrap();
    chmod(exe_dir.path(), 0o755);
    let exe = exe_dir.path().join("errors-test-child");
    fs::copy(std::env::current_exe().unwrap(), &exe).unwrap();
    chmod(&exe, 0o755);

    let out = Command::new("/usr/bin/setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&exe)
        .args([
            "--exact",
            "no_permission_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(NOPERM_ENV, &root)
        .current_dir(exe_dir.path())
        .output()
        .expect("run the child test as nobody with setpriv");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("--- child as nobody:\n{stdout}");
    assert!(
        out.status.success() && stdout.contains(NOPERM_OK),
        "the child (as nobody) failed: {}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    // Nothing the child tried left anything behind.
    assert!(temp_files(&root).is_empty());
    assert!(!value_file(&root, Digest::of(&noperm_existing_shard())).exists());
}

fn assert_permission_denied(err: &StoreError, key: Option<Digest>, what: &str) {
    let msg = err.to_string();
    println!("{what}: {msg}");
    assert_eq!(err.kind(), ErrorKind::Backend, "{what}: {msg}");
    assert!(
        msg.contains("permission denied"),
        "{what}: the message should say permission denied: {msg}"
    );
    assert_eq!(err.key(), key, "{what}: {msg}");
    if let Some(k) = key {
        assert!(
            msg.contains(&hex(k)),
            "{what}: the message names the key: {msg}"
        );
    }
}

/// Runs as `nobody` in a store owned by root; does nothing unless started
/// by [`no_permission_is_a_clear_error`].
#[test]
#[ignore = "child process of no_permission_is_a_clear_error"]
fn no_permission_child() {
    let Some(root) = std::env::var_os(NOPERM_ENV).map(PathBuf::from) else {
        return;
    };
    let uid = Command::new("id").arg("-u").output().unwrap();
    assert_eq!(String::from_utf8_lossy(&uid.stdout).trim(), "65534");
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        // Opening a store one may only read works, and reads work.
        let store = FileStore::open(&root).expect("open a readable store");
        let readable = noperm_readable();
        assert_eq!(
            ValueStore::get(&store, Digest::of(&readable))
                .await
                .unwrap(),
            Some(readable.clone())
        );
        let rk = Digest::of(b"readable record");
        assert!(CallStore::get(&store, rk).await.unwrap().is_some());

        // A value in a new shard: the shard directory cannot be made.
        let v = Bytes::from_static(b"new value");
        let err = ValueStore::put(&store, Digest::of(&v), v)
            .await
            .unwrap_err();
        assert_permission_denied(&err, Some(Digest::of(b"new value")), "value, new shard");

        // A value in an existing shard: the temp file cannot be made.
        let v = noperm_existing_shard();
        let k = Digest::of(&v);
        let err = ValueStore::put(&store, k, v).await.unwrap_err();
        assert_permission_denied(&err, Some(k), "value, existing shard");

        // A record: its lock file cannot be made.
        let k = Digest::of(b"record key");
        let err = CallStore::put(&store, record(k, "noperm::g", &readable))
            .await
            .unwrap_err();
        assert_permission_denied(&err, Some(k), "record");

        // Overwriting an existing record fails the same way, and the old
        // record is still there, whole.
        let err = CallStore::put(&store, record(rk, "noperm::h", &readable))
            .await
            .unwrap_err();
        assert_permission_denied(&err, Some(rk), "record overwrite");
        assert_eq!(
            CallStore::get(&store, rk).await.unwrap().unwrap().function,
            "noperm::f"
        );

        // A claim, and deleting a value.
        let err = store
            .claim(k, &Owner::new(), Duration::from_secs(5))
            .await
            .unwrap_err();
        assert_permission_denied(&err, Some(k), "claim");
        let err = ValueStore::delete(&store, Digest::of(&readable))
            .await
            .unwrap_err();
        assert_permission_denied(&err, Some(Digest::of(&readable)), "delete");

        // A new store where nobody may create it.
        let err = FileStore::open(root.join("sub")).unwrap_err();
        assert_permission_denied(&err, None, "open in an unwritable directory");
    });
    println!("{NOPERM_OK}");
}

// ---------------------------------------------------------------------------
// Disk full

/// A tmpfs mounted for the test, unmounted when dropped (also on panic).
struct TmpfsMount(PathBuf);

impl TmpfsMount {
    fn new(dir: &Path, size: &str) -> Self {
        fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "mount -t tmpfs on {} failed: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Self(dir.to_owned())
    }
}

impl Drop for TmpfsMount {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
}

fn assert_disk_full(err: &StoreError, key: Digest, what: &str) {
    let msg = err.to_string();
    println!("{what}: {msg}");
    assert_eq!(err.kind(), ErrorKind::Backend, "{what}: {msg}");
    assert!(
        msg.contains("disk is full") || msg.contains("No space"),
        "{what}: the message should say the disk is full: {msg}"
    );
    assert_eq!(err.key(), Some(key), "{what}: {msg}");
}

#[tokio::test]
async fn disk_full_is_clear_and_loses_nothing() {
    require_root("disk_full_is_clear_and_loses_nothing");
    let base = tempfile::tempdir().unwrap();
    let mnt = base.path().join("tiny disk");
    let _mount = TmpfsMount::new(&mnt, "256k");
    let root = mnt.join("store");
    let store = FileStore::open(&root).unwrap();

    // A record stored while there is room.
    let rkey = Digest::of(b"record before the disk filled");
    let first = record(rkey, "full::before", &Bytes::from_static(b"old"));
    CallStore::put(&store, first.clone()).await.unwrap();

    // Big values until one does not fit, then small ones until the disk is
    // full to the last page.
    let mut stored: Vec<(Digest, Bytes)> = Vec::new();
    let mut seed = 0;
    for (len, what) in [(24 * 1024, "big value"), (4096, "small value")] {
        let mut failed = false;
        for _ in 0..200 {
            seed += 1;
            let v = bytes_of(seed, len);
            let k = Digest::of(&v);
            match ValueStore::put(&store, k, v.clone()).await {
                Ok(()) => stored.push((k, v)),
                Err(err) => {
                    assert_disk_full(&err, k, what);
                    // Nothing half-written under the key's name.
                    assert_eq!(ValueStore::get(&store, k).await.unwrap(), None);
                    assert!(!store.contains(k).await.unwrap());
                    failed = true;
                    break;
                }
            }
        }
        assert!(failed, "a 256 KiB disk took 200 more {what}s");
    }
    assert!(stored.len() > 3, "only {} values fit", stored.len());

    // Overwriting the record fails, and the old record is still whole.
    let second = record(rkey, "full::after", &bytes_of(999, 3000));
    let err = CallStore::put(&store, second.clone()).await.unwrap_err();
    assert_disk_full(&err, rkey, "record");
    assert_eq!(CallStore::get(&store, rkey).await.unwrap(), Some(first));

    // Everything stored before reads back whole and verified.
    for (k, v) in &stored {
        assert_eq!(ValueStore::get(&store, *k).await.unwrap().as_ref(), Some(v));
    }
    let listed = store.list("").collect::<Vec<_>>().await;
    assert_eq!(listed.len(), stored.len());
    // No temp file left behind.
    let temps = temp_files(&root.join("values"));
    assert!(temps.is_empty(), "temp files left: {temps:?}");
    let temps = temp_files(&root.join("calls"));
    assert!(temps.is_empty(), "temp files left: {temps:?}");

    // Free some room: writes work again.
    let (gone, _) = stored.remove(0);
    assert!(ValueStore::delete(&store, gone).await.unwrap());
    let v = bytes_of(12345, 8 * 1024);
    ValueStore::put(&store, Digest::of(&v), v.clone())
        .await
        .unwrap();
    assert_eq!(
        ValueStore::get(&store, Digest::of(&v)).await.unwrap(),
        Some(v)
    );
    CallStore::put(&store, second.clone()).await.unwrap();
    assert_eq!(CallStore::get(&store, rkey).await.unwrap(), Some(second));
    drop(store);
}

// ---------------------------------------------------------------------------
// Lock timeout

#[tokio::test(flavor = "multi_thread")]
async fn lock_timeout_is_a_conflict_naming_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let timeout = Duration::from_millis(200);
    let store =
        FileStore::open_with(dir.path(), FileOptions::default().lock_timeout(timeout)).unwrap();
    let key = Digest::of(b"a key whose shard is locked");
    let lock = lock_file(dir.path(), key);
    fs::create_dir_all(lock.parent().unwrap()).unwrap();

    // Another thread holds the shard lock, as another process would.
    let (held_tx, held_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let holder = {
        let lock = lock.clone();
        std::thread::spawn(move || {
            let f = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&lock)
                .unwrap();
            f.lock().unwrap();
            held_tx.send(()).unwrap();
            let _ = release_rx.recv();
            drop(f);
        })
    };
    held_rx.recv().unwrap();

    let v = Bytes::from_static(b"result");
    let r = record(key, "locked::f", &v);
    let start = Instant::now();
    let err = CallStore::put(&store, r.clone()).await.unwrap_err();
    let waited = start.elapsed();
    let msg = err.to_string();
    println!("lock timeout after {waited:?}: {msg}");
    assert_eq!(err.kind(), ErrorKind::Conflict, "{msg}");
    assert_eq!(err.key(), Some(key), "{msg}");
    assert!(
        msg.contains(&lock.display().to_string()),
        "the message should name the lock file {}: {msg}",
        lock.display()
    );
    assert!(
        waited >= timeout,
        "gave up after {waited:?}, before the {timeout:?} timeout"
    );
    assert!(
        waited < timeout * 10,
        "waited {waited:?} for a {timeout:?} timeout"
    );
    assert_eq!(CallStore::get(&store, key).await.unwrap(), None);

    // The other operations under the lock time out the same way.
    let err = CallStore::delete(&store, key).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    let err = store
        .claim(key, &Owner::new(), Duration::from_secs(5))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");

    // Values need no lock; other shards are free.
    ValueStore::put(&store, Digest::of(&v), v.clone())
        .await
        .unwrap();
    let other = (0u32..)
        .map(|i| Digest::of(&i.to_le_bytes()))
        .find(|k| lock_file(dir.path(), *k) != lock)
        .unwrap();
    let start = Instant::now();
    CallStore::put(&store, record(other, "locked::other", &v))
        .await
        .unwrap();
    assert!(start.elapsed() < timeout);

    // Once the holder lets go, the write goes through.
    release_tx.send(()).unwrap();
    holder.join().unwrap();
    CallStore::put(&store, r.clone()).await.unwrap();
    assert_eq!(CallStore::get(&store, key).await.unwrap(), Some(r));
}

// ---------------------------------------------------------------------------
// Damaged files

fn assert_corrupt(err: &StoreError, key: Digest, path: &Path, what: &str) {
    let msg = err.to_string();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{what}: {msg}");
    assert_eq!(err.key(), Some(key), "{what}: {msg}");
    assert!(msg.contains(&hex(key)), "{what}: names the key: {msg}");
    assert!(
        msg.contains(&path.display().to_string()),
        "{what}: names the file: {msg}"
    );
}

#[tokio::test]
async fn damaged_value_file_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    type Damage = fn(&Path);
    let cases: [(&str, Damage); 4] = [
        ("truncated", |p| {
            let f = OpenOptions::new().write(true).open(p).unwrap();
            let len = f.metadata().unwrap().len();
            f.set_len(len / 2).unwrap();
        }),
        ("emptied", |p| fs::write(p, b"").unwrap()),
        ("one byte flipped", |p| {
            let mut b = fs::read(p).unwrap();
            b[7] ^= 0x01;
            fs::write(p, b).unwrap();
        }),
        ("extended", |p| {
            let mut f = OpenOptions::new().append(true).open(p).unwrap();
            f.write_all(b"!").unwrap();
        }),
    ];
    for (i, (what, damage)) in cases.into_iter().enumerate() {
        let v = bytes_of(100 + i as u64, 10_000);
        let k = Digest::of(&v);
        ValueStore::put(&store, k, v.clone()).await.unwrap();
        let path = value_file(dir.path(), k);
        damage(&path);
        let err = ValueStore::get(&store, k).await.unwrap_err();
        assert_corrupt(&err, k, &path, what);
        // get_many reports it too.
        let err = store.get_many(&[k]).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Corrupt, "{what}: {err}");
        // Putting the value again repairs it.
        ValueStore::put(&store, k, v.clone()).await.unwrap();
        assert_eq!(ValueStore::get(&store, k).await.unwrap(), Some(v));
    }
}

#[tokio::test]
async fn damaged_record_file_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    let v = Bytes::from_static(b"the result");
    let good = Digest::of(b"good");
    CallStore::put(&store, record(good, "damage::good", &v))
        .await
        .unwrap();

    let garbage = Digest::of(b"garbage");
    let truncated = Digest::of(b"truncated");
    let elsewhere = Digest::of(b"elsewhere");
    let empty = Digest::of(b"empty");
    for k in [garbage, truncated, elsewhere, empty] {
        CallStore::put(&store, record(k, "damage::bad", &v))
            .await
            .unwrap();
    }
    fs::write(call_file(dir.path(), garbage), b"\xffnot cbor at all\x00").unwrap();
    let full = fs::read(call_file(dir.path(), truncated)).unwrap();
    fs::write(call_file(dir.path(), truncated), &full[..full.len() / 2]).unwrap();
    // A whole record, of another key.
    fs::copy(
        call_file(dir.path(), good),
        call_file(dir.path(), elsewhere),
    )
    .unwrap();
    fs::write(call_file(dir.path(), empty), b"").unwrap();

    for (k, what) in [
        (garbage, "garbage"),
        (truncated, "truncated"),
        (elsewhere, "another key's record"),
        (empty, "empty"),
    ] {
        let path = call_file(dir.path(), k);
        let err = CallStore::get(&store, k).await.unwrap_err();
        assert_corrupt(&err, k, &path, what);
        let err = store.get_result(k).await.unwrap_err();
        assert_corrupt(&err, k, &path, what);
    }
    let err = CallStore::get(&store, elsewhere).await.unwrap_err();
    assert!(err.to_string().contains("another key"), "{err}");

    // A query reports each damaged record and still returns the good one.
    let items = store.query(&Query::new()).collect::<Vec<_>>().await;
    let damaged = items.iter().filter(|r| r.is_err()).count();
    let found: Vec<Digest> = items
        .iter()
        .filter_map(|r| r.as_ref().ok().map(|r| r.key))
        .collect();
    assert_eq!(damaged, 4, "{items:?}");
    assert_eq!(found, [good]);
    for item in &items {
        if let Err(e) = item {
            assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
        }
    }

    // A damaged record can be deleted or overwritten.
    assert!(CallStore::delete(&store, garbage).await.unwrap());
    let fixed = record(truncated, "damage::fixed", &v);
    CallStore::put(&store, fixed.clone()).await.unwrap();
    assert_eq!(
        CallStore::get(&store, truncated).await.unwrap(),
        Some(fixed)
    );
}

static BIG: FnSpec = FnSpec::new("fleche_file::tests::errors::big");
static SMALL: FnSpec = FnSpec::new("fleche_file::tests::errors::small");

#[tokio::test(flavor = "multi_thread")]
async fn cache_treats_damage_as_a_miss_and_repairs_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    let cache = Cache::new(Arc::new(store.clone()), Arc::new(store.clone()));
    let runs = AtomicUsize::new(0);
    let args = [("n", arg_digest(&7u32).unwrap())];
    let key = BIG.key(&args);
    let expected: String = (0..5000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let compute = || async {
        runs.fetch_add(1, Ordering::SeqCst);
        expected.clone()
    };
    let get = || async { cache.get_or_compute(&BIG, &args, compute()).await.unwrap() };

    assert_eq!(get().await, expected);
    assert_eq!(get().await, expected);
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the second call is a hit");
    let rec = CallStore::get(&store, key).await.unwrap().unwrap();
    assert!(
        rec.result.inline.is_none(),
        "a 5000-byte result lives in the value store"
    );
    let vkey = rec.result.digest;
    let vpath = value_file(dir.path(), vkey);
    let whole = fs::read(&vpath).unwrap();

    // A truncated value file: a miss; the recomputation rewrites it.
    fs::write(&vpath, &whole[..whole.len() - 100]).unwrap();
    assert_eq!(
        ValueStore::get(&store, vkey).await.unwrap_err().kind(),
        ErrorKind::Corrupt
    );
    assert_eq!(get().await, expected);
    assert_eq!(runs.load(Ordering::SeqCst), 2, "damage is a miss");
    assert_eq!(
        fs::read(&vpath).unwrap(),
        whole,
        "the value file is rewritten"
    );
    assert!(ValueStore::get(&store, vkey).await.unwrap().is_some());
    assert_eq!(get().await, expected);
    assert_eq!(runs.load(Ordering::SeqCst), 2, "repaired: a hit again");

    // A garbage record: a miss; the recomputation rewrites it.
    let cpath = call_file(dir.path(), key);
    fs::write(&cpath, b"garbage").unwrap();
    assert_eq!(
        CallStore::get(&store, key).await.unwrap_err().kind(),
        ErrorKind::Corrupt
    );
    assert_eq!(get().await, expected);
    assert_eq!(runs.load(Ordering::SeqCst), 3, "damage is a miss");
    let rec = CallStore::get(&store, key).await.unwrap().unwrap();
    assert_eq!(rec.key, key);
    assert_eq!(rec.result.digest, vkey);
    assert_eq!(get().await, expected);
    assert_eq!(runs.load(Ordering::SeqCst), 3, "repaired: a hit again");

    // The same for a small result inside its record.
    let small_runs = AtomicUsize::new(0);
    let small = || async {
        cache
            .get_or_compute(&SMALL, &args, async {
                small_runs.fetch_add(1, Ordering::SeqCst);
                42u64
            })
            .await
            .unwrap()
    };
    assert_eq!(small().await, 42);
    let skey = SMALL.key(&args);
    let spath = call_file(dir.path(), skey);
    let bytes = fs::read(&spath).unwrap();
    fs::write(&spath, &bytes[..bytes.len() / 3]).unwrap();
    assert_eq!(
        store.get_result(skey).await.unwrap_err().kind(),
        ErrorKind::Corrupt
    );
    assert_eq!(small().await, 42);
    assert_eq!(small_runs.load(Ordering::SeqCst), 2, "damage is a miss");
    let rec = CallStore::get(&store, skey).await.unwrap().unwrap();
    assert!(rec.result.inline.is_some());
    assert_eq!(small().await, 42);
    assert_eq!(
        small_runs.load(Ordering::SeqCst),
        2,
        "repaired: a hit again"
    );
}

// ---------------------------------------------------------------------------
// Claims left by a dead process

#[tokio::test]
async fn a_torn_claim_table_reads_as_empty() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    let key = Digest::of(b"claimed");
    // The claim table of the key's shard, torn mid-rewrite by a crash.
    let path = dir.path().join("claims").join(&hex(key)[..2]);
    File::create(&path)
        .unwrap()
        .write_all(b"{\"00ab\":{\"owner\":\"x")
        .unwrap();
    let owner = Owner::new();
    match store
        .claim(key, &owner, Duration::from_secs(5))
        .await
        .unwrap()
    {
        Claim::Acquired { .. } => {}
        held => panic!("a torn claim table blocked the claim: {held:?}"),
    }
    assert!(store.release(key, &owner).await.unwrap());
}

/// A claim whose holder's process lock file is not locked (the process is
/// gone) is dead at once, long before its lease ends.
#[tokio::test]
async fn a_claim_of_a_dead_process_on_this_host_is_taken_over_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    let key = Digest::of(b"claimed by the dead");
    let host = fleche_core::metadata::host_name();
    let procs = dir.path().join("locks").join("procs");
    fs::create_dir_all(&procs).unwrap();
    fs::write(procs.join("dead-process"), b"").unwrap(); // exists, nobody locks it
    let table = format!(
        "{{\"{}\":{{\"owner\":\"ghost\",\"host\":\"{host}\",\"pid\":1,\"process\":\"dead-process\",\"expires_ms\":99999999999999}}}}",
        hex(key)
    );
    fs::write(dir.path().join("claims").join(&hex(key)[..2]), table).unwrap();
    let owner = Owner::new();
    assert_eq!(
        store
            .claim(key, &owner, Duration::from_secs(5))
            .await
            .unwrap(),
        Claim::Acquired { took_over: true }
    );
    // The same entry on another host is trusted until its lease ends.
    let other = Digest::of(b"claimed elsewhere");
    let table = format!(
        "{{\"{}\":{{\"owner\":\"far\",\"host\":\"another-host\",\"pid\":1,\"process\":\"dead-process\",\"expires_ms\":99999999999999}}}}",
        hex(other)
    );
    fs::write(dir.path().join("claims").join(&hex(other)[..2]), table).unwrap();
    assert!(matches!(
        store
            .claim(other, &owner, Duration::from_secs(5))
            .await
            .unwrap(),
        Claim::Held { .. }
    ));
    assert_eq!(
        fleche_file::prune_process_files(dir.path()).unwrap(),
        1,
        "the dead process's lock file is pruned"
    );
}

/// A record written by a newer fleche is refused on the hit path too, not
/// only by `get`: its result could mean something else there.
#[tokio::test]
async fn a_record_of_a_newer_format_is_corrupt_on_the_hit_path() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    let key = Digest::of(b"from the future");
    let mut newer = record(key, "f", &Bytes::from_static(b"42"));
    newer.format = fleche_core::RECORD_FORMAT + 1;
    // Written as a newer fleche would, past the store's own encoder.
    let path = call_file(store.root(), key);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, newer.to_bytes().unwrap()).unwrap();
    for err in [
        CallStore::get_result(&store, key).await.unwrap_err(),
        CallStore::get(&store, key).await.unwrap_err(),
    ] {
        assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
        assert_eq!(err.key(), Some(key));
        assert!(err.to_string().contains("newer"), "{err}");
    }
}
