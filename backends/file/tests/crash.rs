//! Crash test: writer processes killed with SIGKILL at random moments leave
//! a store in which every value reads whole and verified, every record
//! decodes, stray temp files stay invisible, and everything keeps working.
//!
//! The parent re-runs this test binary as children (`crash_child`, ignored
//! unless started by the parent) that write values of many sizes (some over
//! 1 MiB) and call records (some overwriting a few shared keys) in a loop,
//! with fsync off and on alternately, and take and release claims. The
//! parent kills them mid-work, round after round, then checks every file.
//!
//! `FLECHE_CRASH_SEED` replays a run (the seed is printed);
//! `FLECHE_CRASH_ROUNDS` changes the number of rounds.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fleche_core::{
    Bytes, CallRecord, CallStore, Claim, Digest, Owner, Query, ValueRef, ValueStore,
};
use fleche_file::{FileOptions, FileStore};
use futures::StreamExt;

const DIR_ENV: &str = "FLECHE_CRASH_DIR";
const WORKER_ENV: &str = "FLECHE_CRASH_WORKER";
const READY: &str = "FLECHE-CRASH-CHILD-READY";

const CHILDREN: u64 = 3;
const DEFAULT_ROUNDS: u64 = 30;
/// Keys every child overwrites.
const SHARED_RECORDS: u64 = 4;
/// Keys every child claims.
const SHARED_CLAIMS: u64 = 3;
/// Results up to this size live inside their record, as in the cache.
const INLINE_LIMIT: usize = 4096;

/// xorshift64: small, seedable, good enough to pick sizes and delays.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The bytes of one value, regenerable from what its record says.
fn value_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        out.extend_from_slice(&rng.next().to_le_bytes());
    }
    out.truncate(len);
    out
}

fn shared_record_key(i: u64) -> Digest {
    Digest::of(format!("crash shared record {i}").as_bytes())
}

fn shared_claim_key(i: u64) -> Digest {
    Digest::of(format!("crash shared claim {i}").as_bytes())
}

/// A value size: mostly small, some over 1 MiB.
fn pick_len(rng: &mut Rng) -> usize {
    match rng.below(32) {
        0 => 3 << 20,
        1 | 2 => (1 << 20) + 12_345,
        3..=6 => 64 << 10,
        7..=10 => 4097 + rng.below(8000) as usize,
        11 => 0,
        12 => INLINE_LIMIT,
        _ => 1 + rng.below(INLINE_LIMIT as u64 - 1) as usize,
    }
}

// ---------------------------------------------------------------------------
// The child

/// A writer; does nothing unless started by [`killed_writers_leave_a_sound_store`].
#[test]
#[ignore = "child process of killed_writers_leave_a_sound_store"]
fn crash_child() {
    let Some(dir) = std::env::var_os(DIR_ENV) else {
        return;
    };
    let spec = std::env::var(WORKER_ENV).expect("the worker's id and seed");
    let mut parts = spec.split(':').map(|p| p.parse::<u64>().unwrap());
    let (round, worker, seed) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    let fsync = (round + worker) % 2 == 0;
    let store = FileStore::open_with(&dir, FileOptions::default().fsync(fsync))
        .expect("the child opens the store");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    println!("{READY} round {round} worker {worker} fsync {fsync}");
    let mut rng = Rng::new(seed);
    let owner = Owner::new();
    rt.block_on(async {
        for seq in 0u64.. {
            let len = pick_len(&mut rng);
            let vseed = rng.next();
            let bytes = Bytes::from(value_bytes(vseed, len));
            let digest = Digest::of(&bytes);
            let inline = len <= INLINE_LIMIT;
            // As the cache does: the value first, then the record that
            // refers to it.
            if !inline || rng.below(4) == 0 {
                ValueStore::put(&store, digest, bytes.clone())
                    .await
                    .expect("value put");
            }
            let key = if rng.below(3) == 0 {
                shared_record_key(rng.below(SHARED_RECORDS))
            } else {
                Digest::of(format!("crash r{round} w{worker} s{seq}").as_bytes())
            };
            let mut metadata = fleche_core::Metadata::new();
            metadata.insert(
                "crash".into(),
                serde_json::json!({
                    "round": round, "worker": worker, "seq": seq,
                    "seed": vseed.to_string(), "len": len, "fsync": fsync,
                }),
            );
            let record = CallRecord::new(
                key,
                format!("crash::w{worker}"),
                ValueRef {
                    digest,
                    inline: inline.then(|| bytes.clone()),
                },
            )
            .with_metadata(metadata);
            CallStore::put(&store, record).await.expect("record put");
            if seq % 5 == 0 {
                let ck = shared_claim_key(rng.below(SHARED_CLAIMS));
                let claim = store
                    .claim(ck, &owner, Duration::from_secs(120))
                    .await
                    .expect("claim");
                // Keep some claims: a killed holder leaves them behind.
                if claim.is_acquired() && rng.below(2) == 0 {
                    assert!(store.release(ck, &owner).await.expect("release"));
                }
            }
        }
    });
}

