//! Many tasks at once: writers and readers released together.

use std::future::Future;
use std::sync::Arc;

use fleche_core::CallRecord;
use tokio::sync::Barrier;

use crate::harness::Stores;

/// The writes of [`all_at_once`] for `records`: each puts one of them
/// through `s.calls`.
pub(crate) fn record_puts(
    s: &Stores,
    records: impl IntoIterator<Item = CallRecord>,
) -> Vec<impl Future<Output = Result<(), String>> + Send + 'static> {
    records
        .into_iter()
        .map(|rec| {
            let s = s.clone();
            async move {
                s.calls
                    .put(rec)
                    .await
                    .map_err(|e| format!("a put failed: {e}"))
            }
        })
        .collect()
}

/// Runs every future of `writes` and `readers` reader tasks, each its own
/// task, all released at the same moment by one barrier. Each reader runs
/// `read` `reads` times, yielding between reads, so that its reads fall
/// among the writes. The answer is the first error a task gives (or a
/// panic), in the order the tasks were made: writers first.
pub(crate) async fn all_at_once<W, R, F>(
    writes: Vec<W>,
    readers: usize,
    reads: usize,
    read: R,
) -> Result<(), String>
where
    W: Future<Output = Result<(), String>> + Send + 'static,
    R: Fn() -> F + Send + Sync + 'static,
    F: Future<Output = Result<(), String>> + Send,
{
    let barrier = Arc::new(Barrier::new(writes.len() + readers));
    let read = Arc::new(read);
    let mut tasks = Vec::new();
    for write in writes {
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            write.await
        }));
    }
    for _ in 0..readers {
        let (barrier, read) = (barrier.clone(), read.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            for _ in 0..reads {
                read().await?;
                tokio::task::yield_now().await;
            }
            Ok(())
        }));
    }
    for task in tasks {
        task.await.map_err(|e| format!("a task panicked: {e}"))??;
    }
    Ok(())
}
