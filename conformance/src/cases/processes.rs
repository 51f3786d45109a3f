//! Writers in separate OS processes lose nothing and tear nothing.

use std::process::Stdio;

use fleche_core::CallRecord;

use super::fixtures::{key, record, value};
use crate::child::{self, Task};
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
    let Some(launcher) = &h.launcher else {
        return Err(CaseError::Skipped(
            "no way to start child processes was given".into(),
        ));
    };
    let (at, s) = h.fresh().await?;
    let mut children = Vec::new();
    for worker in 0..WORKERS {
        let task = Task {
            location: at.0.clone(),
            worker,
            count: PER_WORKER,
        };
        let mut cmd = launcher();
        cmd.env(
            child::ENV,
            serde_json::to_string(&task).map_err(|e| CaseError::fail(e.to_string()))?,
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let child = tokio::process::Command::from(cmd)
            .spawn()
            .map_err(|e| CaseError::fail(format!("cannot start a child process: {e}")))?;
        children.push(child.wait_with_output());
    }
    for (worker, child) in children.into_iter().enumerate() {
        let out = child
            .await
            .map_err(|e| CaseError::fail(format!("child {worker} failed to run: {e}")))?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        ensure!(
            out.status.success() && text.contains(child::DONE),
            "child {worker} failed ({}):\n{text}",
            out.status
        );
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

/// A child process reads what this process wrote, and this process
/// (through a handle that read before) sees the child's overwrites and
/// deletes.
pub(crate) async fn processes_see_each_others_writes(h: &Harness) -> CaseResult {
    let _ = h;
    Err(crate::CaseError::fail("not written yet"))
}

/// A child reports each write as it returns and is SIGKILLed mid-stream:
/// every write it reported is there, whole, and nothing half-written reads
/// as a value or a record (promise 6).
pub(crate) async fn processes_killed_after_durable_writes_keep_them(h: &Harness) -> CaseResult {
    let _ = h;
    Err(crate::CaseError::fail("not written yet"))
}
