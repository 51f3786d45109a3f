//! Separate OS processes: writers lose nothing and tear nothing, each
//! process sees what the others wrote, and a process killed mid-write
//! leaves every write it finished.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::process::Stdio;

use futures::TryStreamExt;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

use fleche_core::{Bytes, CallRecord, Digest, Query};

use super::fixtures::{key, record, value};
use super::handles::{Expected, Reads, arg_of, sees, short, show_record};
use crate::child::{self, Kind, Task};
use crate::harness::{CaseError, CaseResult, Harness, Stores, ensure};

const WORKERS: u64 = 4;
const PER_WORKER: u64 = 150;

/// The records a worker writes to the key all workers share.
pub(crate) fn shared_record(worker: u64) -> CallRecord {
    record(
        key("processes-shared", 0),
        &format!("conformance::process_{worker}"),
        worker,
    )
}

/// What one child process does: distinct values and records, and every
/// tenth write a record under the shared key.
pub(crate) async fn child_writes(s: &Stores, task: &Task) -> Result<(), fleche_core::StoreError> {
    for i in 0..task.count {
        let n = task.worker * 1_000_000 + i;
        let (vk, bytes) = value(n, 256);
        s.values.put(vk, bytes).await?;
        s.calls
            .put(record(key("processes", n), "conformance::processes", n))
            .await?;
        if i % 10 == 0 {
            s.calls.put(shared_record(task.worker)).await?;
        }
    }
    Ok(())
}

/// Four child processes write at once to one store; afterwards every write
/// is there, whole, and the shared key holds one worker's record, whole.
pub(crate) async fn writers_separate_processes_lose_nothing(h: &Harness) -> CaseResult {
    let (at, s) = h.fresh().await?;
    let mut children = Vec::new();
    for worker in 0..WORKERS {
        let task = Task {
            location: at.0.clone(),
            worker,
            count: PER_WORKER,
            kind: Kind::Writes,
        };
        children.push(spawn(h, &task)?);
    }
    for (worker, child) in children.into_iter().enumerate() {
        finished(child, &format!("child {worker}")).await?;
    }
    let mut lost = 0;
    for worker in 0..WORKERS {
        for i in 0..PER_WORKER {
            let n = worker * 1_000_000 + i;
            let expected = record(key("processes", n), "conformance::processes", n);
            if s.calls.get(expected.key).await?.as_ref() != Some(&expected) {
                lost += 1;
            }
            let (vk, bytes) = value(n, 256);
            if s.values.get(vk).await?.as_ref() != Some(&bytes) {
                lost += 1;
            }
        }
    }
    ensure!(
        lost == 0,
        "{lost} of {} writes from child processes were lost or altered",
        2 * WORKERS * PER_WORKER
    );
    let shared = s.calls.get(key("processes-shared", 0)).await?;
    let whole = (0..WORKERS)
        .map(shared_record)
        .any(|r| Some(&r) == shared.as_ref());
    ensure!(
        whole,
        "the key all processes wrote holds none of their records whole: {shared:?}"
    );
    Ok(())
}

/// A child process that runs `task`, its stdout and stderr piped, killed
/// if the case ends without waiting for it.
fn spawn(h: &Harness, task: &Task) -> Result<tokio::process::Child, CaseError> {
    let Some(launcher) = &h.launcher else {
        return Err(CaseError::Skipped(
            "no way to start child processes was given".into(),
        ));
    };
    let mut cmd = launcher();
    cmd.env(
        child::ENV,
        serde_json::to_string(task).map_err(|e| CaseError::fail(e.to_string()))?,
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    tokio::process::Command::from(cmd)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| CaseError::fail(format!("cannot start a child process: {e}")))
}

/// Waits for `child` to end; fails with its output unless it succeeded
/// and said it was done.
async fn finished(child: tokio::process::Child, who: &str) -> CaseResult {
    let out = child
        .wait_with_output()
        .await
        .map_err(|e| CaseError::fail(format!("{who} failed to run: {e}")))?;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    ensure!(
        out.status.success() && text.contains(child::DONE),
        "{who} failed ({}):\n{text}",
        out.status
    );
    Ok(())
}

