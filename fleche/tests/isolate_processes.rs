//! `#[fleche(isolate)]` keeps the side-effect files of runs apart: 8
//! processes × 4 threads run isolated bodies at once, each writing the same
//! file name into its scratch directory, and no run sees another's file.
//!
//! The parent starts [`PROCESSES`] copies of this test binary
//! (`isolate_child`, ignored unless started by the parent) on one file
//! store; each says it is ready and blocks on its stdin until the parent
//! writes one line to all of them, then runs [`THREADS`] threads that call
//! the isolated function with an argument of their own (so every call
//! runs), and prints one line per run.
//!
//! Nested runs (an isolated function called from an isolated body) get
//! directories of their own too.

use std::collections::BTreeSet;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use fleche::fleche;

const STORE_ENV: &str = "FLECHE_ISOLATE_STORE";
const PROCESS_ENV: &str = "FLECHE_ISOLATE_PROCESS";
const READY: &str = "FLECHE-ISOLATE-CHILD-READY";
const RAN: &str = "FLECHE-ISOLATE-RAN";

const PROCESSES: usize = 8;
const THREADS: usize = 4;
/// How long a body keeps its file: long enough for all runs to overlap.
const HOLD: Duration = Duration::from_millis(200);

/// Writes `out.txt` into its scratch directory, waits, and reads it back;
/// `Ok(the directory)` if it saw its own file only, else what it saw.
#[fleche(isolate)]
fn isolated_run(run: String) -> Result<String, String> {
    let dir = fleche::isolate::scratch_dir().ok_or(format!("{run}: no scratch directory"))?;
    let names = |dir: &Path| -> Vec<String> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    let before = names(&dir);
    if !before.is_empty() {
        return Err(format!(
            "{run}: {} held {before:?} at the start",
            dir.display()
        ));
    }
    let file = dir.join("out.txt");
    let mine = format!("written by run {run} of process {}", std::process::id());
    fs::write(&file, &mine).unwrap();
    std::thread::sleep(HOLD);
    let back = fs::read_to_string(&file).unwrap();
    let after = names(&dir);
    if back != mine || after != ["out.txt"] {
        return Err(format!(
            "{run}: {} held {after:?}, out.txt read {back:?}",
            dir.display()
        ));
    }
    Ok(dir.display().to_string())
}

/// One process's runs; does nothing unless started by
/// [`isolated_runs_in_8_processes_x_4_threads_see_only_their_own_files`].
#[test]
#[ignore = "child process of isolated_runs_in_8_processes_x_4_threads_see_only_their_own_files"]
fn isolate_child() {
    let Some(url) = std::env::var_os(STORE_ENV) else {
        return;
    };
    let process = std::env::var(PROCESS_ENV).expect("the process's number");
    let cache = fleche::open(url.to_str().unwrap()).expect("the child opens the store");
    println!("{READY}");
    let mut go = String::new();
    std::io::stdin()
        .read_line(&mut go)
        .expect("the parent's go");
    let barrier = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (cache, barrier) = (cache.clone(), barrier.clone());
            let run = format!("p{process}t{t}");
            std::thread::spawn(move || {
                barrier.wait();
                let start = now_us();
                let got = fleche::with_cache(cache, || isolated_run(run.clone()));
                (run, start, now_us(), got)
            })
        })
        .collect();
    for t in threads {
        let (run, start, end, got) = t.join().expect("a run panicked");
        match got {
            Ok(dir) => println!("{RAN} {run} {start} {end} {dir}"),
            Err(problem) => println!("{RAN} {run} {start} {end} PROBLEM {problem}"),
        }
    }
}

/// Microseconds since the Unix epoch: a clock all processes share.
fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

/// The most runs in progress at one moment.
fn peak_overlap(spans: &[(u64, u64)]) -> usize {
    let mut events: Vec<(u64, i32)> = spans.iter().flat_map(|&(s, e)| [(s, 1), (e, -1)]).collect();
    // Ends before starts at the same instant: touching is not overlapping.
    events.sort();
    let (mut now, mut peak) = (0i32, 0i32);
    for (_, d) in events {
        now += d;
        peak = peak.max(now);
    }
    peak as usize
}

fn spawn_child(url: &str, process: usize) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "isolate_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(STORE_ENV, url)
        .env(PROCESS_ENV, process.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn an isolate child")
}

/// Reads the child's stdout up to its ready line.
fn wait_ready(child: &mut Child, process: usize) -> BufReader<ChildStdout> {
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 {
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            panic!("process {process} ended before it was ready:\n{seen}{err}");
        }
        if line.contains(READY) {
            return reader;
        }
        seen.push_str(&line);
    }
}