// ---------------------------------------------------------------------------
// The parent

fn spawn_child(dir: &Path, round: u64, worker: u64, seed: u64) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(DIR_ENV, dir)
        .env(WORKER_ENV, format!("{round}:{worker}:{seed}"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn a crash child")
}

fn rest_of(child: &mut Child) -> String {
    let mut out = String::new();
    if let Some(mut s) = child.stdout.take() {
        let _ = s.read_to_string(&mut out);
    }
    if let Some(mut s) = child.stderr.take() {
        let _ = s.read_to_string(&mut out);
    }
    out
}

/// Waits for the child's ready line; panics with its output if it exits
/// first.
fn wait_ready(child: &mut Child, who: &str) -> BufReader<std::process::ChildStdout> {
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line).unwrap();
        seen.push_str(&line);
        if line.contains(READY) {
            return reader;
        }
        if n == 0 {
            let status = child.wait().unwrap();
            panic!(
                "{who} exited ({status}) before it was ready:\n{seen}{}",
                rest_of(child)
            );
        }
    }
}

/// Every file under `dir`, with its name.
fn files(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return out;
    };
    for entry in entries {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            out.extend(files(&entry.path()));
        } else {
            out.push((
                entry.path(),
                entry.file_name().to_string_lossy().into_owned(),
            ));
        }
    }
    out
}

/// The keys of the files under `dir`, and the number of temp files.
fn stored_keys(dir: &Path) -> (BTreeSet<Digest>, usize) {
    let mut keys = BTreeSet::new();
    let mut temps = 0;
    for (path, name) in files(dir) {
        if name.starts_with(".tmp-") {
            temps += 1;
        } else {
            let key: Digest = name
                .parse()
                .unwrap_or_else(|_| panic!("a file that is neither key nor temp: {path:?}"));
            keys.insert(key);
        }
    }
    (keys, temps)
}

#[derive(Default, Debug)]
struct Tally {
    kills: u64,
    values: usize,
    value_bytes: u64,
    big_values: usize,
    value_temps: usize,
    records: usize,
    inline_records: usize,
    shared_records: usize,
    call_temps: usize,
    claim_files: usize,
    records_by_fsync: BTreeMap<bool, usize>,
}

#[test]
fn killed_writers_leave_a_sound_store() {
    let started = Instant::now();
    let seed = std::env::var("FLECHE_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    let rounds = std::env::var("FLECHE_CRASH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_ROUNDS);
    println!("crash test: seed {seed} (FLECHE_CRASH_SEED={seed} replays it), {rounds} rounds");
    let mut rng = Rng::new(seed);
    let dir = tempfile::Builder::new()
        .prefix("fleche crash ü ")
        .tempdir()
        .unwrap();
    let root = dir.path().join("store");
    FileStore::open(&root).unwrap();

    let mut tally = Tally::default();
    for round in 0..rounds {
        let mut kids: Vec<(Child, BufReader<_>, Duration)> = (0..CHILDREN)
            .map(|worker| {
                let mut child = spawn_child(&root, round, worker, rng.next());
                let who = format!("round {round} worker {worker}");
                let reader = wait_ready(&mut child, &who);
                (child, reader, Duration::from_millis(5 + rng.below(146)))
            })
            .collect();
        // Each child dies at its own moment after it got going.
        let t0 = Instant::now();
        kids.sort_by_key(|k| k.2);
        for (worker, (child, reader, at)) in kids.iter_mut().enumerate() {
            std::thread::sleep(at.saturating_sub(t0.elapsed()));
            if let Some(status) = child.try_wait().unwrap() {
                let mut out = String::new();
                let _ = reader.read_to_string(&mut out);
                panic!(
                    "round {round}: a child stopped by itself ({status}) before it was killed:\n{out}{}",
                    rest_of(child)
                );
            }
            child.kill().unwrap();
            let status = child.wait().unwrap();
            assert!(!status.success(), "round {round} child {worker}: {status}");
            tally.kills += 1;
        }
    }
    let killing = started.elapsed();

    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(check(&root, &mut tally));
    println!(
        "crash test: seed {seed}; {} kills in {killing:?}; checked in {:?} more: {tally:#?}",
        tally.kills,
        started.elapsed() - killing
    );
    assert_eq!(tally.kills, rounds * CHILDREN);
    assert!(tally.records > 0 && tally.values > 0, "{tally:?}");
}