/// The message of a failed check, for a child to panic with.
fn message(e: CaseError) -> String {
    match e {
        CaseError::Failed(m) | CaseError::Skipped(m) => m,
    }
}

const SEE: &str = "processes-see";
const SEE_FUNCTION: &str = "conformance::processes_see";
/// The function name one record is overwritten with, so that a query by
/// function changes its answer.
const SEE_MOVED: &str = "conformance::processes_see_moved";
/// Keys `0..SEE_PARENT` are written by the parent, the rest by the child.
const SEE_PARENT: u64 = 6;
const SEE_ALL: u64 = 8;

/// The value `i` of `processes_see_each_others_writes`: odd sizes.
fn see_value(i: u64) -> (Digest, Bytes) {
    value(3_000 + i, 777 + 131 * usize::try_from(i).unwrap_or(0))
}

/// What the parent writes.
fn see_before() -> Expected {
    let mut want = Expected::default();
    for i in 0..SEE_PARENT {
        want.value(see_value(i))
            .record(record(key(SEE, i), SEE_FUNCTION, i));
    }
    want
}

/// What is there after the child's changes: records 0 and 1 overwritten,
/// 4 overwritten under another function name, 2 and 3 deleted with their
/// values, 5 untouched, 6 and 7 new.
fn see_after() -> Expected {
    let mut want = see_before();
    for i in [0, 1] {
        want.record(record(key(SEE, i), SEE_FUNCTION, 100 + i));
    }
    want.record(record(key(SEE, 4), SEE_MOVED, 104));
    for i in [2, 3] {
        want.records.remove(&key(SEE, i));
        want.values.remove(&see_value(i).0);
    }
    for i in SEE_PARENT..SEE_ALL {
        want.value(see_value(i))
            .record(record(key(SEE, i), SEE_FUNCTION, i));
    }
    want
}

/// The keys read (every key either process writes, and one never
/// written) and the queries made.
fn see_reads() -> Result<Reads, CaseError> {
    let mut values: Vec<Digest> = (0..SEE_ALL).map(|i| see_value(i).0).collect();
    values.push(see_value(99).0);
    let mut records: Vec<Digest> = (0..SEE_ALL).map(|i| key(SEE, i)).collect();
    records.push(key(SEE, 99));
    let queries = vec![
        Query::new().function(SEE_FUNCTION),
        Query::new().function(SEE_MOVED),
        Query::new().arg_digest("n", arg_of(&record(key(SEE, 0), SEE_FUNCTION, 0), "n")?),
        Query::new().arg_digest("n", arg_of(&record(key(SEE, 0), SEE_FUNCTION, 100), "n")?),
        Query::new()
            .function(SEE_FUNCTION)
            .metadata("tags.parity", "odd"),
    ];
    Ok(Reads {
        value_keys: values,
        record_keys: records,
        queries,
    })
}

/// The child's part of `processes_see_each_others_writes`: it sees exactly
/// what the parent wrote, then makes the changes [`see_after`] describes.
pub(crate) async fn child_see_and_change(s: &Stores) -> Result<(), String> {
    let reads = see_reads().map_err(message)?;
    let who = "the child, reading what the parent wrote";
    sees(s, &see_before(), &reads, who).await.map_err(message)?;
    let change = async {
        for i in [0, 1] {
            s.calls
                .put(record(key(SEE, i), SEE_FUNCTION, 100 + i))
                .await?;
        }
        s.calls.put(record(key(SEE, 4), SEE_MOVED, 104)).await?;
        for i in [2, 3] {
            ensure!(
                s.calls.delete(key(SEE, i)).await?,
                "the child: deleting record {i}, which the parent wrote, said it was not there"
            );
            ensure!(
                s.values.delete(see_value(i).0).await?,
                "the child: deleting value {i}, which the parent wrote, said it was not there"
            );
        }
        for i in SEE_PARENT..SEE_ALL {
            let (k, bytes) = see_value(i);
            s.values.put(k, bytes).await?;
            s.calls.put(record(key(SEE, i), SEE_FUNCTION, i)).await?;
        }
        Ok(())
    };
    change.await.map_err(message)
}

