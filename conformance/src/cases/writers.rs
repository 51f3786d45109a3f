//! Concurrent writers on different keys lose nothing.

use futures::TryStreamExt;

use fleche_core::{Digest, Query};

use super::fixtures::{key, record, value};
use crate::harness::{CaseResult, Harness, ensure};

const TASKS: u64 = 16;
const PER_TASK: u64 = 500;

/// 16 tasks each write 500 distinct values and records; every one is there
/// afterwards, whole.
pub(crate) async fn writers_concurrent_tasks_lose_nothing(h: &Harness) -> CaseResult {
    let (_, s) = h.fresh().await?;
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..PER_TASK {
                let n = t * PER_TASK + i;
                let (vk, bytes) = value(10_000 + n, 64);
                s.values.put(vk, bytes).await?;
                s.calls
                    .put(record(key("writers", n), "conformance::writers", n))
                    .await?;
            }
            Ok::<_, fleche_core::StoreError>(())
        }));
    }
    for t in tasks {
        t.await
            .map_err(|e| crate::CaseError::fail(format!("a writer panicked: {e}")))??;
    }
    let mut missing = Vec::new();
    for n in 0..TASKS * PER_TASK {
        let expected = record(key("writers", n), "conformance::writers", n);
        if s.calls.get(expected.key).await?.as_ref() != Some(&expected) {
            missing.push(n);
        }
        let (vk, bytes) = value(10_000 + n, 64);
        if s.values.get(vk).await?.as_ref() != Some(&bytes) {
            missing.push(n);
        }
    }
    ensure!(
        missing.is_empty(),
        "{} of {} writes were lost or altered (first: {:?})",
        missing.len(),
        2 * TASKS * PER_TASK,
        &missing[..missing.len().min(5)]
    );
    let listed: Vec<Digest> = s.values.list("").try_collect().await?;
    ensure!(
        listed.len() as u64 == TASKS * PER_TASK,
        "list sees {} values, expected {}",
        listed.len(),
        TASKS * PER_TASK
    );
    let queried = s
        .calls
        .query(&Query::new().function("conformance::writers"))
        .try_fold(0u64, |n, _| async move { Ok(n + 1) })
        .await?;
    ensure!(
        queried == TASKS * PER_TASK,
        "query sees {queried} records, expected {}",
        TASKS * PER_TASK
    );
    Ok(())
}