async fn check(root: &Path, tally: &mut Tally) {
    // A short lock timeout: a lock left held by a dead writer would show.
    let store = FileStore::open_with(
        root,
        FileOptions::default().lock_timeout(Duration::from_secs(5)),
    )
    .expect("the store opens after the crashes");

    // Values: every file reads whole and verified; temp files are not listed.
    let (value_files, value_temps) = stored_keys(&root.join("values"));
    tally.value_temps = value_temps;
    let listed: Vec<Digest> = store
        .list("")
        .map(|k| k.expect("list"))
        .collect::<Vec<_>>()
        .await;
    let listed_set: BTreeSet<Digest> = listed.iter().copied().collect();
    assert_eq!(listed.len(), listed_set.len(), "list repeats keys");
    assert_eq!(
        listed_set, value_files,
        "list() must name exactly the value files that are not temp files"
    );
    for key in &listed {
        let bytes = match ValueStore::get(&store, *key).await {
            Ok(Some(b)) => b,
            Ok(None) => panic!("listed value {key} is gone"),
            Err(e) => panic!("value {key} does not read whole after the crashes: {e}"),
        };
        assert_eq!(Digest::of(&bytes), *key);
        tally.values += 1;
        tally.value_bytes += bytes.len() as u64;
        if bytes.len() > 1 << 20 {
            tally.big_values += 1;
        }
    }

    // Records: every record decodes, is the one its writer meant, and
    // refers to a value that is there.
    let (call_files, call_temps) = stored_keys(&root.join("calls"));
    tally.call_temps = call_temps;
    let mut queried = BTreeMap::new();
    let all = Query::new();
    let mut items = store.query(&all);
    while let Some(item) = items.next().await {
        let r = item.unwrap_or_else(|e| panic!("a record does not decode after the crashes: {e}"));
        assert!(queried.insert(r.key, r).is_none(), "query repeats a record");
    }
    drop(items);
    assert_eq!(
        queried.keys().copied().collect::<BTreeSet<_>>(),
        call_files,
        "query() must return exactly the record files that are not temp files"
    );
    let shared: BTreeSet<Digest> = (0..SHARED_RECORDS).map(shared_record_key).collect();
    for key in &call_files {
        let r = match CallStore::get(&store, *key).await {
            Ok(Some(r)) => r,
            Ok(None) => panic!("record {key} is gone"),
            Err(e) => panic!("record {key} does not decode after the crashes: {e}"),
        };
        assert_eq!(&r, &queried[key]);
        assert_eq!(
            store.get_result(*key).await.unwrap().as_ref(),
            Some(&r.result)
        );
        let m = r.metadata_at("crash").expect("the writer's metadata");
        let vseed: u64 = m["seed"].as_str().unwrap().parse().unwrap();
        let len = m["len"].as_u64().unwrap() as usize;
        let fsync = m["fsync"].as_bool().unwrap();
        *tally.records_by_fsync.entry(fsync).or_default() += 1;
        let expected = value_bytes(vseed, len);
        assert_eq!(
            r.result.digest,
            Digest::of(&expected),
            "record {key} names another value than its writer made"
        );
        match &r.result.inline {
            Some(b) => {
                assert_eq!(b.as_ref(), expected.as_slice());
                tally.inline_records += 1;
            }
            None => {
                // The value was written before its record.
                let v = ValueStore::get(&store, r.result.digest)
                    .await
                    .unwrap_or_else(|e| panic!("value of record {key}: {e}"))
                    .unwrap_or_else(|| panic!("record {key} refers to a missing value"));
                assert_eq!(v.as_ref(), expected.as_slice());
            }
        }
        if shared.contains(key) {
            tally.shared_records += 1;
        }
        tally.records += 1;
    }
    tally.claim_files = files(&root.join("claims")).len();

    // The store keeps working: values, records on the shared keys (no lock
    // is left held), and claims (dead holders' claims are taken over).
    for len in [0usize, 10, 5000, (1 << 20) + 1] {
        let v = Bytes::from(value_bytes(len as u64 + 7, len));
        ValueStore::put(&store, Digest::of(&v), v.clone())
            .await
            .unwrap();
        assert_eq!(
            ValueStore::get(&store, Digest::of(&v)).await.unwrap(),
            Some(v)
        );
    }
    for i in 0..SHARED_RECORDS {
        let key = shared_record_key(i);
        let v = Bytes::from_static(b"after the crashes");
        let r = CallRecord::new(
            key,
            "crash::after",
            ValueRef {
                digest: Digest::of(&v),
                inline: Some(v),
            },
        );
        let t = Instant::now();
        CallStore::put(&store, r.clone()).await.unwrap();
        assert!(t.elapsed() < Duration::from_secs(1), "a lock was left held");
        assert_eq!(CallStore::get(&store, key).await.unwrap(), Some(r));
    }
    for i in 0..SHARED_CLAIMS {
        let key = shared_claim_key(i);
        let (a, b) = (Owner::new(), Owner::new());
        let claim = store.claim(key, &a, Duration::from_secs(30)).await;
        assert!(
            matches!(claim, Ok(Claim::Acquired { .. })),
            "a dead child's claim on {key} must not block: {claim:?}"
        );
        match store.claim(key, &b, Duration::from_secs(30)).await.unwrap() {
            Claim::Held { holder, .. } => assert_eq!(holder, a),
            other => panic!("a live claim was not respected: {other:?}"),
        }
        assert!(store.release(key, &a).await.unwrap());
        assert!(
            store
                .claim(key, &b, Duration::from_secs(30))
                .await
                .unwrap()
                .is_acquired()
        );
        assert!(store.release(key, &b).await.unwrap());
    }
    // Deleting works, including a record a child was overwriting.
    let gone = shared_record_key(0);
    assert!(CallStore::delete(&store, gone).await.unwrap());
    assert_eq!(CallStore::get(&store, gone).await.unwrap(), None);
    let err = ValueStore::get(&store, Digest::of(b"never stored")).await;
    assert!(matches!(err, Ok(None)), "{err:?}");
}