#[test]
fn isolated_runs_in_8_processes_x_4_threads_see_only_their_own_files() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}?fsync=false", dir.path().join("store").display());
    let cache = fleche::open(&url).unwrap();

    let mut kids: Vec<Child> = (0..PROCESSES).map(|p| spawn_child(&url, p)).collect();
    let readers: Vec<_> = kids
        .iter_mut()
        .enumerate()
        .map(|(p, child)| wait_ready(child, p))
        .collect();
    for child in &mut kids {
        child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    }
    let mut dirs = BTreeSet::new();
    let mut problems = Vec::new();
    let mut spans = Vec::new();
    for (p, (mut child, mut reader)) in kids.into_iter().zip(readers).enumerate() {
        let mut out = String::new();
        reader.read_to_string(&mut out).unwrap();
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        let status = child.wait().unwrap();
        assert!(
            status.success(),
            "process {p} failed ({status}):\n{out}{err}"
        );
        let runs: Vec<&str> = out.lines().filter_map(|l| l.strip_prefix(RAN)).collect();
        assert_eq!(runs.len(), THREADS, "process {p}:\n{out}{err}");
        for run in runs {
            let mut parts = run.trim().splitn(4, ' ');
            let (_, start, end, rest) = (parts.next(), parts.next(), parts.next(), parts.next());
            let (Some(start), Some(end), Some(rest)) = (start, end, rest) else {
                panic!("process {p}: {run:?}")
            };
            spans.push((start.parse().unwrap(), end.parse().unwrap()));
            match rest {
                problem if problem.starts_with("PROBLEM") => problems.push(problem.to_owned()),
                scratch => {
                    assert!(dirs.insert(scratch.to_owned()), "{scratch} served two runs");
                    assert!(!Path::new(scratch).exists(), "{scratch} was not removed");
                }
            }
        }
    }
    let peak = peak_overlap(&spans);
    println!(
        "isolate test: {PROCESSES} processes x {THREADS} threads: {} runs in distinct \
         scratch directories, up to {peak} at once; {} saw another's file",
        dirs.len(),
        problems.len()
    );
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(dirs.len(), PROCESSES * THREADS);
    // Runs of several processes were in progress together, or the test
    // proved nothing.
    assert!(peak > THREADS, "at most {peak} runs at once");

    // Every run was a miss that ran, and its result is in the store.
    fleche::with_cache(cache, || {
        for p in 0..PROCESSES {
            for t in 0..THREADS {
                let got = isolated_run::load(&format!("p{p}t{t}")).unwrap();
                assert!(got.as_ref().is_some_and(|d| dirs.contains(d)), "{got:?}");
            }
        }
    });
}

// ---------------------------------------------------------------------------
// Nested runs

/// Writes `out.txt` into its scratch directory; returns the directory.
fn write_out(tag: &str) -> String {
    let dir = fleche::isolate::scratch_dir().expect("a scratch directory");
    fs::write(dir.join("out.txt"), tag).unwrap();
    dir.display().to_string()
}

#[fleche(isolate)]
fn inner_sync(tag: String) -> String {
    write_out(&tag)
}

#[fleche(isolate)]
async fn inner_async(tag: String) -> String {
    write_out(&tag)
}

/// (its directory, the inner run's, its directory after the inner run,
/// its `out.txt` after the inner run)
type Nested = (String, String, String, String);

/// Writes its `out.txt`, calls an isolated sync function, and reads its
/// file back.
#[fleche(isolate)]
async fn sync_in_async(tag: String) -> Nested {
    let outer = write_out(&tag);
    let inner = inner_sync(format!("{tag} inner"));
    let after = read_out();
    (outer, inner, after.0, after.1)
}

/// Writes its `out.txt`, calls an isolated async function, and reads its
/// file back.
#[fleche(isolate)]
fn async_in_sync(tag: String) -> Nested {
    let outer = write_out(&tag);
    let inner = fleche::bridge::block_on(inner_async(format!("{tag} inner")));
    let after = read_out();
    (outer, inner, after.0, after.1)
}

/// The scratch directory, and its `out.txt`.
fn read_out() -> (String, String) {
    let dir = fleche::isolate::scratch_dir().expect("a scratch directory");
    let text = fs::read_to_string(dir.join("out.txt")).unwrap();
    (dir.display().to_string(), text)
}

/// An isolated run called from inside another gets a directory of its own,
/// sync inside async as well as async inside sync, and leaves the caller's
/// files alone. (A sync run inside an async one used to be given its
/// caller's directory, and overwrote its `out.txt`.)
#[test]
fn nested_isolated_runs_each_get_their_own_directory() {
    let cache = fleche::open("memory://").unwrap();
    fleche::with_cache(cache, || {
        let runs = [
            (
                "sync in async",
                fleche::bridge::block_on(sync_in_async("a".into())),
            ),
            ("async in sync", async_in_sync("b".into())),
        ];
        for (what, (outer, inner, after, text)) in runs {
            assert_ne!(
                inner, outer,
                "{what}: the inner run got its caller's directory"
            );
            assert_eq!(after, outer, "{what}: the caller's directory changed");
            assert!(
                !text.contains("inner"),
                "{what}: the inner run wrote {text:?} into its caller's directory"
            );
        }
    });
}
