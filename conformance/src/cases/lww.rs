//! Last writer wins, and a reader never sees a mix of two records.

use std::sync::Arc;

use fleche_core::CallRecord;
use tokio::sync::Barrier;

use super::fixtures::{key, record};
use crate::harness::{CaseResult, Harness, ensure};

/// Sequential overwrites: the last record written is read back, whole.
pub(crate) async fn lww_sequential_overwrites(h: &Harness) -> CaseResult {
    let (_, s) = h.fresh().await?;
    let k = key("sequential", 0);
    for n in 1..=5 {
        let rec = record(k, &format!("conformance::writer_{n}"), n);
        s.calls.put(rec.clone()).await?;
        let got = s.calls.get(k).await?;
        ensure!(
            got.as_ref() == Some(&rec),
            "after write {n}, read back {got:?}"
        );
        let result = s.calls.get_result(k).await?;
        ensure!(
            result.as_ref() == Some(&rec.result),
            "after write {n}, get_result is stale: {result:?}"
        );
    }
    Ok(())
}

/// 32 concurrent writers of distinct records to one key, with readers
/// running meanwhile: every read is one of the records, whole; afterwards
/// exactly one of them is there.
pub(crate) async fn lww_concurrent_writers_one_whole_record(h: &Harness) -> CaseResult {
    let (_, s) = h.fresh().await?;
    for round in 0..4u64 {
        let k = key("concurrent", round);
        let records: Arc<Vec<CallRecord>> = Arc::new(
            (0..32)
                .map(|n| record(k, &format!("conformance::writer_{n}"), round * 100 + n))
                .collect(),
        );
        let barrier = Arc::new(Barrier::new(32 + 4));
        let mut tasks = Vec::new();
        for i in 0..32 {
            let (s, records, barrier) = (s.clone(), records.clone(), barrier.clone());
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                s.calls.put(records[i].clone()).await.map(|()| None)
            }));
        }
        for _ in 0..4 {
            let (s, records, barrier) = (s.clone(), records.clone(), barrier.clone());
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                for _ in 0..20 {
                    if let Some(got) = s.calls.get(k).await?
                        && !records.contains(&got)
                    {
                        return Ok(Some(format!(
                            "a reader saw a record nobody wrote (a mix?): {got:?}"
                        )));
                    }
                    tokio::task::yield_now().await;
                }
                Ok(None)
            }));
        }
        for t in tasks {
            let outcome = t
                .await
                .map_err(|e| crate::CaseError::fail(format!("a writer panicked: {e}")))??;
            if let Some(problem) = outcome {
                return Err(crate::CaseError::fail(problem));
            }
        }
        let got = s.calls.get(k).await?;
        ensure!(
            got.is_some(),
            "round {round}: after 32 writes the key is empty"
        );
        let got = got.unwrap_or_else(|| records[0].clone());
        ensure!(
            records.contains(&got),
            "round {round}: the surviving record is none of those written (a mix?): {got:?}"
        );
        let result = s.calls.get_result(k).await?;
        ensure!(
            result.as_ref() == Some(&got.result),
            "round {round}: get_result disagrees with get"
        );
    }
    Ok(())
}
