//! Many processes create one new store at the same moment — the default
//! cache on a fresh machine, or fresh worker processes all reopening a new
//! `file://` directory — and every one of them opens it, writes and reads.
//!
//! Each round, the parent starts [`CHILDREN`] copies of this test binary
//! (`creation_child`, ignored unless started by the parent) on a path that
//! does not exist yet, the same for all of them. Each child starts up,
//! says it is ready and blocks on its stdin; once all are ready the parent
//! writes one line to each, so they open the store together (a blocked
//! read wakes at once, with no child spinning on the two cores the tests
//! share). Then each writes a value and a record and reads both back.
//!
//! `FLECHE_CREATION_ROUNDS` changes the number of rounds,
//! `FLECHE_CREATION_DIR` where the stores are made (see [`parent_dir`]).

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use fleche_core::{Bytes, CallRecord, CallStore, Digest, ErrorChain, ValueRef, ValueStore};
use fleche_file::{FileStore, MARKER};

const ROOT_ENV: &str = "FLECHE_CREATION_ROOT";
const WORKER_ENV: &str = "FLECHE_CREATION_WORKER";
const READY: &str = "FLECHE-CREATION-CHILD-READY";
const OK: &str = "FLECHE-CREATION-CHILD-OK";
const FAILED: &str = "FLECHE-CREATION-CHILD-FAILED";

const CHILDREN: usize = 16;
const DEFAULT_ROUNDS: usize = 50;

/// Opens the store, writes a value and a record, reads both back.
async fn open_write_read(root: &Path, worker: &str) -> Result<(), String> {
    let chain = |doing: &str, e: fleche_core::StoreError| format!("{doing}: {}", ErrorChain(&e));
    let store = FileStore::open(root).map_err(|e| chain("open", e))?;
    let value = Bytes::from(format!("written by worker {worker}"));
    let digest = Digest::of(&value);
    ValueStore::put(&store, digest, value.clone())
        .await
        .map_err(|e| chain("value put", e))?;
    let got = ValueStore::get(&store, digest)
        .await
        .map_err(|e| chain("value get", e))?;
    if got.as_ref() != Some(&value) {
        return Err(format!("value read back as {got:?}"));
    }
    let key = Digest::of(format!("creation record {worker}").as_bytes());
    let record = CallRecord::new(
        key,
        "creation::f",
        ValueRef {
            digest,
            inline: None,
        },
    );
    CallStore::put(&store, record.clone())
        .await
        .map_err(|e| chain("record put", e))?;
    let got = CallStore::get(&store, key)
        .await
        .map_err(|e| chain("record get", e))?;
    if got.as_ref() != Some(&record) {
        return Err(format!("record read back as {got:?}"));
    }
    Ok(())
}

/// One opener; does nothing unless started by
/// [`sixteen_processes_create_one_new_store_at_once`].
#[test]
#[ignore = "child process of sixteen_processes_create_one_new_store_at_once"]
fn creation_child() {
    let Some(root) = std::env::var_os(ROOT_ENV) else {
        return;
    };
    let worker = std::env::var(WORKER_ENV).expect("the worker's name");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    println!("{READY}");
    let mut go = String::new();
    std::io::stdin()
        .read_line(&mut go)
        .expect("the parent's go");
    match rt.block_on(open_write_read(Path::new(&root), &worker)) {
        Ok(()) => println!("{OK}"),
        Err(e) => {
            println!("{FAILED} {e}");
            std::process::exit(1);
        }
    }
}

fn spawn_child(root: &Path, worker: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "creation_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ROOT_ENV, root)
        .env(WORKER_ENV, worker)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn a creation child")
}

/// Reads the child's stdout up to its ready line; `Err` with what it said
/// if it ended first.
fn wait_ready(child: &mut Child) -> Result<BufReader<ChildStdout>, String> {
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 {
            return Err(seen);
        }
        if line.contains(READY) {
            return Ok(reader);
        }
        seen.push_str(&line);
    }
}

/// Where the stores are made: `FLECHE_CREATION_DIR`, else a tmpfs if
/// there is one, else the temp directory. Making a store is 1024 `mkdir`s
/// and `create`s; on an ext4 disk that other builds keep busy each waits
/// for the journal (0.2 to 1.7 s a store, measured), on a tmpfs it takes
/// 20 ms, and the race is the same.
fn parent_dir() -> std::path::PathBuf {
    let shm = Path::new("/dev/shm");
    match std::env::var_os("FLECHE_CREATION_DIR") {
        Some(d) => d.into(),
        None if shm.is_dir() && tempfile::tempdir_in(shm).is_ok() => shm.into(),
        None => std::env::temp_dir(),
    }
}

#[test]
fn sixteen_processes_create_one_new_store_at_once() {
    let started = Instant::now();
    let rounds = std::env::var("FLECHE_CREATION_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_ROUNDS);
    let dir = tempfile::tempdir_in(parent_dir()).unwrap();
    println!("creation test: stores under {}", dir.path().display());
    let mut opens = 0;
    let mut failures = Vec::new();
    let (mut starting, mut running, mut removing) =
        (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    for round in 0..rounds {
        // Two levels that do not exist yet: the creators race on making
        // the directories too.
        let round_dir = dir.path().join(format!("round-{round}"));
        let root = round_dir.join("store");
        let t = Instant::now();
        let mut kids: Vec<(String, Child)> = (0..CHILDREN)
            .map(|w| {
                let worker = format!("r{round}w{w}");
                let child = spawn_child(&root, &worker);
                (worker, child)
            })
            .collect();
        let readers: Vec<_> = kids
            .iter_mut()
            .map(|(worker, child)| {
                wait_ready(child)
                    .unwrap_or_else(|seen| panic!("{worker} ended before it was ready:\n{seen}"))
            })
            .collect();
        starting += t.elapsed();
        let t = Instant::now();
        // Go: one line each, back to back.
        for (_, child) in &mut kids {
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(b"go\n").unwrap();
        }
        for ((worker, mut child), mut reader) in kids.into_iter().zip(readers) {
            let mut out = String::new();
            reader.read_to_string(&mut out).unwrap();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut out)
                .unwrap();
            let status = child.wait().unwrap();
            opens += 1;
            if !status.success() || !out.contains(OK) {
                failures.push(format!("{worker} ({status}): {}", out.trim()));
            }
        }
        running += t.elapsed();
        // The store is whole: the marker as the format says, and nothing
        // left over from creating it.
        assert_eq!(
            fs::read_to_string(root.join(MARKER)).unwrap(),
            format!("fleche-file {}\n", fleche_file::FORMAT),
            "round {round}"
        );
        let mut names: Vec<String> = fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["FLECHE-STORE", "calls", "claims", "locks", "values"],
            "round {round}"
        );
        let t = Instant::now();
        fs::remove_dir_all(&round_dir).unwrap();
        removing += t.elapsed();
    }
    println!(
        "creation test: {rounds} rounds x {CHILDREN} processes: {opens} opens, {} failed, in {:?} \
         (starting children {starting:?}, opening {running:?}, removing stores {removing:?})",
        failures.len(),
        started.elapsed()
    );
    for f in failures.iter().take(10) {
        println!("  {f}");
    }
    assert!(
        failures.is_empty(),
        "{} of {opens} opens of a new store failed, e.g.:\n{}",
        failures.len(),
        failures[0]
    );
}