/// Promise 4 across processes: a child process sees exactly what this
/// process wrote (every read path), then overwrites, deletes and writes;
/// this process, through the handle that read the old state before, sees
/// every overwrite, delete and new write (`get`, `get_result`,
/// `contains`, `get_many`, `list`, `query`), so a handle that caches what
/// it read, or a write the child left buffered, fails.
pub(crate) async fn processes_see_each_others_writes(h: &Harness) -> CaseResult {
    if h.launcher.is_none() {
        return Err(CaseError::Skipped(
            "no way to start child processes was given".into(),
        ));
    }
    let (at, s) = h.fresh().await?;
    let before = see_before();
    for (k, bytes) in &before.values {
        s.values.put(*k, bytes.clone()).await?;
    }
    for r in before.records.values() {
        s.calls.put(r.clone()).await?;
    }
    let reads = see_reads()?;
    sees(&s, &before, &reads, "this process, before the child ran").await?;
    let task = Task {
        location: at.0.clone(),
        worker: 0,
        count: 0,
        kind: Kind::SeeAndChange,
    };
    finished(spawn(h, &task)?, "the child").await?;
    sees(
        &s,
        &see_after(),
        &reads,
        "this process (the handle that read before), after the child's changes",
    )
    .await
}

const KILLED: &str = "processes-killed";
const KILLED_FUNCTION: &str = "conformance::processes_killed";
/// How many writes the child reports before it is killed.
const KILL_AFTER: u64 = 20;
/// How many writes the child makes at most; it is killed long before.
const KILLED_MAX: u64 = 1000;

/// The value of write `i`: 64 KiB and a prime and then some, odd sizes, so
/// that a kill often lands while one is being written.
fn killed_value(i: u64) -> (Digest, Bytes) {
    value(
        4_000_000 + i,
        (64 << 10) + 13 + 2 * usize::try_from(i).unwrap_or(0),
    )
}

/// The record of write `i`.
fn killed_record(i: u64) -> CallRecord {
    record(key(KILLED, i), KILLED_FUNCTION, i)
}

/// The child's part of `processes_killed_after_durable_writes_keep_them`:
/// writes a value and a record at a time and prints `durable i` once both
/// `put`s of write `i` returned. After `count` writes (the parent kills it
/// long before) it waits to be killed, then ends.
pub(crate) async fn child_write_until_killed(s: &Stores, task: &Task) -> Result<(), String> {
    for i in 0..task.count {
        let (k, bytes) = killed_value(i);
        s.values
            .put(k, bytes)
            .await
            .map_err(|e| format!("put of value {i} failed: {e}"))?;
        s.calls
            .put(killed_record(i))
            .await
            .map_err(|e| format!("put of record {i} failed: {e}"))?;
        {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{} {i}", child::DURABLE)
                .and_then(|()| out.flush())
                .map_err(|e| format!("cannot report write {i}: {e}"))?;
        }
    }
    // The parent was too slow to kill us mid-write; give it time to kill
    // us anyway (its checks still hold), but do not outlive it for long.
    tokio::time::sleep(std::time::Duration::from_secs(120)).await;
    Ok(())
}