// ---------------------------------------------------------------------------
// Left-overs of a dead process whose pid comes back

const STALE_ENV: &str = "FLECHE_CRASH_STALE_STORE";
const STALE_OK: &str = "FLECHE-STALE-CHILD-OK";

/// A process killed mid-write leaves a temp file named after its pid. Pids
/// come back (in a container, a restarted worker often gets the very same
/// one), and a deterministic job makes the same writes in the same order:
/// the new process must not trip over the dead one's temp files.
#[test]
fn stale_temp_files_of_a_dead_process_with_the_same_pid_do_not_block_writes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    FileStore::open(&root).unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "stale_temp_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(STALE_ENV, &root)
        .output()
        .expect("run the child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(STALE_OK),
        "the child failed: {}\n--- stdout\n{stdout}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Plays the restarted process; does nothing unless started by
/// [`stale_temp_files_of_a_dead_process_with_the_same_pid_do_not_block_writes`].
#[test]
#[ignore = "child process of stale_temp_files_of_a_dead_process_with_the_same_pid_do_not_block_writes"]
fn stale_temp_child() {
    let Some(root) = std::env::var_os(STALE_ENV).map(PathBuf::from) else {
        return;
    };
    let value = Bytes::from_static(b"the first value a job writes");
    let vkey = Digest::of(&value);
    let rkey = Digest::of(b"the first record a job writes");
    // What a dead process with this pid left: temp files of its first
    // writes, for these very keys.
    let pid = std::process::id();
    for (dir, key) in [("values", vkey), ("calls", rkey)] {
        let hex = key.to_hex();
        let shard = root.join(dir).join(&hex[..2]);
        fs::create_dir_all(&shard).unwrap();
        for n in 0..4 {
            fs::write(shard.join(format!(".tmp-{pid}-{n}-{hex}")), b"torn").unwrap();
        }
    }
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let store = FileStore::open(&root).unwrap();
            ValueStore::put(&store, vkey, value.clone())
                .await
                .unwrap_or_else(|e| panic!("value put after a dead process's temp files: {e}"));
            assert_eq!(
                ValueStore::get(&store, vkey).await.unwrap(),
                Some(value.clone())
            );
            let r = CallRecord::new(
                rkey,
                "stale::f",
                ValueRef {
                    digest: vkey,
                    inline: Some(value),
                },
            );
            CallStore::put(&store, r.clone())
                .await
                .unwrap_or_else(|e| panic!("record put after a dead process's temp files: {e}"));
            assert_eq!(CallStore::get(&store, rkey).await.unwrap(), Some(r));
        });
    println!("{STALE_OK}");
}
