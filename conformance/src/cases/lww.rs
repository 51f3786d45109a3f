//! Last writer wins, and a reader never sees a mix of two records.

use std::sync::Arc;

use fleche_core::CallRecord;

use super::fixtures::{key, record};
use super::together::{all_at_once, record_puts};
use crate::harness::{CaseError, CaseResult, Harness, ensure};

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
        let writes = record_puts(&s, records.iter().cloned());
        let (reader, written) = (s.clone(), records.clone());
        let read = move || {
            let (s, records) = (reader.clone(), written.clone());
            async move {
                match s.calls.get(k).await {
                    Ok(Some(got)) if !records.contains(&got) => Err(format!(
                        "a reader saw a record nobody wrote (a mix?): {got:?}"
                    )),
                    Ok(_) => Ok(()),
                    Err(e) => Err(format!("a get failed meanwhile: {e}")),
                }
            }
        };
        all_at_once(writes, 4, 20, read)
            .await
            .map_err(|e| CaseError::fail(format!("round {round}, 32 writers of one key: {e}")))?;
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