/// Promise 6, the kill half: a child process writes values (64 KiB and
/// more, odd sizes) and records, printing each write's number once its
/// `put`s returned, and is SIGKILLed mid-stream after 20 reports. Through
/// a fresh handle, every write it reported is there, exactly; the write
/// it may have been in the middle of is either absent or whole; `get`,
/// `list` and `query` never fail and never return anything else. A store
/// that buffers writes and flushes them only on a clean exit or on `Drop`
/// fails.
pub(crate) async fn processes_killed_after_durable_writes_keep_them(h: &Harness) -> CaseResult {
    if h.launcher.is_none() {
        return Err(CaseError::Skipped(
            "no way to start child processes was given".into(),
        ));
    }
    let (at, _) = h.fresh().await?;
    let task = Task {
        location: at.0.clone(),
        worker: 0,
        count: KILLED_MAX,
        kind: Kind::WriteUntilKilled,
    };
    let mut child = spawn(h, &task)?;
    let (Some(stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(CaseError::fail("the child's output is not piped"));
    };
    let mut lines = BufReader::new(stdout).lines();
    let mut reported: u64 = 0;
    let mut other = String::new();
    let mut killed = false;
    let prefix = format!("{} ", child::DURABLE);
    while let Some(line) = lines
        .next_line()
        .await
        .map_err(|e| CaseError::fail(format!("cannot read the child's output: {e}")))?
    {
        // The first report shares its line with the test harness's
        // `test …::__child ... `.
        match line.rsplit_once(&prefix).map(|(_, n)| n.parse::<u64>()) {
            Some(Ok(n)) => {
                ensure!(
                    n == reported,
                    "the child reported write {n} after {reported} writes"
                );
                reported += 1;
                if reported == KILL_AFTER && !killed {
                    child.start_kill().map_err(|e| {
                        CaseError::fail(format!("cannot kill the child process: {e}"))
                    })?;
                    killed = true;
                }
            }
            _ => {
                other.push_str(&line);
                other.push('\n');
            }
        }
    }
    // Every line the child printed before it died has been read.
    let status = child
        .wait()
        .await
        .map_err(|e| CaseError::fail(format!("the child failed to run: {e}")))?;
    if !killed {
        let mut err = String::new();
        let _ = stderr.read_to_string(&mut err).await;
        return Err(CaseError::fail(format!(
            "the child ended ({status}) after reporting {reported} writes, before it was killed:\n{other}{err}"
        )));
    }
    let s = h.open(&at).await?;
    // Writes 0..reported returned in the child; the next one may have been
    // in flight (or done, but not yet reported) when it was killed.
    let maybe = reported;
    let fail = |what: String| {
        move |e: fleche_core::StoreError| {
            CaseError::fail(format!("after the child was killed, {what} failed: {e}"))
        }
    };
    for i in 0..=maybe {
        let (k, bytes) = killed_value(i);
        let got = s
            .values
            .get(k)
            .await
            .map_err(fail(format!("get of value {i}")))?;
        let whole = got.as_ref() == Some(&bytes);
        ensure!(
            whole || (i == maybe && got.is_none()),
            "after the child was killed: value {i} ({} bytes), {}, reads as {}",
            bytes.len(),
            if i < maybe {
                "whose put returned before the kill"
            } else {
                "whose put may have been in flight at the kill"
            },
            got.map_or("None".into(), |b| format!("{} other bytes", b.len()))
        );
        let expected = killed_record(i);
        let got = s
            .calls
            .get(expected.key)
            .await
            .map_err(fail(format!("get of record {i}")))?;
        ensure!(
            got.as_ref() == Some(&expected) || (i == maybe && got.is_none()),
            "after the child was killed: record {i}, {}, reads as {} (expected {})",
            if i < maybe {
                "whose put returned before the kill"
            } else {
                "whose put may have been in flight at the kill"
            },
            show_record(got.as_ref()),
            show_record(Some(&expected))
        );
    }
    let values: HashSet<Digest> = (0..=maybe).map(|i| killed_value(i).0).collect();
    let listed: Vec<Digest> = s
        .values
        .list("")
        .try_collect()
        .await
        .map_err(fail("list".into()))?;
    for k in &listed {
        ensure!(
            values.contains(k),
            "after the child was killed, list gave {}, which no write put",
            short(k)
        );
    }
    for i in 0..maybe {
        ensure!(
            listed.contains(&killed_value(i).0),
            "after the child was killed, list left out value {i}, whose put returned before the kill"
        );
    }
    let q = Query::new().function(KILLED_FUNCTION);
    let found: Vec<CallRecord> = s
        .calls
        .query(&q)
        .try_collect()
        .await
        .map_err(fail("a query by function".into()))?;
    let records: HashMap<Digest, CallRecord> = (0..=maybe)
        .map(|i| (key(KILLED, i), killed_record(i)))
        .collect();
    for r in &found {
        ensure!(
            records.get(&r.key) == Some(r),
            "after the child was killed, a query returned {} under key {}, where the child \
             wrote {}",
            show_record(Some(r)),
            short(&r.key),
            show_record(records.get(&r.key))
        );
    }
    for i in 0..maybe {
        ensure!(
            found.iter().any(|r| r.key == key(KILLED, i)),
            "after the child was killed, a query left out record {i}, whose put returned before the kill"
        );
    }
    Ok(())
}
